"""Handshake refusals name the actual problem: a missing key or version, a bad version or key,
a request that is not an upgrade (and which of method, Connection and Upgrade is wrong)."""

from __future__ import annotations

import pytest

from faye_websocket.driver.http import parse_request, parse_response
from faye_websocket.driver.server import ServerDriver

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def refusal(*lines: str, method: str = "GET", **options: object) -> tuple[int, str]:
    head = "\r\n".join([f"{method} /chat HTTP/1.1", "Host: example.com", *lines]).encode()
    driver = ServerDriver(parse_request(head), **options)  # type: ignore[arg-type]
    driver.start()
    answer, _, body = driver.data_to_send().partition(b"\r\n\r\n")
    return parse_response(answer).status, body.decode()


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade")


def test_a_request_without_a_key_is_told_the_key_is_missing_not_that_drafts_are_off() -> None:
    status, body = refusal(*UPGRADE, "Sec-WebSocket-Version: 13")
    assert status == 400 and "Missing required header: Sec-WebSocket-Key" in body
    status, body = refusal(*UPGRADE)
    assert status == 400 and "Missing required headers: Sec-WebSocket-Key, Sec-WebSocket-Version" in body
    assert body.index("Missing") < body.index("allow_drafts")  # the problem first, the draft hint after


def test_a_missing_version_and_a_bad_one_are_named() -> None:
    status, body = refusal(*UPGRADE, f"Sec-WebSocket-Key: {KEY}")
    assert status == 400 and "Missing required header: Sec-WebSocket-Version" in body
    status, body = refusal(*UPGRADE, f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 99")
    assert status == 426 and "Unsupported WebSocket version: 99 (this server speaks 13, 8, 7)" in body


def test_a_malformed_key_is_named_with_the_rule() -> None:
    status, body = refusal(*UPGRADE, "Sec-WebSocket-Key: short", "Sec-WebSocket-Version: 13")
    assert status == 400 and "Invalid Sec-WebSocket-Key 'short'" in body and "16" in body


@pytest.mark.parametrize(
    ("method", "lines", "named"),
    [
        ("POST", UPGRADE, "the method is POST, not GET"),
        ("GET", ("Upgrade: websocket", "Connection: keep-alive"), "Connection is 'keep-alive'"),
        ("GET", ("Upgrade: h2c", "Connection: Upgrade"), "Upgrade is 'h2c'"),
    ],
)
def test_not_an_upgrade_says_which_part_is_wrong(method: str, lines: tuple[str, ...], named: str) -> None:
    status, body = refusal(*lines, f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13", method=method)
    assert status == 400 and "Not a WebSocket upgrade" in body and named in body


def test_a_draft_76_request_still_hears_that_drafts_are_off() -> None:
    keys = ("Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5", "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00")
    status, body = refusal(*UPGRADE, *keys)
    assert status == 400 and "draft-76 handshakes are disabled" in body
