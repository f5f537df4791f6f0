"""Broadcast to many WebSockets and EventSource streams without waiting on any of them.

- ``Group(name, *, backend=None, max_bytes=..., max_messages=..., overflow=Overflow.CLOSE,
  close_code=1013)``: ``join(connection)``, ``leave(connection)``, ``publish(message)``.
- ``broadcast(connections, message)``: the one-shot form.
- ``RedisBackend(url)``: the same group name in every process shares its messages (needs the
  ``redis`` extra: ``pip install 'faye_websocket[redis]'``; imported on first use).

See docs/scaling.md for the overflow policy, the Redis behaviour and running many processes
behind one port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .group import Group, GroupStats, broadcast
from .policy import Limits, Overflow
from .writer import WRITER

if TYPE_CHECKING:
    from .redis_backend import RedisBackend, RedisUnavailable

__all__ = [
    "WRITER", "Group", "GroupStats", "Limits", "Overflow", "RedisBackend", "RedisUnavailable", "broadcast",
]


def __getattr__(name: str) -> Any:
    # The Redis backend's module imports nothing of redis-py until a backend is built, but it is
    # loaded only when asked for, so that plain broadcasting never touches it.
    if name in ("RedisBackend", "RedisUnavailable"):
        from . import redis_backend

        return getattr(redis_backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
