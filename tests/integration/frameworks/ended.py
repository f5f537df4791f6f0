"""How many WebSockets and event streams have ended in this server process, for ``/stats``.

Imported by both test apps (the servers run with this folder on PYTHONPATH).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

_ended = {"streams": 0, "sockets": 0}
_lock = threading.Lock()


def counter(kind: str) -> Callable[[Any], None]:
    """A close listener that counts one more ended ``kind`` ("streams" or "sockets")."""

    def ended(event: Any) -> None:
        with _lock:
            _ended[kind] += 1

    return ended


def counts() -> dict[str, int]:
    """The counts so far."""
    with _lock:
        return dict(_ended)
