"""The process-wide memory budget for incoming data a connection holds before it is delivered.

``max_length`` bounds one message of one connection; nothing in it bounds the process: 55 peers
each holding an unfinished 60 MiB fragmented message (kept alive with one-byte pongs) took a
server past 3 GB. Every connection therefore accounts, in one process-wide ``MemoryBudget``, for
the bytes it holds that the application has not taken yet: the frame parser's buffer, the
fragments of an unfinished message, and messages waiting in the ``recv()`` queue. The check comes
*before* the bytes are buffered; a connection whose next read would take the process past the
budget is refused that read and closed with 1013 (Try Again Later, RFC 6455 section 7.4.1 and the
IANA registry): the server is short of memory because of everyone, not because this message
broke a rule (that is ``max_length``'s 1009).

What is not counted, and why that is bounded anyway: each connection may hold one read's worth
(``FREE_ALLOWANCE``) without accounting, so the common case (a whole small message in one read)
costs no lock; that part is bounded by the number of connections, which admission limits.

Default budget (``DEFAULT_MEMORY_BUDGET``, 256 MiB): four messages of the default ``max_length``
(64 MiB) may be in flight at once, and completing one of them costs about as much again (the
joined payload, its text), so a server with the defaults stays within about half a gigabyte of
held data whatever its peers send. Change it with ``set_memory_budget(bytes)`` (None: unlimited,
the behaviour before the budget existed).
"""

from __future__ import annotations

import threading

from ..rfc6455 import CloseCode

MIB = 1 << 20
DEFAULT_MEMORY_BUDGET = 256 * MIB  # see the module docstring for the reasoning
FREE_ALLOWANCE = 64 * 1024  # one read (connection.RECV_SIZE): held without accounting
TRY_AGAIN_LATER = CloseCode.TRY_AGAIN_LATER  # RFC 6455 section 7.4.1 / IANA registry
BUDGET_EXCEEDED = "server memory budget exceeded"


class MemoryBudget:
    """A thread-safe count of the bytes all connections hold, against a limit.

    A connection keeps its own current charge (an int, 0 at first) and passes it in, so the
    budget holds no reference to any connection. Every method may be called from any thread.
    """

    def __init__(self, limit: int | None = DEFAULT_MEMORY_BUDGET) -> None:
        self._lock = threading.Lock()  # owner: this object; guards _used and _limit
        self._used = 0
        self._limit = _checked(limit)
        self.refusals = 0  # how many charges were refused, for logs and tests

    @property
    def limit(self) -> int | None:
        """The budget in bytes (None: unlimited)."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        self._limit = _checked(value)

    @property
    def used(self) -> int:
        """Bytes currently charged by all connections."""
        return self._used

    def charge(self, current: int, wanted: int) -> bool:
        """Move a connection's charge from ``current`` to ``wanted`` bytes; False if refused.

        Shrinking is always allowed; growing is refused when the total would exceed the limit
        (the caller then refuses the data and closes the connection).
        """
        with self._lock:
            total = self._used - current + wanted
            if wanted > current and self._limit is not None and total > self._limit:
                self.refusals += 1
                return False
            self._used = total
            return True

    def release(self, current: int) -> None:
        """Give back a connection's whole charge (it has closed)."""
        if current:
            with self._lock:
                self._used -= current


class Holding:
    """One connection's account with a budget; used by its reading thread only.

    ``admit(incoming)`` runs before a read is fed to the driver and charges what the connection
    could hold after it (what it held plus the read); ``settle(held)`` runs after, with what it
    really holds. Holding at most ``FREE_ALLOWANCE`` costs no lock.
    """

    __slots__ = ("budget", "charged", "held")

    def __init__(self, budget: MemoryBudget) -> None:
        self.budget = budget
        self.charged = 0  # bytes charged to the budget now
        self.held = 0  # bytes held after the last read

    def admit(self, incoming: int) -> bool:
        """Charge for ``incoming`` more bytes before buffering them; False: refuse the read."""
        projected = self.held + incoming
        if projected <= self.charged or (projected <= FREE_ALLOWANCE and not self.charged):
            return True
        if not self.budget.charge(self.charged, projected):
            return False
        self.charged = projected
        return True

    def settle(self, held: int) -> None:
        """What the connection holds once the read is processed (the charge follows it)."""
        self.held = held
        target = held if held > FREE_ALLOWANCE else 0
        if target != self.charged:
            self.budget.charge(self.charged, target)  # never refused: held <= what admit charged
            self.charged = target

    def release(self) -> None:
        """The connection has ended: give the whole charge back."""
        self.budget.release(self.charged)
        self.charged = self.held = 0


def _checked(limit: int | None) -> int | None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0):
        raise ValueError(f"the memory budget must be a positive number of bytes or None, got {limit!r}")
    return limit


PROCESS_BUDGET = MemoryBudget()
"""The budget every connection of this process charges."""


def set_memory_budget(limit: int | None) -> None:
    """Set the process-wide budget in bytes (None: unlimited); any thread, at any time.

    Connections already holding more than a new, lower limit keep what they hold; they are
    refused their next growth. Raises ValueError for a value that is not a positive int or None.
    """
    PROCESS_BUDGET.limit = limit
