"""The bounded queue between a connection's reader thread and callers of ``recv()``."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

from ..net.flag import made_once


class RecvQueue:
    """The bounded hand-off from a reader thread to recv() callers; enabled by the first get().

    Its Condition is made on first use (net/flag.py's made_once): a connection that never puts
    nor gets (a connect()ed client reads on the caller's thread) never makes one.
    """

    def __init__(self, size: int) -> None:
        self._items: deque[str | bytes] = deque()
        self._size = size
        self._made: threading.Condition | None = None
        self.enabled = False
        self._closed = False
        self._no_wait = False
        # Bytes (characters for text) of the messages waiting: charged to the memory budget.
        self.held_bytes = 0

    def _cond(self) -> threading.Condition:
        """The Condition, made now if this is its first use."""
        made = self._made
        return made if made is not None else made_once(self, "_made", threading.Condition)

    def put(self, item: str | bytes) -> None:
        """Add a message, waiting while the queue is full (the reader stops reading: backpressure)."""
        cond = self._cond()
        with cond:
            while len(self._items) >= self._size and not (self._closed or self._no_wait):
                cond.wait()
            self._items.append(item)
            self.held_bytes += len(item)
            cond.notify_all()

    def keep(self, item: str | bytes) -> None:
        """Before any recv(): hold a message no listener took, dropping the oldest beyond the size.

        Never waits, so a server that ignores incoming messages is not stalled by them.
        """
        cond = self._cond()
        with cond:
            self._items.append(item)
            self.held_bytes += len(item)
            if len(self._items) > self._size:
                self.held_bytes -= len(self._items.popleft())
            cond.notify_all()

    def stop_putting(self, *, wake: bool = True) -> None:
        """The connection is ending: put() no longer waits for room. ``wake=False`` when no
        put() can be waiting (only the reading thread puts, and the caller is it, or nobody reads)."""
        self._no_wait = True  # written before the Condition is looked for (see made_once)
        cond = self._made
        if wake and cond is not None:  # without a Condition, nobody has put or waited yet
            with cond:
                cond.notify_all()

    def get(self, deadline: float | None, closed_error: Callable[[], Exception]) -> str | bytes:
        """Take the next message; raises closed_error() once closed and empty, TimeoutError."""
        cond = self._cond()
        with cond:
            self.enabled = True
            while not self._items:
                if self._closed:
                    raise closed_error()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no message within the timeout")
                cond.wait(remaining)
            item = self._items.popleft()
            self.held_bytes -= len(item)
            cond.notify_all()
            return item

    def close(self) -> None:
        """No more messages will come; wakes every waiter. Queued messages stay readable."""
        if self._closed:
            return  # closed before: every waiter was woken, and none waits since
        self._closed = True  # written before the Condition is looked for (see made_once)
        cond = self._made
        if cond is not None:  # without a Condition, nobody has waited yet
            with cond:
                cond.notify_all()
