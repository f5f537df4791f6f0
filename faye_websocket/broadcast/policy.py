"""What a group does with a member that does not keep up: the backlog limits and the overflow policy.

Every member has a bounded backlog of messages published to it but not yet taken by its socket.
A member whose backlog would pass either limit is *overflowing*; the group then applies its
``Overflow`` policy to it. Limits count the bytes each member would be sent (a frame shared by
many members counts in full for each, so the bound holds whatever the sharing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..rfc6455 import CloseCode

# 1 MiB or 1,000 messages: a second of a busy chat room (or a few of a dashboard) for a client
# that stalls for a moment (a phone switching networks), while 1,000 stalled members cost at
# most 1 GiB of backlog.
DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_MESSAGES = 1000

# RFC 6455 section 7.4.1 / IANA registry: 1013 "Try Again Later" is for a server "casting off
# some of its clients" under load, which is what dropping a member that cannot keep up is; it
# tells a client to come back. 1008 (policy violation) is the alternative a server may prefer.
OVERFLOW_CLOSE_CODES = frozenset({CloseCode.POLICY_VIOLATION, CloseCode.TRY_AGAIN_LATER})
OVERFLOW_REASON = "too slow to receive"


class Overflow(Enum):
    """What happens to a member whose backlog would pass the limits.

    ``CLOSE`` (the default): the backlog is dropped, the member leaves every group and its
    connection is closed with the group's ``close_code`` (1013 unless 1008 is chosen); the close
    frame is written when the socket has room, and the connection ends at its ``close_timeout``
    at the latest. An EventSource member's stream is closed.
    ``SKIP``: the message that does not fit is not queued for that member (counted in
    ``Group.stats().skipped``); the member stays and gets later messages once its backlog drains,
    so it sees a gap.
    """

    CLOSE = "close"
    SKIP = "skip"


@dataclass(frozen=True)
class Limits:
    """A member's backlog bounds: ``max_bytes`` of frames and ``max_messages`` messages.

    Raises ValueError unless both are positive integers.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_messages: int = DEFAULT_MAX_MESSAGES

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_messages"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, not {value!r}")

    def fits(self, backlog_bytes: int, backlog_messages: int, size: int) -> bool:
        """True when one more message of ``size`` bytes stays within both bounds.

        A single message larger than ``max_bytes`` fits an empty backlog, so a member that keeps
        up is never dropped for one big message.
        """
        if backlog_messages == 0:
            return True
        return backlog_bytes + size <= self.max_bytes and backlog_messages + 1 <= self.max_messages


def check_close_code(code: int) -> int:
    """``code`` if it is 1008 or 1013, else ValueError."""
    if code not in OVERFLOW_CLOSE_CODES:
        raise ValueError(f"close_code must be 1008 or 1013, not {code!r}")
    return int(code)

