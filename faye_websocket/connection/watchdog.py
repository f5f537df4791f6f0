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


class WatchdogEntry:
    """One scheduled wake-up; ``Watchdog.cancel`` takes it back."""

    __slots__ = ("deadline", "sequence", "ref")

    def __init__(self, deadline: float, sequence: int, ref: weakref.ref[Wakeable]) -> None:
        self.deadline = deadline
        self.sequence = sequence
        self.ref: weakref.ref[Wakeable] | None = ref  # None once cancelled

    def __lt__(self, other: WatchdogEntry) -> bool:
        return (self.deadline, self.sequence) < (other.deadline, other.sequence)


class Watchdog:
    """One daemon thread for the whole process that wakes readers at close deadlines.

    Only ``close()`` from a thread that is not reading, while another thread reads, needs it;
    every other deadline is the reader's own poll timeout.
    """

    _instance: Watchdog | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self._heap: list[WatchdogEntry] = []
        self._cancelled = 0  # cancelled entries still in the heap
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

    def schedule(self, deadline: float, connection: Wakeable) -> WatchdogEntry:
        """Call connection.watchdog_fire() at ``deadline`` (if the connection still exists)."""
        entry = WatchdogEntry(deadline, next(self._sequence), weakref.ref(connection))
        with self._cond:
            heapq.heappush(self._heap, entry)
            self._cond.notify()
        return entry

    def cancel(self, entry: WatchdogEntry) -> None:
        """Forget ``entry`` (its connection has closed); any thread.

        Cancelled entries are dropped from the heap once they are half of it, so a long-lived
        server with a long close timeout and many closes keeps it at the size of what is due.
        """
        with self._cond:
            if entry.ref is None:
                return
            entry.ref = None
            self._cancelled += 1
            if self._cancelled * 2 > len(self._heap):
                self._heap = [live for live in self._heap if live.ref is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0].deadline > time.monotonic():
                    timeout = None if not self._heap else self._heap[0].deadline - time.monotonic()
                    self._cond.wait(timeout)
                entry = heapq.heappop(self._heap)
                ref, entry.ref = entry.ref, None  # a later cancel() of it is a no-op
                if ref is None:
                    self._cancelled -= 1
                    continue
            connection = ref()
            if connection is not None:
                try:
                    connection.watchdog_fire()
                except Exception:
                    logger.exception("faye_websocket: watchdog failed")
