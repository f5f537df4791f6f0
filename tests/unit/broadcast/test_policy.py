"""Backlog limits, the overflow options, and the Redis entry format and deduplication."""

from __future__ import annotations

import pytest

from faye_websocket.broadcast import Group, Overflow
from faye_websocket.broadcast.policy import Limits
from faye_websocket.broadcast.redis_backend import Backoff, Deduplicator, decode_entry, encode_entry, redacted


def test_limits_bound_bytes_and_messages_but_take_one_big_message_into_an_empty_backlog() -> None:
    limits = Limits(max_bytes=100, max_messages=3)
    assert limits.fits(0, 0, 10_000)
    assert limits.fits(90, 1, 10)
    assert not limits.fits(90, 1, 11)
    assert limits.fits(0, 2, 1)
    assert not limits.fits(0, 3, 1)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, None])
def test_limits_must_be_positive_ints(value: object) -> None:
    with pytest.raises(ValueError):
        Limits(max_bytes=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Limits(max_messages=value)  # type: ignore[arg-type]


def test_group_options_are_checked() -> None:
    with pytest.raises(ValueError, match="1008 or 1013"):
        Group(close_code=1000)
    with pytest.raises(TypeError):
        Group(overflow="close")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Group(42)  # type: ignore[arg-type]
    assert Group(close_code=1008, overflow=Overflow.SKIP).close_code == 1008


def test_group_refuses_what_cannot_be_a_member_or_a_message() -> None:
    group = Group()
    with pytest.raises(TypeError):
        group.join(object())
    with pytest.raises(TypeError):
        group.publish(42)  # type: ignore[arg-type]


def test_entries_round_trip_text_and_binary() -> None:
    assert decode_entry(encode_entry(b"o", 7, "é")) == (b"o", 7, "é")
    assert decode_entry(encode_entry(b"o", 8, b"\xff")) == (b"o", 8, b"\xff")
    assert decode_entry({b"x": b"y"}) is None


def test_deduplicator_skips_our_own_entries_and_repeats_per_origin_and_stream() -> None:
    dedup = Deduplicator(b"me")
    assert not dedup.accept("room", b"me", 1)
    assert dedup.accept("room", b"other", 1)
    assert not dedup.accept("room", b"other", 1)  # re-sent after a lost answer
    assert dedup.accept("lobby", b"other", 1)  # another stream has its own sequence
    assert dedup.accept("room", b"other", 2)


def test_backoff_doubles_up_to_its_limit_and_resets() -> None:
    backoff = Backoff(first=0.1, limit=0.4)
    delays = [backoff.delay() for _ in range(5)]
    assert 0.08 <= delays[0] <= 0.12 and all(delay <= 0.48 for delay in delays)
    assert delays[-1] >= 0.32
    backoff.reset()
    assert backoff.delay() <= 0.12


def test_urls_are_redacted_for_messages() -> None:
    assert redacted("redis://:secret@h:1/0") == "redis://:***@h:1/0"
    assert redacted("redis://user:secret@h:1/0") == "redis://user:***@h:1/0"
    assert redacted("redis://h:1/0") == "redis://h:1/0"
