"""Frames built once for many connections: how a broadcast frames one message for every member.

A server's RFC 6455 frame carries no mask (section 5.1), so the bytes of a message depend only
on the message and on the extensions that transform it. When those extensions keep no state
from one message to the next (permessage-deflate without context takeover, RFC 7692 section
7.1.1.1), every connection that negotiated the same settings writes the same bytes: a
``SharedFraming`` value names those settings, and equal values frame identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Protocol

from ..extensions.base import Message
from ..rfc6455 import Opcode
from .frames import Frame, serialize_frame


class StatelessTransform(Hashable, Protocol):
    """An extension's outgoing step whose output depends on the message alone (a hashable value)."""

    def process_outgoing_message(self, message: Message) -> Message: ...


@dataclass(frozen=True)
class SharedFraming:
    """Unmasked frames through ``transforms``, in negotiated order; a hashable value.

    Pure and thread-safe: ``frame`` uses no connection state.
    """

    transforms: tuple[StatelessTransform, ...] = ()

    def frame(self, data: str | bytes) -> bytes:
        """The frame ``send(data)`` writes on a connection with these settings.

        Text (str) becomes a text frame, bytes a binary frame; TypeError for anything else,
        UnicodeEncodeError for text with no UTF-8 form.
        """
        if isinstance(data, str):
            message = Message(Opcode.TEXT, data.encode("utf-8"))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            message = Message(Opcode.BINARY, bytes(data))
        else:
            raise TypeError(f"a message is str or bytes, not {type(data).__name__}")
        for transform in self.transforms:
            message = transform.process_outgoing_message(message)
        frame = Frame(True, message.opcode, message.data, message.rsv1, message.rsv2, message.rsv3)
        return serialize_frame(frame, mask=False)
