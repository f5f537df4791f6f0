"""Helpers for the core's unit tests: drivers in a known state and every way to split input."""

from __future__ import annotations

from typing import Callable, Iterator

from faye_websocket.driver.client import ClientDriver
from faye_websocket.driver.frames import Frame, Opcode, serialize_frame
from faye_websocket.driver.handshake import accept_value
from faye_websocket.driver.http import parse_request
from faye_websocket.driver.server import ServerDriver
from faye_websocket.events import Event

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's example key
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # and its accept value


def request_bytes(*extra: str, key: str = KEY, version: str = "13") -> bytes:
    """A valid hybi-13 request head (plus extra header lines)."""
    lines = ["GET /chat?room=1 HTTP/1.1", "Host: example.com", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}", *extra, "", ""]
    return "\r\n".join(lines).encode()


def open_server(*extra: str, **options: object) -> ServerDriver:
    """A server driver that has answered a valid request; its queues are drained."""
    head = request_bytes(*extra).split(b"\r\n\r\n")[0]
    driver = ServerDriver(parse_request(head), **options)  # type: ignore[arg-type]
    driver.start()
    driver.events_received()
    driver.data_to_send()
    return driver


def response_for(client: ClientDriver, *extra: str, accept: str | None = None) -> bytes:
    """A valid 101 answer to ``client``'s request."""
    key = parse_request(client.request_head().split(b"\r\n\r\n")[0]).headers["Sec-WebSocket-Key"]
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept or accept_value(key)}", *extra, "", ""]
    return "\r\n".join(lines).encode()


def open_client(url: str = "ws://example.com/", **options: object) -> ClientDriver:
    """A client driver that has completed its handshake; its queues are drained."""
    driver = ClientDriver(url, **options)  # type: ignore[arg-type]
    driver.start()
    driver.data_to_send()
    driver.receive_data(response_for(driver))
    driver.events_received()
    return driver


def client_frame(opcode: Opcode, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked frame, as a client sends it."""
    return serialize_frame(Frame(fin, opcode, payload, rsv1), mask=True)


def server_frame(opcode: Opcode, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """An unmasked frame, as a server sends it."""
    return serialize_frame(Frame(fin, opcode, payload, rsv1), mask=False)


def splits(data: bytes) -> Iterator[list[bytes]]:
    """``data`` whole, one byte at a time, and cut in two at every position."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for cut in range(1, len(data)):
        yield [data[:cut], data[cut:]]


def feed(driver_factory: Callable[[], object], chunks: list[bytes]) -> tuple[list[Event], bytes]:
    """Feed ``chunks`` to a fresh driver; returns its events and what it wrote back."""
    driver = driver_factory()
    for chunk in chunks:
        driver.receive_data(chunk)  # type: ignore[attr-defined]
    return driver.events_received(), driver.data_to_send()  # type: ignore[attr-defined]


def events_for_every_split(driver_factory: Callable[[], object], data: bytes) -> list[Event]:
    """The events ``data`` produces; asserts that every split of it produces the same ones."""
    expected, _ = feed(driver_factory, [data])
    for chunks in splits(data):
        events, _ = feed(driver_factory, chunks)
        assert events == expected, f"split {[len(c) for c in chunks]} gave {events}"
    return expected
