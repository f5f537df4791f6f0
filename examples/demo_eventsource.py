"""The EventSource demo stream that examples/server.py serves to EventSource requests.

Like the original's examples/server.js: ``retry`` first, then every second an event ``Time: N``
with id N, where N continues from the client's Last-Event-ID (so a browser that reconnects picks up
where it left off). The stream ends when the client goes away.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from faye_websocket.eventsource.writer import EventSource

DEMO_INTERVAL = 1.0  # seconds between events, as in the original demo
DEMO_PING = 15.0  # seconds between keep-alive comments
DEMO_RETRY = 10.0  # seconds a browser waits before reconnecting
_MAX_DIGITS = 18  # longest id the demo continues from; ids it writes are far shorter


def first_number(last_event_id: str) -> int:
    """The number after the client's last event id (1 for a new client or a non-numeric id)."""
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses; and a bounded length,
    # since int() refuses more than 4300 digits. The header comes from the client, so never raise.
    if last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= _MAX_DIGITS:
        return int(last_event_id) + 1
    return 1


def serve_demo_stream(handler: BaseHTTPRequestHandler, *, interval: float = DEMO_INTERVAL) -> None:
    """Stream ``Time: N`` events on ``handler``'s connection until the client disconnects.

    Blocks the handler's thread for the life of the stream; returns once the stream is closed.
    """
    stream = EventSource.from_handler(
        handler, headers={"Access-Control-Allow-Origin": "*"}, ping=DEMO_PING, retry=DEMO_RETRY
    )
    number = first_number(stream.last_event_id)
    # wait() returns True as soon as the stream closes, so a departed client ends the loop at once.
    while not stream.wait(interval):
        if not stream.send(f"Time: {number}", id=number):
            break
        number += 1
