"""The extension registry of one connection: offers, activation, responses, RSV ownership, pipeline.

A port of websocket-extensions' ``Extensions`` class. The driver creates one per connection, adds
the user's extensions, negotiates (``generate_offer`` + ``activate`` on a client,
``generate_response`` on a server) and then passes every data message through the accepted
sessions: outgoing ones in negotiated order, incoming ones in reverse (RFC 6455 section 9.1:
the order of the response is the order in which the extensions apply to outgoing data).

Python's zlib is synchronous, so the original's asynchronous pipeline with its re-ordering ring
buffers becomes an ordered fold. Not thread-safe: the driver calls it under its connection lock.
"""

from __future__ import annotations

from typing import Callable, Hashable, NoReturn, Sequence, TypeVar, cast

from ..errors import ExtensionError, InvalidState, ProtocolError
from ..rfc6455 import RSV1_BIT, RSV2_BIT, RSV3_BIT, Opcode
from .base import (
    ClientSession,
    Extension,
    Message,
    Params,
    ServerSession,
    Session,
)
from .header import ExtensionHeaderError, is_token, parse_header, serialize_params
from .permessage_deflate import DeflateClientSession, DeflateServerSession

EXTENSION_TYPE = "permessage"  # the only type websocket-extensions defines
# RFC 6455 section 5.2 / websocket-extensions' MESSAGE_OPCODES: only the first frame of a data
# message may carry RSV bits; continuation and control frames never do.
MESSAGE_OPCODES = frozenset({Opcode.TEXT, Opcode.BINARY})

# websocket-extensions' error messages, kept word for word
UNKNOWN_RESPONSE = 'Server sent an extension response for unknown extension "{name}"'
RSV_CLASH = 'Server sent two extension responses that use the RSV{bit} bit: "{first}" and "{second}"'
UNACCEPTABLE_PARAMS = "Server sent unacceptable extension parameters: {params}"
DUPLICATE_NAME = 'An extension with name "{name}" is already registered'

_RSV_BITS = (1, 2, 3)
# Sessions whose bytes-level steps (``inflate``/``deflate``) the payload methods call directly
# when one is the only active session: exactly these classes, so that a subclass overriding
# process_*_message is still called through them.
_DIRECT_SESSIONS = (DeflateServerSession, DeflateClientSession)
T = TypeVar("T")


def _rsv_bits(ext: Extension) -> tuple[int, ...]:
    """The RSV bit numbers an extension claims."""
    flags = (ext.rsv1, ext.rsv2, ext.rsv3)
    return tuple(bit for bit, used in zip(_RSV_BITS, flags, strict=True) if used)


def _validate(ext: Extension) -> None:
    """websocket-extensions' ``add`` checks, with Python exception types."""
    if not isinstance(getattr(ext, "name", None), str):
        raise TypeError("extension.name must be a string")
    if not is_token(ext.name):
        raise ValueError(f"extension.name must be an RFC 7230 token: {ext.name!r}")
    if getattr(ext, "type", None) != EXTENSION_TYPE:
        raise TypeError(f'extension.type must be "{EXTENSION_TYPE}"')
    for bit in _RSV_BITS:
        if not isinstance(getattr(ext, f"rsv{bit}", None), bool):
            raise TypeError(f"extension.rsv{bit} must be true or false")
    for method in ("create_client_session", "create_server_session"):
        if not callable(getattr(ext, method, None)):
            raise TypeError(f"extension.{method} must be callable")


