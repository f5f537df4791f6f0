"""One process-wide thread that wakes readers when a close deadline set from another thread passes."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import weakref
from typing import Protocol

logger = logging.getLogger("faye_websocket")
THREAD_NAME = "faye_websocket-watchdog"


class Wakeable(Protocol):
    """What the watchdog calls: a connection that checks its own close deadline."""

    def watchdog_fire(self) -> None:
        """Wake the reader if the close deadline has passed (called on the watchdog thread)."""


class Watchdog:
    """One daemon thread for the whole process that wakes readers at close deadlines.

    Only ``close()`` from a thread that is not reading, while another thread reads, needs it;
    every other deadline is the reader's own poll timeout.
    """

    _instance: Watchdog | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, weakref.ref[Wakeable]]] = []
        self._cond = threading.Condition()
        self._sequence = itertools.count()
        thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
        thread.start()

    @classmethod
    def instance(cls) -> Watchdog:
        """The process's watchdog, started on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def schedule(self, deadline: float, connection: Wakeable) -> None:
        """Call connection.watchdog_fire() at ``deadline`` (if the connection still exists)."""
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._sequence), weakref.ref(connection)))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = None if not self._heap else self._heap[0][0] - time.monotonic()
                    self._cond.wait(timeout)
                _, _, ref = heapq.heappop(self._heap)
            connection = ref()
            if connection is not None:
                try:
                    connection.watchdog_fire()
                except Exception:
                    logger.exception("faye_websocket: watchdog failed")
