"""Time limits: one ``Deadline`` that several blocking steps share, and the one check of every
duration option (timeouts, intervals) at the public edge."""

from __future__ import annotations

import math
import time


class Deadline:
    """A point in time (time.monotonic) that several blocking steps share."""

    def __init__(self, timeout: float | None, what: str) -> None:
        self.at = None if timeout is None else time.monotonic() + timeout
        self.timeout = timeout
        self.what = what

    def remaining(self, step: str) -> float | None:
        """Seconds left (None: no limit); raises TimeoutError naming ``step`` once none are left."""
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.expired(step)
        return left

    def expired(self, step: str) -> TimeoutError:
        """The TimeoutError to raise when ``step`` ran out of time."""
        return TimeoutError(f"{self.what}: timed out after {self.timeout} s ({step})")


def check_duration(name: str, value: float | None, *, zero_disables: bool = False) -> float | None:
    """``value`` as float seconds, or None for "no limit"; ValueError for anything else.

    A duration is a finite number > 0 (a bool is not a number here). With ``zero_disables``,
    0 means None, as the EventSource ``ping=0`` of the original.
    """
    if value is None or (zero_disables and value == 0 and not isinstance(value, bool)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)


def check_durations(**durations: float | None) -> None:
    """ValueError unless every given duration is None or a finite positive number of seconds."""
    for name, value in durations.items():
        # The common values (None, a float or an int in range) pass without a call: every
        # connection checks six of them. Anything else, a bool included, gets check_duration's.
        if value is None or ((type(value) is float or type(value) is int) and 0 < value < math.inf):
            continue
        check_duration(name, value)
