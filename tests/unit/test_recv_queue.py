"""RecvQueue: its Condition is made on first use; a close or stop racing a first wait wakes it."""

from __future__ import annotations

import threading

import pytest

from faye_websocket.connection.recv_queue import RecvQueue

WAIT = 10.0  # seconds; a bound on every wait, never reached when the code is right


class Closed(Exception):
    pass


def test_a_queue_only_stopped_and_closed_makes_no_condition() -> None:
    queue = RecvQueue(2)
    queue.stop_putting()
    queue.close()
    assert queue._made is None
    with pytest.raises(Closed):
        queue.get(None, Closed)


def test_close_racing_the_first_get_always_wakes_it() -> None:
    for _ in range(100):
        queue = RecvQueue(2)
        outcome: list[str] = []

        def getter(queue: RecvQueue = queue, outcome: list[str] = outcome) -> None:
            try:
                queue.get(None, Closed)  # no deadline: only close() ends it
            except Closed:
                outcome.append("closed")

        thread = threading.Thread(target=getter)
        thread.start()
        queue.close()
        thread.join(WAIT)
        assert outcome == ["closed"]


def test_stop_putting_racing_a_full_put_always_lets_it_finish() -> None:
    for _ in range(100):
        queue = RecvQueue(1)
        queue.keep("a")
        thread = threading.Thread(target=queue.put, args=("b",))  # full: waits for room
        thread.start()
        queue.stop_putting()
        thread.join(WAIT)
        assert not thread.is_alive()
        assert queue.get(0, Closed) == "a" and queue.get(0, Closed) == "b"
