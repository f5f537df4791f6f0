"""The Redis backend: groups of the same name in many processes share every message.

Needs redis-py (``pip install faye_websocket[redis]``). Each group name has one Redis Stream
(``<prefix><name>``). A publish is delivered to the local members at once and appended to the
stream (XADD, trimmed to about ``max_stream_length`` entries) by this process's writer thread;
this process's reader thread follows every stream it has groups for (XREAD BLOCK) and hands
other processes' entries to the local group. Why Streams rather than pub/sub: a stream keeps
what was published while a process's link was down, and the reader resumes from the last entry
it delivered, so nothing is lost or repeated (pub/sub drops whatever is published meanwhile).

Exactly once, per member:
- the reader remembers the ID of the last entry it delivered for each stream and asks only for
  later ones, on every (re)connection;
- entries this process published are skipped by its reader: their local members got them at
  publish time;
- every entry carries its publisher's origin (a random ID per backend) and a sequence number
  per stream; the writer re-sends a batch whose answer it did not get (the link dropped), and
  readers drop an entry whose sequence they have already seen from that origin.

While Redis is away (link cut, Redis restarting), local delivery goes on, publishes wait in a
bounded queue (``max_unsent``; the oldest are dropped past it, with a warning) and both threads
reconnect with exponential backoff (``BACKOFF_FIRST`` doubling to ``BACKOFF_MAX`` seconds).
When Redis restarts: with persistence (AOF or an RDB save) the streams come back and nothing
is lost; without it they come back empty, so entries appended before the stop and not yet read
by some process are lost to that process, while everything published after (and while Redis
was down) is delivered. Entry IDs are times, so a reader's last ID stays below new entries.
A process whose link is down longer than the stream's length covers misses the trimmed entries
(it logs a warning). Redis absent when the backend starts: ``RedisUnavailable`` (no silent
local-only mode, which would hide a wrong URL).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from .group import Group

logger = logging.getLogger("faye_websocket")

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "faye_websocket:broadcast:"
# About a minute of a busy room at 100 messages/s: how long an outage a process can bridge.
DEFAULT_MAX_STREAM_LENGTH = 10_000
DEFAULT_MAX_UNSENT = 10_000  # publishes held while Redis is away, per process
READ_BLOCK = 0.2  # seconds an XREAD waits; a new group's stream is followed within this
READ_COUNT = 512  # entries per XREAD
WRITE_BATCH = 256  # XADDs per pipelined round trip
CONNECT_TIMEOUT = 2.0
# A reply slower than this (on top of READ_BLOCK) means the link is dead: reconnect.
REPLY_TIMEOUT = 2.0
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 2.0
BACKOFF_JITTER = 0.2  # +-20%, so processes cut off together do not reconnect in lockstep
CLOSE_FLUSH_TIMEOUT = 2.0  # close() waits this long for unsent publishes to reach Redis

# Stream entry fields: origin, sequence, kind (text or binary), data.
FIELD_ORIGIN = b"o"
FIELD_SEQUENCE = b"s"
FIELD_KIND = b"k"
FIELD_DATA = b"d"
KIND_TEXT = b"t"
KIND_BINARY = b"b"
START_ID = b"0-0"
READER_THREAD = "faye_websocket-redis-reader"
WRITER_THREAD = "faye_websocket-redis-writer"


class RedisUnavailable(ConnectionError):
    """Redis could not be reached when the backend started (the message names the URL)."""


def encode_entry(origin: bytes, sequence: int, message: str | bytes) -> dict[bytes, bytes]:
    """The stream entry fields for ``message`` (text is stored as UTF-8 with kind ``t``)."""
    if isinstance(message, str):
        kind, data = KIND_TEXT, message.encode("utf-8")
    else:
        kind, data = KIND_BINARY, bytes(message)
    return {FIELD_ORIGIN: origin, FIELD_SEQUENCE: str(sequence).encode(), FIELD_KIND: kind, FIELD_DATA: data}


def decode_entry(fields: dict[bytes, bytes]) -> tuple[bytes, int, str | bytes] | None:
    """(origin, sequence, message) from entry fields; None for an entry that is not ours."""
    try:
        origin, sequence = fields[FIELD_ORIGIN], int(fields[FIELD_SEQUENCE])
        kind, data = fields[FIELD_KIND], fields[FIELD_DATA]
        message: str | bytes = data.decode("utf-8") if kind == KIND_TEXT else data
    except (KeyError, ValueError):
        return None
    return origin, sequence, message


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class Backoff:
    """Exponential delays between reconnection attempts, with jitter; reset after a success."""

    def __init__(self, first: float = BACKOFF_FIRST, limit: float = BACKOFF_MAX) -> None:
        self._first = first
        self._limit = limit
        self._next = first

    def delay(self) -> float:
        """The next delay in seconds (then doubled, up to the limit)."""
        delay = self._next * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
        self._next = min(self._next * 2, self._limit)
        return delay

    def reset(self) -> None:
        """Back to the first delay."""
        self._next = self._first


class Deduplicator:
    """Which entries to deliver: not our own, and each (origin, stream, sequence) once."""

    def __init__(self, own_origin: bytes) -> None:
        self._own = own_origin
        self._last: dict[tuple[bytes, str], int] = {}

    def accept(self, name: str, origin: bytes, sequence: int) -> bool:
        """True for an entry to deliver; False for our own or for one already seen."""
        if origin == self._own:
            return False
        key = (origin, name)
        if sequence <= self._last.get(key, 0):
            return False  # re-sent by a publisher that did not see its first XADD answered
        self._last[key] = sequence
        return True


class RedisBackend:
    """Carries groups' messages between processes through Redis Streams (see the module docstring).

    ``url`` is a redis-py URL (``redis://[:password@]host:port/db``, ``rediss://`` for TLS).
    Raises ``RedisUnavailable`` if Redis does not answer a PING within ``connect_timeout``
    seconds, ImportError (naming the extra) without redis-py. Starts two threads (reader and
    writer), which ``close()`` stops; use it as a context manager or call ``close()``.
    Methods are safe from any thread; none blocks on Redis except ``close()`` (bounded).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_stream_length: int = DEFAULT_MAX_STREAM_LENGTH,
        max_unsent: int = DEFAULT_MAX_UNSENT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        redis = _import_redis()
        for name, value in (("max_stream_length", max_stream_length), ("max_unsent", max_unsent)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        self.url = url
        self.prefix = prefix
        self.max_stream_length = max_stream_length
        self.max_unsent = max_unsent
        self.origin = uuid.uuid4().hex.encode()
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client: Any = redis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=READ_BLOCK + REPLY_TIMEOUT,
            retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
            client_name=f"faye_websocket:{os.getpid()}:{self.origin[:8].decode()}",
        )
        try:
            self._client.ping()
        except self._errors as error:
            self._client.close()
            raise RedisUnavailable(f"cannot reach Redis at {redacted(url)}: {error}") from error
        self._lock = threading.Lock()  # owner: this backend; guards the maps below and _unsent
        self._unsent_ready = threading.Condition(self._lock)
        self._groups: dict[str, Group] = {}
        self._last_ids: dict[bytes, bytes] = {}  # stream key -> last entry delivered (or skipped)
        self._sequences: dict[str, itertools.count[int]] = {}
        self._unsent: deque[tuple[bytes, dict[bytes, bytes]]] = deque()
        self._dropped = 0
        self._in_flight = 0  # entries at the head of _unsent that the writer is sending
        self._dedup = Deduplicator(self.origin)
        self._stopping = threading.Event()
        self.connected = True  # the reader's view: False between a lost link and its return
        self._reader = threading.Thread(target=self._read_loop, name=READER_THREAD, daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name=WRITER_THREAD, daemon=True)
        self._reader.start()
        self._writer.start()

    # -- groups (any thread) -------------------------------------------------------------------

    def key(self, name: str) -> bytes:
        """The stream key of group ``name``."""
        return (self.prefix + name).encode("utf-8")

    def attach(self, group: Group) -> None:
        """Follow ``group.name``'s stream from its current end; ValueError if already attached."""
        key = self.key(group.name)
        start = self._stream_end(key)
        with self._lock:
            if group.name in self._groups:
                raise ValueError(f"a group named {group.name!r} is already attached to this backend")
            self._groups[group.name] = group
            self._last_ids[key] = start
            self._sequences.setdefault(group.name, itertools.count(1))

    def detach(self, group: Group) -> None:
        """Stop following ``group``'s stream."""
        with self._lock:
            if self._groups.get(group.name) is group:
                del self._groups[group.name]
                self._last_ids.pop(self.key(group.name), None)

    def publish(self, name: str, message: str | bytes) -> None:
        """Queue ``message`` for the other processes' group ``name``; never blocks."""
        with self._lock:
            sequence = next(self._sequences.setdefault(name, itertools.count(1)))
            if len(self._unsent) >= self.max_unsent:
                # The oldest not being sent right now goes (the writer pops its batch by count).
                if len(self._unsent) > self._in_flight:
                    del self._unsent[self._in_flight]
                self._dropped += 1
                if self._dropped == 1 or self._dropped % self.max_unsent == 0:
                    logger.warning("broadcast: Redis unreachable, %d unsent publishes dropped", self._dropped)
            if len(self._unsent) < self.max_unsent:
                self._unsent.append((self.key(name), encode_entry(self.origin, sequence, message)))
            self._unsent_ready.notify()

    def unsent(self) -> int:
        """Publishes waiting for Redis."""
        with self._lock:
            return len(self._unsent)

    def close(self) -> None:
        """Send what is unsent (waiting at most CLOSE_FLUSH_TIMEOUT seconds), stop both threads."""
        deadline = time.monotonic() + CLOSE_FLUSH_TIMEOUT
        with self._lock:
            while self._unsent and self.connected and time.monotonic() < deadline:
                self._unsent_ready.wait(max(0.0, deadline - time.monotonic()))
            self._stopping.set()
            self._unsent_ready.notify_all()
        self._reader.join(READ_BLOCK + REPLY_TIMEOUT + CONNECT_TIMEOUT)
        self._writer.join(REPLY_TIMEOUT + CONNECT_TIMEOUT)
        self._client.close()

    def __enter__(self) -> RedisBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _stream_end(self, key: bytes) -> bytes:
        """The ID of the stream's last entry (follow from there); now's time while Redis is away."""
        try:
            last = self._client.xrevrange(key, count=1)
        except self._errors:
            return f"{int(time.time() * 1000)}-0".encode()  # entry IDs are Redis's clock in ms
        return bytes(last[0][0]) if last else START_ID

    # -- the reader thread ---------------------------------------------------------------------

    def _read_loop(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            with self._lock:
                streams = dict(self._last_ids)
            if not streams:
                self._stopping.wait(READ_BLOCK)
                continue
            try:
                response = self._client.xread(streams, count=READ_COUNT, block=int(READ_BLOCK * 1000))
            except self._errors as error:
                self._link_lost("reader", error)
                self._stopping.wait(backoff.delay())
                continue
            if not self.connected:
                self._link_back(streams)
            backoff.reset()
            for key, entries in _stream_items(response):
                self._deliver(bytes(key), entries)

    def _deliver(self, key: bytes, entries: list[Any]) -> None:
        name = key.decode("utf-8")[len(self.prefix):]
        for entry_id, fields in entries:
            with self._lock:
                group = self._groups.get(name)
                if group is None:
                    return  # detached meanwhile
                self._last_ids[key] = bytes(entry_id)
            decoded = decode_entry(fields)
            if decoded is None:
                continue
            origin, sequence, message = decoded
            if self._dedup.accept(name, origin, sequence):
                group.deliver(message)

    def _link_lost(self, who: str, error: BaseException) -> None:
        if self.connected:
            self.connected = False
            logger.warning("broadcast: %s lost the link to Redis at %s (%s): local delivery goes on, "
                           "reconnecting", who, redacted(self.url), error)

    def _link_back(self, streams: dict[bytes, bytes]) -> None:
        self.connected = True
        logger.warning("broadcast: link to Redis at %s is back", redacted(self.url))
        for key, last in streams.items():
            self._check_gap(key, last)
        with self._lock:
            self._unsent_ready.notify_all()

    def _check_gap(self, key: bytes, last: bytes) -> None:
        """Warn when the entry we delivered last has been trimmed: entries after it may be lost."""
        if last == START_ID:
            return
        try:
            first = self._client.xrange(key, count=1)
        except self._errors:
            return
        if first and bytes(first[0][0]) > last:
            logger.warning("broadcast: stream %r was trimmed past the last entry this process read: "
                           "messages published while the link was down may be missing", key)

    # -- the writer thread ----------------------------------------------------------------------

    def _write_loop(self) -> None:
        backoff = Backoff()
        while True:
            with self._lock:
                while not self._unsent and not self._stopping.is_set():
                    self._unsent_ready.wait()
                if self._stopping.is_set() and (not self._unsent or not self.connected):
                    return
                batch = list(itertools.islice(self._unsent, WRITE_BATCH))
                self._in_flight = len(batch)
            try:
                pipeline = self._client.pipeline(transaction=False)
                for key, fields in batch:
                    pipeline.xadd(key, fields, maxlen=self.max_stream_length, approximate=True)
                pipeline.execute()
            except self._errors as error:
                with self._lock:
                    self._in_flight = 0
                self._link_lost("writer", error)
                self._stopping.wait(backoff.delay())
                continue
            backoff.reset()
            with self._lock:
                self._in_flight = 0
                for _ in batch:  # publishes only append, and only this thread pops
                    self._unsent.popleft()
                self._unsent_ready.notify_all()


def _stream_items(response: Any) -> list[tuple[Any, list[Any]]]:
    """XREAD's reply as (key, entries) pairs: a list under RESP2, a dict under RESP3."""
    if not response:
        return []
    if isinstance(response, dict):
        return list(response.items())
    return [(key, entries) for key, entries in response]


def _import_redis() -> Any:
    try:
        import redis
        import redis.backoff
        import redis.retry
    except ImportError as error:  # pragma: no cover - the test extra installs it
        raise ImportError("the Redis backend needs redis-py: pip install 'faye_websocket[redis]'") from error
    return redis