class Extensions:
    """The extensions of one connection and, once negotiated, their active sessions.

    Used by one driver, on whichever thread holds its lock. Errors: see each method.
    """

    def __init__(self) -> None:
        self._in_order: list[Extension] = []
        self._offered: dict[str, tuple[Extension, ClientSession]] = {}
        self._active: list[tuple[Extension, Session]] = []
        self._rsv_owner: dict[int, str] = {}
        self._negotiated = False
        # The only active session when it is our permessage-deflate (see _DIRECT_SESSIONS), and
        # its extension: the payload methods then skip the Message records and the fold.
        self._direct: DeflateServerSession | DeflateClientSession | None = None
        self._direct_name = ""
        self._closed = False

    def add(self, extension: Extension) -> None:
        """Register an extension; negotiation considers them in the order added.

        Two extensions may claim the same RSV bit (a client may offer alternatives); negotiation
        then accepts at most one of them, as websocket-extensions does.

        Raises TypeError for an object that is not an Extension, ValueError for a name that is
        not a token or is already registered, InvalidState once negotiation has started.
        """
        if self._negotiated:
            raise InvalidState("extensions cannot be added once the handshake has started")
        _validate(extension)
        if any(ext.name == extension.name for ext in self._in_order):
            raise ValueError(DUPLICATE_NAME.format(name=extension.name))
        self._in_order.append(extension)

    @property
    def has_sessions(self) -> bool:
        """True when at least one extension was negotiated for this connection."""
        return bool(self._active)

    @property
    def names(self) -> list[str]:
        """The names of the negotiated extensions, in the order they apply to outgoing data."""
        return [ext.name for ext, _ in self._active]

    def generate_offer(self) -> str | None:
        """Client: create a session per extension and return the ``Sec-WebSocket-Extensions`` value.

        An extension whose ``create_client_session`` returns None, or whose session offers
        nothing, is left out. Returns None when nothing is offered. ExtensionError (1010) when
        an extension raises or offers parameters that cannot be serialized.
        """
        self._negotiated = True
        pieces: list[str] = []
        for ext in self._in_order:
            session = _call(ext, ext.create_client_session)
            if session is None:
                continue
            self._offered[ext.name] = (ext, session)
            pieces.extend(_call(ext, _offers_of, ext, session))
        return ", ".join(pieces) if pieces else None

    def activate(self, header_value: str | None) -> None:
        """Client: accept the server's ``Sec-WebSocket-Extensions`` answer (None: no extensions).

        Sessions the server did not accept are closed. Raises ExtensionError (the driver fails
        the handshake with 1010) for a malformed header, an unknown or repeated extension, two
        extensions using one RSV bit, or parameters a session refuses.
        """
        self._negotiated = True
        try:
            responses = parse_header(header_value)
        except ExtensionHeaderError as error:
            raise ExtensionError(str(error)) from error
        accepted: list[tuple[Extension, Session]] = []
        try:
            for name, params in responses:
                accepted.append(self._activate_one(name, params, accepted))
        finally:
            self._active = accepted
            self._close_unaccepted()
            self._find_direct()

    def _activate_one(
        self, name: str, params: Params, accepted: Sequence[tuple[Extension, Session]]
    ) -> tuple[Extension, Session]:
        record = self._offered.get(name)
        if record is None:
            raise ExtensionError(UNKNOWN_RESPONSE.format(name=name))
        ext, session = record
        if any(other is ext for other, _ in accepted):
            raise ExtensionError(f'Server sent two extension responses for "{name}"')
        self._reserve(ext)
        if _call(ext, session.activate, params) is not True:
            raise ExtensionError(UNACCEPTABLE_PARAMS.format(params=serialize_params(name, params)))
        return ext, session

    def _reserve(self, ext: Extension) -> None:
        for bit in _rsv_bits(ext):
            owner = self._rsv_owner.get(bit)
            if owner is not None:
                raise ExtensionError(RSV_CLASH.format(bit=bit, first=owner, second=ext.name))
        for bit in _rsv_bits(ext):
            self._rsv_owner[bit] = ext.name

    def _close_unaccepted(self) -> None:
        active = {id(session) for _, session in self._active}
        offered, self._offered = self._offered, {}
        for ext, session in offered.values():
            if id(session) not in active:
                _call(ext, session.close)

    def generate_response(self, header_value: str | None) -> str | None:
        """Server: pick sessions for the client's offers; return the answer header (or None).

        Extensions are considered in registration order; each gets every offer made under its
        name and may decline them all. One whose RSV bits an accepted extension already uses is
        skipped. Raises ExtensionHeaderError (a ProtocolError: the driver answers 400) for a
        malformed or oversized header, ExtensionError (the driver answers 500) when an extension
        raises or answers with parameters that cannot be serialized.
        """
        self._negotiated = True
        offers = parse_header(header_value)
        answers: list[str] = []
        for ext in self._in_order:
            own = [params for name, params in offers if name == ext.name]
            if not own or any(bit in self._rsv_owner for bit in _rsv_bits(ext)):
                continue
            session = _call(ext, ext.create_server_session, own)
            if session is None:
                continue
            self._reserve(ext)
            self._active.append((ext, session))
            answers.append(_call(ext, _response_of, ext, session))
        self._find_direct()
        return ", ".join(answers) if answers else None

    def _find_direct(self) -> None:
        if len(self._active) == 1 and type(self._active[0][1]) in _DIRECT_SESSIONS:
            ext, session = self._active[0]
            self._direct = cast("DeflateServerSession | DeflateClientSession", session)
            self._direct_name = ext.name

    def valid_frame_rsv(self, opcode: int, rsv1: bool, rsv2: bool, rsv3: bool) -> bool:
        """True when a received frame's RSV bits are allowed by the negotiated extensions.

        Bits are allowed only on TEXT and BINARY frames (the first frame of a message) and only
        when an active session's extension claims them.
        """
        if opcode in MESSAGE_OPCODES:
            allowed = {bit for ext, _ in self._active for bit in _rsv_bits(ext)}
        else:
            allowed = set()
        return all(bit in allowed for bit, on in zip(_RSV_BITS, (rsv1, rsv2, rsv3), strict=True) if on)

    def process_incoming_message(self, message: Message, max_length: int) -> Message:
        """Pass a received message through the sessions in reverse order; return the result.

        Raises the session's ProtocolError (MessageTooLarge 1009 when inflating past
        ``max_length``), its message prefixed with the extension name; any other exception from
        a session becomes ExtensionError (1010).
        """
        for ext, session in reversed(self._active):
            try:  # _run's work, without its call: this runs for every message
                message = session.process_incoming_message(message, max_length)
            except Exception as error:  # a user's extension failing must fail the connection
                _raise_named(ext.name, error)
            if type(message) is not Message and not isinstance(message, Message):
                raise _not_a_message(ext, message)
        return message

    def incoming_payload(self, opcode: Opcode, payload: bytes, rsv1: bool, max_length: int) -> bytes:
        """The payload of a received whole message (``opcode`` TEXT or BINARY, RSV1 as given,
        RSV2 and RSV3 clear) after the sessions: ``process_incoming_message``'s result, without
        a Message per step when permessage-deflate is the only session. Errors as there.
        """
        direct = self._direct
        if direct is None:
            message = Message(opcode, payload, rsv1, False, False)
            return self.process_incoming_message(message, max_length).data
        if not rsv1:
            return payload
        try:
            return direct.inflate(payload, max_length)
        except Exception as error:  # as process_incoming_message: fail the connection, named
            _raise_named(self._direct_name, error)

    def outgoing_payload(self, opcode: Opcode, payload: bytes) -> tuple[int, bytes]:
        """A message to be sent (TEXT or BINARY), after the sessions: its first frame's RSV bits
        and opcode (``RSV1_BIT`` etc. ORed with the opcode, as RFC 6455 section 5.2 places them
        in the frame's first byte) and its payload. ``process_outgoing_message``'s result,
        without a Message per step when permessage-deflate is the only session. Errors as there.
        """
        direct = self._direct
        if direct is None:
            message = self.process_outgoing_message(Message(opcode, payload))
            flags = ((RSV1_BIT if message.rsv1 else 0) | (RSV2_BIT if message.rsv2 else 0)
                     | (RSV3_BIT if message.rsv3 else 0))
            return flags | message.opcode, message.data
        try:
            data = direct.deflate(payload)
        except Exception as error:
            _raise_named(self._direct_name, error)
        if data is None:  # short, or after close: sent as it is
            return opcode, payload
        return RSV1_BIT | opcode, data

    def stateless_transforms(self) -> tuple[Hashable, ...] | None:
        """The active sessions' outgoing steps as values, when each depends on the message alone.

        None when any session keeps state between messages (or cannot say, having no
        ``stateless()``); an empty tuple without sessions. A broadcast frames a message once for
        every connection whose value is equal.
        """
        transforms: list[Hashable] = []
        for _, session in self._active:
            stateless = getattr(session, "stateless", None)
            transform = stateless() if callable(stateless) else None
            if transform is None:
                return None
            transforms.append(transform)
        return tuple(transforms)

    def process_outgoing_message(self, message: Message) -> Message:
        """Pass a message to be sent through the sessions in order; return the result.

        Errors as for process_incoming_message.
        """
        for ext, session in self._active:
            try:  # as process_incoming_message
                message = session.process_outgoing_message(message)
            except Exception as error:
                _raise_named(ext.name, error)
            if type(message) is not Message and not isinstance(message, Message):
                raise _not_a_message(ext, message)
        return message

    def close(self) -> None:
        """Close every session (offered or active) once; later calls do nothing.

        Call it when the connection has closed and no more messages will pass. Exceptions from
        a session's ``close`` propagate after the other sessions have been closed.
        """
        if self._closed:
            return
        self._closed = True
        sessions = [session for _, session in self._active]
        sessions += [session for _, session in self._offered.values()]
        self._offered = {}
        failure: BaseException | None = None
        for session in sessions:
            try:
                session.close()
            except Exception as error:  # close the others first, then report the first failure
                failure = failure or error
        if failure is not None:
            raise failure


