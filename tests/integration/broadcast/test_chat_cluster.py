"""Three examples/chat.py processes behind a real haproxy, sharing rooms through a real Redis.

Every client on every process must receive each message once, in publish order per publisher,
also when one process's link to Redis is cut and restored mid-stream, and when Redis restarts.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from faye_websocket import Client, ReadyState
from tests.integration.broadcast.support import (
    CHAT,
    LOOPBACK,
    ChatProcess,
    RedisServer,
    Relay,
    start_chat,
    start_proxy,
    wait_until,
)
from tests.integration.components import Process, free_port

pytestmark = pytest.mark.component

WAIT = 15.0  # bound of every wait (reconnection backoff is at most 2 s)
PROCESS_EXIT = 60.0  # a Python start and exit, on a machine that may be very busy
PROCESSES = 3
CLIENTS = 6  # round robin: two on each process
ROUND = 10  # messages each client sends per round


@dataclass
class ChatClient:
    """A chat member through haproxy, recording what it receives (on its client thread)."""

    number: int
    client: Client
    received: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def on_message(self, event: Any) -> None:
        with self.cond:
            self.received.append(event.data)
            self.cond.notify_all()

    @property
    def process(self) -> str:
        return str(self.client.headers.get("x-chat-process"))

    def wait_count(self, count: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.received) >= count, WAIT), (
                f"client {self.number} got {len(self.received)} of {count} messages")


@dataclass
class Cluster:
    redis: RedisServer
    relay: Relay  # between the first chat process and Redis
    chats: list[ChatProcess]
    proxy_port: int

    def url(self, room: str) -> str:
        return f"ws://{LOOPBACK}:{self.proxy_port}/chat/{room}"


@pytest.fixture(params=["haproxy"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """Redis, three chat processes (the first through the relay), and the proxy ``request.param``
    configured as docs/scaling.md says."""
    redis = RedisServer(tmp_path).start()
    relay = Relay(redis.port)
    chats: list[ChatProcess] = []
    proxy: Process | None = None
    try:
        chats.append(start_chat(f"redis://{LOOPBACK}:{relay.port}/0"))
        chats += [start_chat(redis.url) for _ in range(PROCESSES - 1)]
        proxy, port = start_proxy(request.param, tmp_path, [chat.port for chat in chats])
        yield Cluster(redis, relay, chats, port)
    finally:
        if proxy is not None:
            proxy.stop()
        for chat in chats:
            chat.process.stop()
        relay.close()
        redis.stop()


@pytest.fixture
def members(cluster: Cluster) -> Iterator[list[ChatClient]]:
    members: list[ChatClient] = []
    try:
        for number in range(CLIENTS):  # one after the other: least-connections balancing spreads them
            client = Client(cluster.url("lobby"))
            member = ChatClient(number, client)
            client.on("message", member.on_message)
            members.append(member)
            wait_until(lambda m=member: m.client.ready_state is not ReadyState.CONNECTING, WAIT, "no open")
            assert member.client.ready_state is ReadyState.OPEN
        processes = {member.process for member in members}
        assert processes == {str(chat.pid) for chat in cluster.chats}, "the proxy did not spread the clients"
        # A new room's stream is followed within the reader's block time: a probe message
        # that everybody receives shows every process follows the room before the test starts.
        members[0].client.send("probe")
        for member in members:
            member.wait_count(1)
            assert member.received == ["probe"]
            member.received.clear()
        yield members
    finally:
        for member in members:
            member.client.close()
        for member in members:
            wait_until(lambda m=member: m.client.ready_state is ReadyState.CLOSED, WAIT, "no close")


def send_round(members: list[ChatClient], round_number: int) -> None:
    for n in range(ROUND):
        for member in members:
            assert member.client.send(f"{member.number}:{round_number * ROUND + n}")


def check_exactly_once_in_order(members: list[ChatClient], rounds: int) -> None:
    """Every member got every message once; each publisher's messages in the order sent."""
    total = len(members) * rounds * ROUND
    for member in members:
        member.wait_count(total)
    for member in members:
        with member.cond:
            received = list(member.received)
        assert len(received) == total, f"client {member.number}: {len(received) - total} extra messages"
        for publisher in range(len(members)):
            mine = [int(text.split(":")[1]) for text in received if text.split(":")[0] == str(publisher)]
            assert mine == list(range(rounds * ROUND)), f"client {member.number} from {publisher}: {mine}"


@pytest.mark.parametrize("cluster", ["haproxy", "nginx"], indirect=True)
def test_every_client_on_every_process_gets_each_message_once_in_order(
    cluster: Cluster, members: list[ChatClient]
) -> None:
    for round_number in range(3):
        send_round(members, round_number)
    check_exactly_once_in_order(members, 3)


def test_a_process_whose_redis_link_is_cut_and_restored_loses_and_repeats_nothing(
    cluster: Cluster, members: list[ChatClient]
) -> None:
    send_round(members, 0)
    cluster.relay.cut()
    send_round(members, 1)  # the first process publishes and receives through a dead link
    # Its reader reconnects (and is refused) at least once before the link comes back.
    wait_until(lambda: cluster.relay.refused > 0, WAIT, "the cut process never tried to reconnect")
    send_round(members, 2)
    cluster.relay.restore()
    send_round(members, 3)
    check_exactly_once_in_order(members, 4)


def test_connections_killed_by_redis_mid_stream_lose_and_repeat_nothing(
    cluster: Cluster, members: list[ChatClient]
) -> None:
    import redis

    admin = redis.Redis.from_url(cluster.redis.url)
    try:
        send_round(members, 0)
        prefix = f"faye_websocket:{cluster.chats[1].pid}:"
        killed = 0
        for entry in admin.client_list():
            if str(entry.get("name", "")).startswith(prefix):
                admin.client_kill_filter(_id=entry["id"])
                killed += 1
        assert killed >= 1
        send_round(members, 1)
        check_exactly_once_in_order(members, 2)
    finally:
        admin.close()


def test_delivery_resumes_after_redis_restarts(cluster: Cluster, members: list[ChatClient]) -> None:
    send_round(members, 0)
    check_exactly_once_in_order(members, 1)  # everything published so far has been read
    cluster.redis.stop()
    send_round(members, 1)
    # Local delivery goes on: each client gets its own process's messages while Redis is down.
    for member in members:
        mates = {m.number for m in members if m.process == member.process}
        expected = len(mates) * ROUND
        wait_until(lambda m=member, mates=mates, expected=expected: sum(
            1 for text in list(m.received[len(members) * ROUND:]) if int(text.split(":")[0]) in mates
        ) >= expected, WAIT, f"client {member.number} lost local delivery while Redis was down")
    cluster.redis.start()
    send_round(members, 2)
    check_exactly_once_in_order(members, 3)  # what was published while Redis was away arrives too


def test_chat_exits_with_a_clear_error_when_redis_is_absent(tmp_path: Path) -> None:
    port, absent = free_port(), free_port()
    result = subprocess.run([sys.executable, str(CHAT), str(port), "--redis", f"redis://{LOOPBACK}:{absent}/0"],
                            capture_output=True, text=True, timeout=PROCESS_EXIT)
    assert result.returncode == 2
    assert f"cannot reach Redis at redis://{LOOPBACK}:{absent}/0" in result.stderr
