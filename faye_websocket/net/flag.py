"""``Flag``: a ``threading.Event`` whose Event is made only when a thread first waits on it;
``made_once``: the one way to make such a member on first use.

A connection carries several one-way signals (closed, stopped, aborted) that are set on every
connection but waited on by few. ``threading.Event()`` costs a Condition, and a Condition over
a plain lock raises and catches three AttributeErrors in its constructor: together about 5 us,
paid three times per client connect + close. A Flag is a bool until someone waits.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

_MAKING = threading.Lock()  # two first uses of one member must share what they make
_Made = TypeVar("_Made")


def made_once(owner: object, name: str, make: Callable[[], _Made]) -> _Made:
    """``owner.<name>``, set to ``make()`` first if it is None; any thread (two first uses get
    the same object). Callers read the attribute first and call this only when it is None.

    Whoever sets a state the made object's waiters look at must write that state before it
    reads the attribute (and skip the wake-up when it is None); a waiter looks at the state
    only after this returned: so a waiter that made the object late still sees the state.
    """
    with _MAKING:
        made: _Made | None = getattr(owner, name)
        if made is None:
            made = make()
            setattr(owner, name, made)
        return made


class Flag:
    """``set()``, ``is_set()`` and ``wait()`` as ``threading.Event``'s (no ``clear``: once set,
    set for good). Every method is safe from any thread; ``wait`` blocks at most ``timeout``."""

    __slots__ = ("_set", "_event")

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        """True once ``set()`` was called."""
        return self._set

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._set = True
        event = self._event  # read after the write: a waiter that made it later sees _set
        if event is not None:
            event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set or ``timeout`` seconds passed; True if it is set."""
        if self._set:
            return True
        event = self._event
        if event is None:
            event = made_once(self, "_event", threading.Event)
        # Made before this read: a set() that read no Event wrote _set before, and is seen here.
        if self._set:
            return True
        return event.wait(timeout) or self._set
