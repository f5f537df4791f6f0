"""What an extension is: the Message record and the Extension / Session protocols.

These mirror websocket-extensions' contracts in Python names, so that a user can write an
extension of their own and pass it in ``extensions=[...]``. Python's zlib is synchronous, so a
session processes one message and returns the result: no callbacks, no async pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, Union, runtime_checkable

from ..rfc6455 import Opcode

ParamValue = Union[bool, int, str, list[Union[bool, int, str]]]
Params = dict[str, ParamValue]
"""Extension parameters: a bare flag is True, a value is int or str, a repeated name a list."""


@dataclass(frozen=True, init=False)
class Message:
    """A whole data message as it passes through the extensions.

    ``opcode`` is TEXT or BINARY; ``data`` is the payload (UTF-8 bytes for text); the RSV flags
    are those of the message's first frame (RFC 6455 section 5.2, RFC 7692 section 6).
    """

    opcode: Opcode
    data: bytes
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __init__(self, opcode: Opcode, data: bytes, rsv1: bool = False, rsv2: bool = False,
                 rsv3: bool = False) -> None:
        # Frozen: the generated __init__ sets each field through object.__setattr__; one update
        # of the new instance's __dict__ makes the same object at a third of the cost (a
        # compressed message makes two per direction).
        self.__dict__.update(opcode=opcode, data=data, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3)


@runtime_checkable
class Session(Protocol):
    """One connection's use of an extension.

    ``process_incoming_message`` gets ``max_length``: a session that expands data (inflates)
    must raise ``MessageTooLarge`` before producing more than that many bytes. Both directions
    raise a ``ProtocolError`` subclass (usually ``ExtensionError``) on failure.
    """

    def process_incoming_message(self, message: Message, max_length: int) -> Message:
        """Transform a received message (reverse registration order); return the result."""
        ...

    def process_outgoing_message(self, message: Message) -> Message:
        """Transform a message about to be sent (registration order); return the result."""
        ...

    def close(self) -> None:
        """Release resources; called once when the connection closes."""
        ...


@runtime_checkable
class ClientSession(Session, Protocol):
    """A client's session: offers parameters, then checks the server's answer."""

    def generate_offer(self) -> Params | Sequence[Params] | None:
        """Parameters to offer (or several alternative offers, or None to offer nothing)."""
        ...

    def activate(self, params: Params) -> bool:
        """Accept the server's response parameters; False refuses them (the handshake fails)."""
        ...


@runtime_checkable
class ServerSession(Session, Protocol):
    """A server's session, created from the offers a client made."""

    def generate_response(self) -> Params:
        """Parameters to answer with in Sec-WebSocket-Extensions."""
        ...


@runtime_checkable
class Extension(Protocol):
    """A negotiable extension: its name, type, the RSV bits it owns and its session factories."""

    name: str
    type: str  # always "permessage" (the only type websocket-extensions defines)
    rsv1: bool
    rsv2: bool
    rsv3: bool

    def create_client_session(self) -> ClientSession | None:
        """A new client session, or None to take no part in this connection."""
        ...

    def create_server_session(self, offers: Sequence[Params]) -> ServerSession | None:
        """A server session for the first acceptable offer, or None to decline them all."""
        ...
