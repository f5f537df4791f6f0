"""RedisBackend against a real redis-server: delivery across backends, deduplication, bounds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from faye_websocket.broadcast import Group
from faye_websocket.broadcast.redis_backend import RedisBackend, RedisUnavailable, encode_entry
from tests.integration.broadcast.support import LOOPBACK, RedisServer, run_redis, wait_until
from tests.integration.components import free_port

pytestmark = pytest.mark.component

WAIT = 10.0


class RecordingGroup(Group):
    """A group that also records what it is asked to deliver locally (it has no members)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.delivered: list[str | bytes] = []
        self._recorded = threading.Lock()
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def deliver(self, message: str | bytes) -> int:
        with self._recorded:
            self.delivered.append(message)
        return super().deliver(message)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with run_redis(tmp_path) as server:
        yield server


def test_a_publish_reaches_the_other_backend_once_and_its_own_group_once(
    no_leaks: None, redis_server: RedisServer
) -> None:
    with RedisBackend(redis_server.url) as first, RedisBackend(redis_server.url) as second:
        here = RecordingGroup("room", backend=first)
        there = RecordingGroup("room", backend=second)
        here.publish("hello")
        here.publish(b"\x00binary")
        wait_until(lambda: len(there.delivered) == 2, WAIT, f"delivered {there.delivered}")
        assert there.delivered == ["hello", b"\x00binary"]
        assert here.delivered == ["hello", b"\x00binary"]  # locally, at publish time, not again
        here.close()
        there.close()


def test_an_entry_sent_twice_by_a_publisher_is_delivered_once(
    no_leaks: None, redis_server: RedisServer
) -> None:
    import redis

    with RedisBackend(redis_server.url) as backend:
        group = RecordingGroup("room", backend=backend)
        admin = redis.Redis.from_url(redis_server.url)
        try:
            # What a publisher whose XADD answer was lost does: the same entry again.
            for fields in (encode_entry(b"other", 1, "once"), encode_entry(b"other", 1, "once"),
                           encode_entry(b"other", 2, "twice")):
                admin.xadd(backend.key("room"), fields)  # type: ignore[arg-type]
        finally:
            admin.close()
        wait_until(lambda: len(group.delivered) >= 2, WAIT, f"delivered {group.delivered}")
        group.publish("end")  # our own: delivered locally only
        assert group.delivered == ["once", "twice", "end"]
        group.close()


def test_the_stream_stays_near_its_bound(no_leaks: None, redis_server: RedisServer) -> None:
    import redis

    with RedisBackend(redis_server.url, max_stream_length=100) as backend:
        group = Group("bounded", backend=backend)
        for number in range(2000):
            group.publish(str(number))
        wait_until(lambda: backend.unsent() == 0, WAIT, "publishes did not reach Redis")
        admin = redis.Redis.from_url(redis_server.url)
        try:
            # Approximate trimming removes whole radix-tree nodes (stream-node-max-entries, 100).
            assert 100 <= admin.xlen(backend.key("bounded")) <= 200
        finally:
            admin.close()
        group.close()


def test_redis_absent_at_start_is_a_clear_error(no_leaks: None) -> None:
    url = f"redis://:secret@{LOOPBACK}:{free_port()}/0"
    with pytest.raises(RedisUnavailable, match=rf"cannot reach Redis at redis://:\*\*\*@{LOOPBACK}:\d+/0"):
        RedisBackend(url)


def test_a_second_group_with_the_same_name_is_refused(no_leaks: None, redis_server: RedisServer) -> None:
    with RedisBackend(redis_server.url) as backend:
        group = Group("room", backend=backend)
        with pytest.raises(ValueError, match="already attached"):
            Group("room", backend=backend)
        group.close()
