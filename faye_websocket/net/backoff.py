"""When to try a connection again: exponential backoff with jitter, and which failures are worth it.

Shared by the reconnecting WebSocket client (reconnecting.py) and EventSourceClient, so that both
wait the same way and stop for the same reasons. Pure: no sockets, no clock, no sleeping; the
randomness comes from a ``random.Random`` the caller may seed.
"""

from __future__ import annotations

import math
import random
import ssl
from dataclasses import dataclass, field

from ..errors import HandshakeError

DEFAULT_INITIAL_DELAY = 1.0  # seconds before the first retry
DEFAULT_FACTOR = 2.0  # each failed attempt doubles the delay (classic exponential backoff)
DEFAULT_MAX_DELAY = 30.0  # seconds; the cap, like websocket-client's and close to websockets' 90 s
DEFAULT_JITTER = 0.5  # each delay is drawn from [delay * (1 - jitter), delay]: clients spread out
TOO_MANY_REQUESTS = 429  # RFC 6585 section 4: "try again later", like 5xx
CLIENT_ERRORS = range(400, 500)  # RFC 9110 section 15.5: the request itself is wrong; retrying won't help


@dataclass
class Backoff:
    """The delay policy: ``initial`` seconds, times ``factor`` per consecutive failure, at most
    ``max_delay``, shortened at random by up to ``jitter`` (0 to 1) of itself; ``max_attempts``
    consecutive failures (None: no limit) end the retrying.

    Not thread-safe: one Backoff per reconnecting client. ValueError for a negative or
    non-finite delay, a factor under 1, a jitter outside 0-1, or an attempt limit under 1.
    """

    initial: float = DEFAULT_INITIAL_DELAY
    factor: float = DEFAULT_FACTOR
    max_delay: float = DEFAULT_MAX_DELAY
    jitter: float = DEFAULT_JITTER
    max_attempts: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    failures: int = 0  # consecutive failed attempts so far

    def __post_init__(self) -> None:
        for name in ("initial", "max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if not self.factor >= 1:
            raise ValueError(f"factor must be at least 1, got {self.factor!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 or None, got {self.max_attempts!r}")

    def failed(self, minimum: float = 0.0) -> float | None:
        """Count one more failed attempt; the seconds to wait before the next, None to give up.

        ``minimum`` is a floor the server asked for (``Retry-After``, an event stream's
        ``retry:``); the server's word wins over ``max_delay``.
        """
        self.failures += 1
        if self.max_attempts is not None and self.failures >= self.max_attempts:
            return None
        base = min(self.max_delay, self.initial * self.factor ** (self.failures - 1))
        delay = base * (1 - self.jitter * self.rng.random())
        return max(min(self.max_delay, delay), minimum)

    def succeeded(self) -> None:
        """A connection opened: the next failure starts again from ``initial``."""
        self.failures = 0


def worth_retrying(error: BaseException) -> bool:
    """True for failures that may pass: network errors, timeouts, 429 and 5xx refusals, a server
    that hung up mid-handshake. False for a refusal that will repeat (any other 4xx, a redirect
    the client does not follow, a certificate that does not verify) and for programming errors.
    """
    if isinstance(error, HandshakeError):
        status = error.status
        if status is None or status == TOO_MANY_REQUESTS:
            return True
        return status >= 500 if status not in CLIENT_ERRORS else False
    if isinstance(error, ssl.SSLCertVerificationError):
        return False  # the same certificate comes back next time
    return isinstance(error, OSError)  # TimeoutError, ConnectionError, DNS errors, other TLS errors


def retry_after(error: BaseException) -> float:
    """Seconds a refusal's ``Retry-After`` asks for (RFC 9110 section 10.2.3, delay-seconds form), or 0."""
    headers = getattr(error, "headers", None) or {}
    value = str(headers.get("retry-after", "")).strip()
    return float(value) if value.isascii() and value.isdigit() else 0.0
