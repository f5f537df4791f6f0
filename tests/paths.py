"""Where the tests find the repository's files, wherever a test module sits."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
PACKAGE = REPO_ROOT / "faye_websocket"
TESTS = REPO_ROOT / "tests"
