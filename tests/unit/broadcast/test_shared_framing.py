"""A broadcast frames once what each connection's driver would have framed: same bytes."""

from __future__ import annotations

import pytest

from faye_websocket.driver.http import parse_request
from faye_websocket.driver.server import ServerDriver
from faye_websocket.driver.shared_frames import SharedFraming
from faye_websocket.extensions import PermessageDeflate
from faye_websocket.extensions.permessage_deflate import StatelessDeflate
from tests.unit.driver.drivers import open_client, open_server, request_bytes

MESSAGES: list[str | bytes] = ["hello", "é" * 300, b"\x00\x01binary", "", "hello"]


def deflating_server(offer: str, **options: object) -> ServerDriver:
    head = request_bytes(f"Sec-WebSocket-Extensions: {offer}").split(b"\r\n\r\n")[0]
    driver = ServerDriver(parse_request(head), extensions=[PermessageDeflate(**options)])  # type: ignore[arg-type]
    driver.start()
    driver.events_received()
    driver.data_to_send()
    return driver


@pytest.mark.parametrize(
    "make",
    [
        lambda: open_server(),
        lambda: deflating_server("permessage-deflate; server_no_context_takeover"),
        lambda: deflating_server("permessage-deflate", no_context_takeover=True, threshold=10),
        lambda: deflating_server("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
    ],
    ids=["plain", "deflate-asked-by-client", "deflate-server-option-threshold", "deflate-window-9"],
)
def test_shared_framing_writes_the_bytes_the_driver_writes(make: object) -> None:
    driver = make()  # type: ignore[operator]
    shared = driver.shared_framing()
    assert isinstance(shared, SharedFraming)
    for message in MESSAGES:
        driver.send(message)
        assert shared.frame(message) == driver.data_to_send()


def test_equal_settings_give_equal_framings_and_different_ones_do_not() -> None:
    one = deflating_server("permessage-deflate; server_no_context_takeover").shared_framing()
    two = deflating_server("permessage-deflate; server_no_context_takeover").shared_framing()
    other = deflating_server("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
    assert one == two and hash(one) == hash(two)
    assert one != other.shared_framing()
    assert one != open_server().shared_framing()
    assert one is not None and isinstance(one.transforms[0], StatelessDeflate)


def test_no_shared_framing_under_context_takeover_or_on_a_client() -> None:
    assert deflating_server("permessage-deflate").shared_framing() is None  # takeover: per connection
    assert open_client().shared_framing() is None  # a client masks every frame afresh


def test_shared_framing_refuses_what_is_not_a_message() -> None:
    with pytest.raises(TypeError):
        SharedFraming().frame(42)  # type: ignore[arg-type]
