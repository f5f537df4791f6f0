"""Coverage-guided fuzzing of the sans-I/O parsers with atheris (not part of the test suite).

    pip install atheris
    python scripts/fuzz.py TARGET -runs=200000 -max_len=512

TARGET is one of: server (raw request head + frames, drafts allowed), client (101 response +
frames), frames (frames after an open handshake, both sides, with permessage-deflate), header
(Sec-WebSocket-Extensions), eventstream (the SSE reader's parser). Any exception other than the
drivers' clean failures is a bug: atheris stops and prints the input that caused it.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from faye_websocket.driver.client import ClientDriver
    from faye_websocket.driver.handshake import accept_value
    from faye_websocket.driver.http import parse_request
    from faye_websocket.driver.server import ServerDriver
    from faye_websocket.errors import WebSocketError
    from faye_websocket.events import CloseEvent
    from faye_websocket.eventsource.parser import EventStreamParser
    from faye_websocket.extensions.header import parse_header
    from faye_websocket.extensions.permessage_deflate import PermessageDeflate

REQUEST = (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")


def feed_in_pieces(driver: object, data: bytes, fdp: atheris.FuzzedDataProvider) -> None:
    while data:
        size = fdp.ConsumeIntInRange(1, max(1, len(data)))
        driver.receive_data(data[:size])  # type: ignore[attr-defined]
        data = data[size:]
        if isinstance(driver, ServerDriver) and driver.request is not None:
            driver.start()
    driver.receive_eof()  # type: ignore[attr-defined]
    events = driver.events_received()  # type: ignore[attr-defined]
    closes = [e for e in events if isinstance(e, CloseEvent)]
    assert len(closes) == 1 and events[-1] is closes[0], events


def server(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    driver = ServerDriver(None, allow_drafts=True, max_length=4096, extensions=[PermessageDeflate()])
    feed_in_pieces(driver, REQUEST[: len(payload) % len(REQUEST)] + payload, fdp)


def client(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    driver = ClientDriver("ws://h/", max_length=4096, extensions=[PermessageDeflate()])
    driver.start()
    key = parse_request(driver.data_to_send().split(b"\r\n\r\n")[0]).headers["Sec-WebSocket-Key"]
    head = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_value(key)}\r\n").encode()
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    feed_in_pieces(driver, head + rest, fdp)


def frames(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    driver = ServerDriver(None, max_length=4096, extensions=[PermessageDeflate()])
    driver.receive_data(REQUEST)
    driver.start()
    feed_in_pieces(driver, payload, fdp)


def header(data: bytes) -> None:
    text = data.decode("latin-1")
    try:
        parse_header(text)
    except WebSocketError:
        pass


def eventstream(data: bytes) -> None:
    parser = EventStreamParser()
    fdp = atheris.FuzzedDataProvider(data)
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        while body:
            size = fdp.ConsumeIntInRange(1, max(1, len(body)))
            parser.feed(body[:size])
            body = body[size:]
    except WebSocketError:
        pass


TARGETS = {"server": server, "client": client, "frames": frames, "header": header, "eventstream": eventstream}

if __name__ == "__main__":
    name = sys.argv.pop(1)
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()
