"""Suite-wide test setup: the repository root on sys.path, the leak-check fixture, and a clean proxy
environment.

The root goes first on sys.path so `tests.integration.components` and the `faye_websocket` package
of this work tree are imported even when the package is not installed in the venv.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.leaks import assert_no_leaks  # noqa: E402


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves threads alive or fds open (bounded wait for stragglers).

    Put it first in the test's arguments so it is set up before, and checked after, the other
    function-scoped fixtures.
    """
    with assert_no_leaks(timeout=3.0):
        yield


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")  # and their upper-case forms


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy setting from the machine's environment reaches the test (it may set its own)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
