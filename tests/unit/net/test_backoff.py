"""The reconnection policy: exponential delays with jitter and a cap, and which failures to retry."""

from __future__ import annotations

import random
import ssl

import pytest

from faye_websocket.errors import HandshakeError, ProxyError
from faye_websocket.net.backoff import Backoff, retry_after, worth_retrying


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(initial=0.5, factor=2, max_delay=3, jitter=0)
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_shortens_each_delay_by_at_most_its_fraction() -> None:
    backoff = Backoff(initial=1, factor=2, max_delay=100, jitter=0.5, rng=random.Random(7))
    delays = [backoff.failed() for _ in range(6)]
    for attempt, delay in enumerate(delays):
        base = 2.0**attempt
        assert delay is not None and base * 0.5 <= delay <= base
    assert len(set(delays)) == len(delays)


def test_the_attempt_limit_gives_up_and_success_starts_over() -> None:
    backoff = Backoff(initial=1, jitter=0, max_attempts=3)
    assert backoff.failed() == 1 and backoff.failed() == 2
    assert backoff.failed() is None
    backoff.succeeded()
    assert backoff.failed() == 1


def test_a_server_asked_delay_is_a_floor_that_wins_over_the_cap() -> None:
    backoff = Backoff(initial=1, max_delay=10, jitter=0)
    assert backoff.failed(minimum=4) == 4
    assert backoff.failed(minimum=60) == 60


@pytest.mark.parametrize("options", [{"initial": -1}, {"factor": 0.5}, {"jitter": 2}, {"max_attempts": 0},
                                     {"max_delay": float("inf")}])
def test_bad_settings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (HandshakeError("busy", 503), True),
        (HandshakeError("slow down", 429), True),
        (HandshakeError("hung up", None), True),
        (ProxyError("proxy down", 502), True),
        (HandshakeError("no", 403), False),
        (HandshakeError("gone", 404), False),
        (ssl.SSLCertVerificationError(1, "bad cert"), False),
        (ValueError("bad option"), False),
    ],
)
def test_which_failures_are_worth_retrying(error: BaseException, expected: bool) -> None:
    assert worth_retrying(error) is expected


def test_retry_after_seconds_from_the_refusal() -> None:
    assert retry_after(HandshakeError("busy", 503, {"retry-after": "7"})) == 7
    assert retry_after(HandshakeError("busy", 503, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after(OSError()) == 0
