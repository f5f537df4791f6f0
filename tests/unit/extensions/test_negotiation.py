"""The extension registry (faye_websocket.extensions.negotiation.Extensions) with toy extensions."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import pytest

from faye_websocket.driver.frames import Opcode
from faye_websocket.errors import ExtensionError, InvalidState, MessageTooLarge, ProtocolError
from faye_websocket.extensions import Extensions, Message, Params
from faye_websocket.extensions.header import ExtensionHeaderError


class ToySession:
    """Appends its tag to outgoing data and strips it from incoming data; records what it saw."""

    def __init__(self, ext: ToyExtension, offer: Params | list[Params] | None = None) -> None:
        self.ext = ext
        self.offer = offer
        self.activated_with: Params | None = None
        self.closed = 0

    def generate_offer(self) -> Params | list[Params] | None:
        return self.offer

    def activate(self, params: Params) -> bool:
        self.activated_with = params
        return self.ext.accept

    def generate_response(self) -> Params:
        return {"id": self.ext.name}

    def process_outgoing_message(self, message: Message) -> Message:
        self.ext.log.append(f"out:{self.ext.name}")
        return replace(message, data=message.data + self.ext.tag.encode())

    def process_incoming_message(self, message: Message, max_length: int) -> Message:
        self.ext.log.append(f"in:{self.ext.name}:{max_length}")
        if self.ext.fail_with is not None:
            raise self.ext.fail_with
        tag = self.ext.tag.encode()
        assert message.data.endswith(tag)
        return replace(message, data=message.data[: -len(tag)])

    def close(self) -> None:
        self.closed += 1
        self.ext.log.append(f"close:{self.ext.name}")


class ToyExtension:
    type = "permessage"

    def __init__(
        self,
        name: str,
        *,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        offer: Params | list[Params] | None = None,
        accept: bool = True,
        decline: bool = False,
        log: list[str] | None = None,
    ) -> None:
        self.name = name
        self.rsv1, self.rsv2, self.rsv3 = rsv1, rsv2, rsv3
        self.offer = {"v": 1} if offer is None else offer
        self.accept = accept
        self.decline = decline
        self.tag = f"<{name}>"
        self.log: list[str] = [] if log is None else log
        self.sessions: list[ToySession] = []
        self.server_offers: list[Sequence[Params]] = []
        self.fail_with: Exception | None = None

    def create_client_session(self) -> ToySession | None:
        if self.decline:
            return None
        session = ToySession(self, self.offer)
        self.sessions.append(session)
        return session

    def create_server_session(self, offers: Sequence[Params]) -> ToySession | None:
        self.server_offers.append(offers)
        if self.decline:
            return None
        session = ToySession(self)
        self.sessions.append(session)
        return session


def registry(*extensions: object) -> Extensions:
    ext = Extensions()
    for extension in extensions:
        ext.add(extension)  # type: ignore[arg-type]
    return ext


# -- add ------------------------------------------------------------------------------------


class Bare:
    name = "bare"
    type = "permessage"
    rsv1 = rsv2 = rsv3 = False

    def create_client_session(self) -> None:
        return None

    def create_server_session(self, offers: Sequence[Params]) -> None:
        return None


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("name", 42, "extension.name must be a string"),
        ("type", "perframe", 'extension.type must be "permessage"'),
        ("rsv1", 1, "extension.rsv1 must be true or false"),
        ("rsv3", None, "extension.rsv3 must be true or false"),
        ("create_server_session", "no", "extension.create_server_session must be callable"),
    ],
)
def test_add_refuses_objects_that_are_not_extensions_with_type_error(
    attribute: str, value: object, message: str
) -> None:
    ext = Bare()
    setattr(ext, attribute, value)
    with pytest.raises(TypeError, match=message):
        Extensions().add(ext)  # type: ignore[arg-type]


def test_add_refuses_a_name_that_is_not_a_token() -> None:
    with pytest.raises(ValueError, match="token"):
        registry(ToyExtension("bad name"))


def test_add_refuses_a_duplicate_name_with_the_original_message() -> None:
    ext = registry(ToyExtension("a"))
    with pytest.raises(ValueError, match='An extension with name "a" is already registered'):
        ext.add(ToyExtension("a"))


def test_add_after_negotiation_started_is_invalid_state() -> None:
    ext = registry(ToyExtension("a"))
    ext.generate_offer()
    with pytest.raises(InvalidState):
        ext.add(ToyExtension("b"))


def test_extensions_sharing_an_rsv_bit_may_be_registered_as_alternatives() -> None:
    ext = registry(ToyExtension("a", rsv1=True), ToyExtension("b", rsv1=True))
    assert ext.generate_offer() == "a; v=1, b; v=1"


# -- client: offer and activate ---------------------------------------------------------------


def test_offer_is_none_without_extensions_or_when_all_decline() -> None:
    assert Extensions().generate_offer() is None
    assert registry(ToyExtension("a", decline=True)).generate_offer() is None
    assert registry(ToyExtension("a", offer=[])).generate_offer() is None


def test_offer_lists_extensions_in_registration_order_with_alternative_offers() -> None:
    ext = registry(
        ToyExtension("b", offer=[{"x": True}, {"y": "two words"}]),
        ToyExtension("skip", decline=True),
        ToyExtension("a", offer={}),
    )
    assert ext.generate_offer() == 'b; x, b; y="two words", a'


def test_absent_response_header_activates_nothing_and_closes_offered_sessions() -> None:
    a = ToyExtension("a")
    ext = registry(a)
    ext.generate_offer()
    ext.activate(None)
    assert not ext.has_sessions
    assert a.sessions[0].closed == 1
    ext.close()
    assert a.sessions[0].closed == 1  # closed once only


def test_activate_passes_params_and_unaccepted_sessions_are_closed() -> None:
    a, b = ToyExtension("a"), ToyExtension("b")
    ext = registry(a, b)
    ext.generate_offer()
    ext.activate("b; level=3")
    assert ext.names == ["b"]
    assert b.sessions[0].activated_with == {"level": 3}
    assert a.sessions[0].closed == 1
    assert b.sessions[0].closed == 0


def test_response_for_an_unknown_extension_fails_with_the_original_message() -> None:
    ext = registry(ToyExtension("a"))
    ext.generate_offer()
    with pytest.raises(ExtensionError) as info:
        ext.activate("x")
    assert str(info.value) == 'Server sent an extension response for unknown extension "x"'
    assert info.value.code == 1010


def test_response_for_an_extension_that_declined_to_offer_is_unknown() -> None:
    ext = registry(ToyExtension("a", decline=True))
    ext.generate_offer()
    with pytest.raises(ExtensionError, match='unknown extension "a"'):
        ext.activate("a")


def test_two_responses_using_rsv1_fail_with_the_original_message() -> None:
    ext = registry(ToyExtension("a", rsv1=True), ToyExtension("b", rsv1=True))
    ext.generate_offer()
    with pytest.raises(ExtensionError) as info:
        ext.activate("a, b")
    assert str(info.value) == 'Server sent two extension responses that use the RSV1 bit: "a" and "b"'


def test_extensions_on_different_rsv_bits_are_both_activated() -> None:
    ext = registry(ToyExtension("a", rsv1=True), ToyExtension("b", rsv2=True), ToyExtension("c"))
    ext.generate_offer()
    ext.activate("a, b, c")
    assert ext.names == ["a", "b", "c"]


def test_the_same_extension_answered_twice_fails() -> None:
    ext = registry(ToyExtension("a"))
    ext.generate_offer()
    with pytest.raises(ExtensionError, match='two extension responses for "a"'):
        ext.activate("a, a")


def test_parameters_a_session_refuses_fail_with_the_original_message() -> None:
    ext = registry(ToyExtension("a", accept=False))
    ext.generate_offer()
    with pytest.raises(ExtensionError) as info:
        ext.activate('a; bits=10; q="x y"')
    assert str(info.value) == 'Server sent unacceptable extension parameters: a; bits=10; q="x y"'


def test_malformed_response_header_is_an_extension_error() -> None:
    ext = registry(ToyExtension("a"))
    ext.generate_offer()
    with pytest.raises(ExtensionError, match="Invalid Sec-WebSocket-Extensions header: a;"):
        ext.activate("a;")


def test_client_applies_extensions_in_the_order_of_the_server_response() -> None:
    log: list[str] = []
    ext = registry(ToyExtension("a", log=log), ToyExtension("b", log=log))
    ext.generate_offer()
    ext.activate("b, a")
    out = ext.process_outgoing_message(Message(Opcode.TEXT, b"m"))
    assert out.data == b"m<b><a>"
    assert ext.process_incoming_message(out, 99).data == b"m"
    assert log == ["out:b", "out:a", "in:a:99", "in:b:99"]


# -- server: generate_response ----------------------------------------------------------------


def test_server_response_is_none_without_matching_offers() -> None:
    assert registry(ToyExtension("a")).generate_response(None) is None
    assert registry(ToyExtension("a")).generate_response("b, c") is None
    assert registry().generate_response("a") is None


def test_server_gives_each_extension_all_its_offers_in_order() -> None:
    a = ToyExtension("a")
    ext = registry(a)
    assert ext.generate_response("a; x=1, b, a; y, a") == "a; id=a"
    assert a.server_offers == [[{"x": 1}, {"y": True}, {}]]
    assert ext.names == ["a"]


def test_server_accepts_in_registration_order_not_offer_order() -> None:
    ext = registry(ToyExtension("a"), ToyExtension("b"))
    assert ext.generate_response("b, a") == "a; id=a, b; id=b"
    assert ext.names == ["a", "b"]


def test_server_skips_a_later_extension_whose_rsv_bit_is_taken() -> None:
    a, b, c = ToyExtension("a", rsv1=True), ToyExtension("b", rsv1=True), ToyExtension("c", rsv2=True)
    ext = registry(a, b, c)
    assert ext.generate_response("b, a, c") == "a; id=a, c; id=c"
    assert b.server_offers == []


def test_server_rsv_bit_goes_to_the_next_extension_when_the_first_declines() -> None:
    ext = registry(ToyExtension("a", rsv1=True, decline=True), ToyExtension("b", rsv1=True))
    assert ext.generate_response("a, b") == "b; id=b"


def test_server_malformed_offer_raises_a_protocol_error_for_a_400() -> None:
    with pytest.raises(ExtensionHeaderError) as info:
        registry(ToyExtension("a")).generate_response("a; =")
    assert isinstance(info.value, ProtocolError)


# -- RSV bits on frames --------------------------------------------------------------------------


def active(*extensions: ToyExtension) -> Extensions:
    ext = registry(*extensions)
    ext.generate_response(", ".join(e.name for e in extensions))
    return ext


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_rsv1_is_allowed_on_data_frames_when_an_active_extension_owns_it(opcode: Opcode) -> None:
    ext = active(ToyExtension("a", rsv1=True))
    assert ext.valid_frame_rsv(opcode, True, False, False)
    assert ext.valid_frame_rsv(opcode, False, False, False)
    assert not ext.valid_frame_rsv(opcode, False, True, False)
    assert not ext.valid_frame_rsv(opcode, True, False, True)


@pytest.mark.parametrize("opcode", [Opcode.CONTINUATION, Opcode.CLOSE, Opcode.PING, Opcode.PONG])
def test_rsv_bits_are_never_allowed_on_continuation_or_control_frames(opcode: Opcode) -> None:
    ext = active(ToyExtension("a", rsv1=True, rsv2=True, rsv3=True))
    assert not ext.valid_frame_rsv(opcode, True, False, False)
    assert not ext.valid_frame_rsv(opcode, False, True, False)
    assert not ext.valid_frame_rsv(opcode, False, False, True)
    assert ext.valid_frame_rsv(opcode, False, False, False)


def test_rsv_bits_are_refused_without_sessions_even_if_an_extension_is_registered() -> None:
    ext = registry(ToyExtension("a", rsv1=True))
    ext.generate_response(None)
    assert not ext.has_sessions
    assert not ext.valid_frame_rsv(Opcode.TEXT, True, False, False)
    assert ext.valid_frame_rsv(1, False, False, False)  # plain ints work as opcodes too


# -- message pipeline ----------------------------------------------------------------------------


def test_outgoing_in_registration_order_and_incoming_in_reverse() -> None:
    log: list[str] = []
    ext = active(ToyExtension("a", log=log), ToyExtension("b", log=log), ToyExtension("c", log=log))
    out = ext.process_outgoing_message(Message(Opcode.BINARY, b"x"))
    assert out.data == b"x<a><b><c>"
    back = ext.process_incoming_message(out, 1000)
    assert back == Message(Opcode.BINARY, b"x")
    assert log == ["out:a", "out:b", "out:c", "in:c:1000", "in:b:1000", "in:a:1000"]


def test_pipeline_without_sessions_returns_the_message_unchanged() -> None:
    ext = registry(ToyExtension("a"))
    ext.generate_response(None)
    message = Message(Opcode.TEXT, b"hi")
    assert ext.process_outgoing_message(message) is message
    assert ext.process_incoming_message(message, 10) is message


def test_session_protocol_errors_keep_their_class_and_code_and_name_the_extension() -> None:
    a = ToyExtension("a")
    ext = active(a)
    a.fail_with = MessageTooLarge("too big")
    with pytest.raises(MessageTooLarge) as info:
        ext.process_incoming_message(Message(Opcode.TEXT, b"x<a>"), 5)
    assert str(info.value) == "a: too big"
    assert info.value.code == 1009


def test_other_session_exceptions_become_extension_errors_1010() -> None:
    a = ToyExtension("a")
    ext = active(a)
    a.fail_with = ValueError("boom")
    with pytest.raises(ExtensionError) as info:
        ext.process_incoming_message(Message(Opcode.TEXT, b"x<a>"), 5)
    assert str(info.value) == "a: boom"
    assert info.value.code == 1010
    assert isinstance(info.value.__cause__, ValueError)


def test_a_session_returning_something_else_than_a_message_is_an_extension_error() -> None:
    a = ToyExtension("a")
    ext = active(a)
    a.sessions[0].process_outgoing_message = lambda message: b"raw"  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(ExtensionError, match="a: session returned bytes, not a Message"):
        ext.process_outgoing_message(Message(Opcode.TEXT, b"x"))


# -- close ---------------------------------------------------------------------------------------


def test_close_closes_every_session_once() -> None:
    log: list[str] = []
    ext = active(ToyExtension("a", log=log), ToyExtension("b", log=log))
    ext.close()
    ext.close()
    assert log == ["close:a", "close:b"]


def test_close_before_activation_closes_offered_sessions() -> None:
    a = ToyExtension("a")
    ext = registry(a)
    ext.generate_offer()
    ext.close()
    assert a.sessions[0].closed == 1


def test_a_failing_close_still_closes_the_other_sessions_then_raises() -> None:
    log: list[str] = []
    a, b = ToyExtension("a", log=log), ToyExtension("b", log=log)
    ext = active(a, b)

    def broken() -> None:
        raise RuntimeError("close failed")

    a.sessions[0].close = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="close failed"):
        ext.close()
    assert log == ["close:b"]
