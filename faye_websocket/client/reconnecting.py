"""A WebSocket client that connects again after the connection drops: ``reconnecting(url)``.

Iterating yields one open ``Client`` (as ``connect()`` returns it) per successful connection.
When the caller asks for the next one (its loop body ended, usually because the connection
closed), the previous client is closed and a new connection is opened after a backoff delay
(net/backoff.py: exponential, jittered, capped). A failure that will repeat (a 4xx refusal other
than 429, a certificate that does not verify) ends the iteration by raising it; so does the last
of ``max_attempts`` consecutive failures. Nothing is swallowed silently: every failed attempt is
a ``retry`` event (attempt number, delay, error) and a DEBUG log line.

Messages are not replayed: a sender that must not lose one uses ``send_or_raise`` and sends it
again on the next connection until the peer acknowledges it (the README shows the loop)::

    for ws in reconnecting("ws://example.com/feed", max_attempts=10):
        for message in ws:
            handle(message)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Sequence

from ..logs import logger
from ..net.backoff import (
    DEFAULT_FACTOR,
    DEFAULT_INITIAL_DELAY,
    DEFAULT_JITTER,
    DEFAULT_MAX_DELAY,
    Backoff,
    retry_after,
    worth_retrying,
)
from .websocket import Client, connect

RetryListener = Callable[["RetryEvent"], object]


@dataclass(frozen=True)
class RetryEvent:
    """A connection attempt failed and another follows after ``delay`` seconds.

    ``attempt`` counts consecutive failures (1 for the first); ``error`` is why this one failed.
    """

    attempt: int
    delay: float
    error: BaseException
    target: Reconnecting
    type: ClassVar[str] = "retry"


class Reconnecting:
    """Iterable of open clients for ``url``; see the module docstring. Made by ``reconnecting()``.

    ``close()`` (any thread) stops it: a wait between attempts ends at once, the current client
    is closed, and the iteration ends without an error. ``client`` is the current connection
    (None between connections); ``onretry`` / ``on("retry", fn)`` get a RetryEvent per failed
    attempt, on the iterating thread.
    """

    def __init__(
        self, url: str, protocols: str | Sequence[str] | None, backoff: Backoff, options: dict[str, Any]
    ) -> None:
        self.url = url
        self.backoff = backoff
        self.client: Client | None = None
        self.onretry: RetryListener | None = None
        self._protocols = protocols
        self._options = options
        self._listeners: list[RetryListener] = []
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # guards client against close() from another thread

    def on(self, type: str, listener: RetryListener) -> None:
        """Call ``listener(event)`` for each failed attempt; ``type`` must be "retry"."""
        if type != RetryEvent.type:
            raise ValueError(f"unknown event type {type!r}; a reconnecting client has only 'retry'")
        self._listeners.append(listener)

    def close(self) -> None:
        """Stop reconnecting and close the current client; safe from any thread."""
        self._stopped.set()
        with self._lock:
            client = self.client
        if client is not None:
            client.close()

    def __enter__(self) -> Reconnecting:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Client]:
        try:
            while not self._stopped.is_set():
                client = self._connect_with_retries()
                if client is None:
                    return
                try:
                    yield client
                finally:
                    self._release(client)
        finally:
            self._stopped.set()

    def _connect_with_retries(self) -> Client | None:
        """The next open client, None once closed; raises the failure that ends the retrying."""
        while not self._stopped.is_set():
            try:
                client = connect(self.url, self._protocols, **self._options)
            except (TypeError, ValueError):
                raise  # a bad option or URL: the next attempt would fail the same way
            except Exception as error:
                self._after_failure(error)
                continue
            self.backoff.succeeded()
            with self._lock:
                self.client = client
            if self._stopped.is_set():  # close() came while connecting
                client.close()
                return None
            logger.debug("faye_websocket: reconnecting client %s is connected", self.url)
            return client
        return None

    def _after_failure(self, error: Exception) -> None:
        """Raise ``error`` if it ends the retrying; otherwise report it and wait the backoff."""
        delay = self.backoff.failed(retry_after(error)) if worth_retrying(error) else None
        if delay is None:
            logger.debug("faye_websocket: %s: giving up after %d attempts: %s",
                         self.url, self.backoff.failures, error)
            raise error
        logger.debug("faye_websocket: %s: attempt %d failed (%s); next in %.2f s",
                     self.url, self.backoff.failures, error, delay)
        self._dispatch(RetryEvent(self.backoff.failures, delay, error, self))
        self._stopped.wait(delay)

    def _release(self, client: Client) -> None:
        with self._lock:
            self.client = None
        client.close()

    def _dispatch(self, event: RetryEvent) -> None:
        listeners = ([self.onretry] if self.onretry is not None else []) + list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("faye_websocket: retry listener %r raised", listener)


def reconnecting(
    url: str,
    protocols: str | Sequence[str] | None = None,
    *,
    initial_delay: float = DEFAULT_INITIAL_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    factor: float = DEFAULT_FACTOR,
    jitter: float = DEFAULT_JITTER,
    max_attempts: int | None = None,
    onretry: RetryListener | None = None,
    **options: Any,
) -> Reconnecting:
    """Connect to ``url`` again and again; iterate for one open Client per connection.

    ``options`` are ``connect()``'s. Delays start at ``initial_delay`` seconds and grow by
    ``factor`` per consecutive failure up to ``max_delay``, each shortened at random by up to
    ``jitter`` of itself; a server's ``Retry-After`` on a 429 or 503 is a floor. ``max_attempts``
    consecutive failures (None: no limit) raise the last one out of the iteration; a 4xx
    refusal other than 429 and a certificate failure raise at once. ValueError for a bad delay
    setting here; a bad URL or connect() option is raised by the first attempt.
    """
    backoff = Backoff(initial_delay, factor, max_delay, jitter, max_attempts)
    result = Reconnecting(url, protocols, backoff, options)
    result.onretry = onretry
    return result