def _offers_of(ext: Extension, session: ClientSession) -> list[str]:
    return [serialize_params(ext.name, params) for params in _as_offers(session)]


def _as_offers(session: ClientSession) -> list[Params]:
    offer = session.generate_offer()
    if offer is None:
        return []
    if isinstance(offer, dict):
        return [offer]
    return list(offer)


def _call(ext: Extension, step: Callable[..., T], *args: object) -> T:
    """Call an extension's negotiation code; what it raises becomes ExtensionError (1010).

    Extensions may be the user's own code: an exception must fail this one connection (the
    I/O layer expects events out of the driver, never exceptions), naming the extension.
    """
    try:
        return step(*args)
    except ProtocolError:
        raise
    except Exception as error:
        raise ExtensionError(f"{ext.name}: {error}") from error


def _response_of(ext: Extension, session: ServerSession) -> str:
    return serialize_params(ext.name, session.generate_response())


def _raise_named(name: str, error: Exception) -> NoReturn:
    """Raise what a session step's exception becomes: a ProtocolError itself, its message prefixed
    with the extension's ``name`` (class and close code kept); anything else an ExtensionError
    (1010) caused by it."""
    if isinstance(error, ProtocolError):
        _prefix(name, error)
        raise error
    raise ExtensionError(f"{name}: {error}") from error


def _prefix(name: str, error: ProtocolError) -> None:
    """A ProtocolError keeps its class and code, with the extension's ``name`` in front."""
    error.args = (f"{name}: {error}", *error.args[1:])


def _not_a_message(ext: Extension, result: object) -> ExtensionError:
    return ExtensionError(f"{ext.name}: session returned {type(result).__name__}, not a Message")
