"""Suite-wide test setup: the repository root on sys.path and the leak-check fixture.

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
