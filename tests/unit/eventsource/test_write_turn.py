"""WriteTurn: the EventSource writers' mutual exclusion (list pop/append, a condition only when taken)."""

from __future__ import annotations

import threading

from faye_websocket.eventsource.write_turn import WriteTurn

JOIN = 20.0  # seconds: every thread here ends long before


def test_try_take_succeeds_once_until_given_back() -> None:
    turn = WriteTurn()
    assert turn.try_take()
    assert not turn.try_take()
    turn.give()
    assert turn.try_take()


def test_take_waits_for_the_holder_and_is_woken_by_give() -> None:
    turn = WriteTurn()
    turn.take()
    taken = threading.Event()

    def waiter() -> None:
        turn.take()
        taken.set()
        turn.give()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not taken.wait(0.1)  # the turn is held: the waiter sleeps
    turn.give()
    assert taken.wait(JOIN)
    thread.join(JOIN)
    assert turn.try_take()  # given back by the waiter


def test_only_one_thread_holds_the_turn_at_a_time() -> None:
    turn = WriteTurn()
    inside: list[int] = []
    overlaps: list[int] = []
    rounds = 2000

    def writer(n: int) -> None:
        for i in range(rounds):
            if i % 3 == 0:  # the inlined hot path, as EventSource._write uses it
                try:
                    turn.token.pop()
                except IndexError:
                    turn.take()
            elif i % 3 == 1:
                turn.take()
            elif not turn.try_take():  # write_nowait: skip the round when taken
                continue
            inside.append(n)
            if len(inside) > 1:
                overlaps.append(n)
            threading.Event().wait(0)  # give the interpreter a chance to switch threads
            inside.remove(n)
            turn.token.append(True)
            if turn.waiting:
                turn.wake()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN)
    assert not any(thread.is_alive() for thread in threads)
    assert overlaps == []
    assert turn.try_take() and not turn.try_take()  # exactly one token left
