"""The turn to write on one event stream: mutual exclusion whose uncontended use costs two C calls.

Every event costs one ``send`` system call, and around it a ``threading.Lock`` acquired and
released costs more than the rest of the Python path (measured on the bench machine: 0.4-0.7 us
after a system call, of about 3 us per event). The turn is a one-element list instead: taking it
is ``list.pop()`` and giving it back ``list.append()``, each atomic under CPython's interpreter
lock. Only a thread that finds the turn taken pays for a real lock and a condition.

Why no wake-up is lost: a waiter counts itself in ``waiting`` (under the condition's lock) before
its last try, and a giver puts the token back before it reads ``waiting``. If the giver's put
came first the waiter's try succeeds; otherwise the giver sees the count and notifies, which it
can only do once the waiter sleeps in ``wait`` (the condition's lock is held until then).
"""

from __future__ import annotations

import threading

_TOKEN = True  # what the list holds while the turn is free
_MAKING = threading.Lock()  # makes a turn's condition once, the first time a thread must wait


class WriteTurn:
    """Who may write next on one stream; any thread.

    The hot path inlines the two calls on the list itself, whose methods the interpreter
    specialises: ``token.pop()`` (IndexError when another thread holds the turn), then
    ``token.append(True)`` followed by ``if turn.waiting: turn.wake()``, which is what
    ``give()`` does. A thread must give back only a turn it took.
    """

    __slots__ = ("token", "waiting", "_condition")

    def __init__(self) -> None:
        # Holds True while the turn is free: pop() takes it (IndexError when taken), append(True)
        # gives it back; each is atomic under the interpreter lock.
        self.token = [_TOKEN]
        self.waiting = 0  # threads blocked in take(); written under _condition's lock only
        self._condition: threading.Condition | None = None  # made when a thread first waits

    def try_take(self) -> bool:
        """Take the turn if it is free; True if taken (never waits)."""
        try:
            self.token.pop()
        except IndexError:
            return False
        return True

    def take(self) -> None:
        """Wait for the turn and take it. Whoever holds it gives it back after one write (bounded
        by the stream's send timeout or its close), so the wait has no timeout of its own."""
        if self.try_take():
            return
        condition = self._waiting_room()
        with condition:
            self.waiting += 1
            try:
                while not self.try_take():
                    condition.wait()
            finally:
                self.waiting -= 1

    def give(self) -> None:
        """Give the turn back and wake a waiting thread, if any."""
        self.token.append(_TOKEN)
        if self.waiting:
            self.wake()

    def wake(self) -> None:
        """Wake the threads waiting in ``take()`` (called after the token is put back, when ``waiting``)."""
        condition = self._waiting_room()  # exists: a waiter counted itself under it
        with condition:
            condition.notify_all()

    def _waiting_room(self) -> threading.Condition:
        """The condition waiters sleep on, made on first need (most streams never wait)."""
        condition = self._condition
        if condition is None:
            with _MAKING:
                condition = self._condition
                if condition is None:
                    condition = self._condition = threading.Condition(threading.Lock())
        return condition
