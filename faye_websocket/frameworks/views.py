"""What the Flask and Django view wrappers share: running a WebSocket or an event stream on the
request's thread from inside a view, and checking the options when the view is declared.

A framework view cannot end the WSGI call itself, as ``websocket_app`` does: the framework still
runs its response hooks and then hands its response object to the server. So each integration
returns its own "taken over" response, whose body calls ``server.wsgi.release`` (gunicorn stops
without writing; the other servers find the socket shut down and write nothing).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Mapping, Sequence

from ..eventsource.writer import EventSource
from ..server.takeover import request_from_environ
from ..server.websocket import WebSocket
from ..server.wsgi import from_environ, run_session, take_over

logger = logging.getLogger("faye_websocket")
Protocols = str | Sequence[str] | None
# Arguments of the constructors that the wrappers fill in themselves, not view options.
_SUPPLIED = {"self", "request", "sock", "body", "protocols"}


def check_options(target: Callable[..., object], options: Mapping[str, Any]) -> None:
    """Raise TypeError when the view is declared, not at its first request, for an unknown option.

    ``target`` is ``WebSocket`` or ``EventSource``; the options are its keyword arguments.
    """
    accepted = set(inspect.signature(target).parameters) - _SUPPLIED
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(f"unknown {target.__name__} option(s) {', '.join(unknown)}; "
                        f"accepted: {', '.join(sorted(accepted))}")


def serve_websocket(
    environ: Mapping[str, Any], handler: Callable[[WebSocket], object], protocols: Protocols,
    options: Mapping[str, Any],
) -> None:
    """Take the connection over, run ``handler(ws)``, then read until the WebSocket is closed.

    On the request's thread; returns once the connection is closed. Raises UpgradeNotSupported,
    with nothing written, when the server offers no socket (waitress). An exception from the
    handler is logged and closes the connection with 1011.
    """
    run_session(from_environ(environ, protocols, **options), handler)


def serve_event_stream(
    environ: Mapping[str, Any], handler: Callable[[EventSource], object], options: Mapping[str, Any]
) -> None:
    """Take the connection over, write the stream's head, run ``handler(es)``, wait for the close.

    On the request's thread. The handler may return with the stream open (having handed it to
    other threads): this returns once the stream is closed, by ``close()`` or because the client
    has gone (noticed at once by EOF, or by a failed write or ping). Raises UpgradeNotSupported,
    with nothing written, when the server offers no socket. An exception from the handler is
    logged and closes the stream.
    """
    request = request_from_environ(environ)
    # An event-stream request has no body to carry over.
    stream = take_over(environ, lambda sock, _: EventSource(request, sock, **options))
    try:
        handler(stream)
    except Exception:
        logger.exception("faye_websocket: the event-stream handler raised")
        stream.close()
    stream.wait()
