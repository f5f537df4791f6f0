"""Flag: threading.Event's set / is_set / wait, its Event made on the first wait."""

from __future__ import annotations

import threading

from faye_websocket.net.flag import Flag

WAIT = 10.0  # seconds; a bound on every wait, never reached when the code is right


def test_a_set_flag_answers_without_waiting() -> None:
    flag = Flag()
    assert not flag.is_set()
    assert flag.wait(0) is False
    flag.set()
    assert flag.is_set() and flag.wait(0) is True and flag.wait() is True


def test_set_wakes_every_thread_waiting() -> None:
    flag = Flag()
    waiting = threading.Barrier(5)
    results: list[bool] = []

    def waiter() -> None:
        waiting.wait(WAIT)
        results.append(flag.wait(WAIT))

    threads = [threading.Thread(target=waiter) for _ in range(4)]
    for thread in threads:
        thread.start()
    waiting.wait(WAIT)
    flag.set()
    for thread in threads:
        thread.join(WAIT)
    assert results == [True] * 4


def test_set_racing_the_first_wait_is_never_missed() -> None:
    # The first wait makes the Event while another thread sets the flag: either order is seen.
    for _ in range(200):
        flag = Flag()
        setter = threading.Thread(target=flag.set)
        setter.start()
        assert flag.wait(WAIT) is True
        setter.join(WAIT)


def test_made_once_gives_every_first_user_the_same_object() -> None:
    from faye_websocket.net.flag import made_once

    class Owner:
        member: object | None = None

    owner = Owner()
    start = threading.Barrier(8)
    seen: list[object] = []

    def use() -> None:
        start.wait(WAIT)
        seen.append(made_once(owner, "member", object))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len(seen) == 8 and all(made is owner.member for made in seen)
