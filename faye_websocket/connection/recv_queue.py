"""The bounded queue between a connection's reader thread and callers of ``recv()``."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


class RecvQueue:
    """The bounded hand-off from a reader thread to recv() callers; enabled by the first get()."""

    def __init__(self, size: int) -> None:
        self._items: deque[str | bytes] = deque()
        self._size = size
        self._cond = threading.Condition()
        self.enabled = False
        self._closed = False
        self._no_wait = False
        # Bytes (characters for text) of the messages waiting: charged to the memory budget.
        self.held_bytes = 0

    def put(self, item: str | bytes) -> None:
        """Add a message, waiting while the queue is full (the reader stops reading: backpressure)."""
        with self._cond:
            while len(self._items) >= self._size and not (self._closed or self._no_wait):
                self._cond.wait()
            self._items.append(item)
            self.held_bytes += len(item)
            self._cond.notify_all()

    def keep(self, item: str | bytes) -> None:
        """Before any recv(): hold a message no listener took, dropping the oldest beyond the size.

        Never waits, so a server that ignores incoming messages is not stalled by them.
        """
        with self._cond:
            self._items.append(item)
            self.held_bytes += len(item)
            if len(self._items) > self._size:
                self.held_bytes -= len(self._items.popleft())
            self._cond.notify_all()

    def stop_putting(self, *, wake: bool = True) -> None:
        """The connection is ending: put() no longer waits for room. ``wake=False`` when no
        put() can be waiting (only the reading thread puts, and the caller is it, or nobody reads)."""
        if not wake:
            self._no_wait = True
            return
        with self._cond:
            self._no_wait = True
            self._cond.notify_all()

    def get(self, deadline: float | None, closed_error: Callable[[], Exception]) -> str | bytes:
        """Take the next message; raises closed_error() once closed and empty, TimeoutError."""
        with self._cond:
            self.enabled = True
            while not self._items:
                if self._closed:
                    raise closed_error()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no message within the timeout")
                self._cond.wait(remaining)
            item = self._items.popleft()
            self.held_bytes -= len(item)
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more messages will come; wakes every waiter. Queued messages stay readable."""
        if self._closed:
            return  # closed under the condition before: every waiter was woken, none waits since
        with self._cond:
            self._closed = True
            self._cond.notify_all()
