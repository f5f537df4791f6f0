"""Every user mistake the command line can meet: exit status 2 (usage) or 1 (cannot connect or
listen), one line on standard error, never a traceback."""

from __future__ import annotations

import socket

import pytest

from tests.integration.cli.cli_support import assert_one_line_error, run
from tests.integration.components import free_port

USAGE, FAILURE = 2, 1


@pytest.mark.parametrize(("url", "words"), [
    ("not a url", ["bad URL", "ws://"]),
    ("ws://127.0.0.1:99999/", ["Port out of range"]),
    ("ftp://x/", ["unsupported scheme 'ftp'", "ws://"]),
    ("ws:/host", ["bad URL"]),
    ("ws://exa mple.com/", ["not a valid WebSocket URL"]),
    ("ws://127.0.0.1/#frag", ["fragments"]),
])
def test_connect_with_a_bad_url_is_a_usage_error(url: str, words: list[str]) -> None:
    assert_one_line_error(run("connect", url, "x"), USAGE, *words)


@pytest.mark.parametrize(("args", "words"), [
    (["connect"], ["URL"]),
    (["connect", "ws://127.0.0.1/", "--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
    (["connect", "ws://127.0.0.1/", "--header", "no colon"], ["Name: value"]),
    (["connect", "ws://127.0.0.1/", "--wait", "-1"], ["seconds"]),
    (["connect", "ws://127.0.0.1/", "--wait", "soon"], ["seconds"]),
    (["connect", "wss://127.0.0.1/", "--ca", "/no/such/file.pem"], ["cannot read the file"]),
    (["connect", "ws://127.0.0.1/", "--proxy", "gopher://127.0.0.1:1"], ["proxy"]),
    (["serve", "99999"], ["port must be 0-65535, not 99999"]),
    (["serve", "eighty"], ["port must be a number"]),
    (["serve", "0", "--tls", "/no/cert.pem", "/no/key.pem"], ["cannot read the file"]),
    (["serve", "0", "extra"], ["unrecognized arguments: extra"]),
    (["launch"], ["invalid choice"]),
    ([], ["required"]),
])
def test_usage_errors_are_one_line_with_status_2(args: list[str], words: list[str]) -> None:
    assert_one_line_error(run(*args), USAGE, *words)


def test_serve_with_a_certificate_that_does_not_match_its_key_is_a_usage_error(tls_certs) -> None:
    done = run("serve", "0", "--tls", str(tls_certs.ca_pem), str(tls_certs.server_key))
    assert_one_line_error(done, USAGE, "cannot load --tls")


def test_serve_on_a_port_in_use_fails_with_status_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = assert_one_line_error(run("serve", str(port)), FAILURE, "port is in use", str(port))
    assert "0 for any free port" in line


def test_serve_on_an_address_of_another_machine_fails_with_status_1() -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine; nothing is sent there.
    assert_one_line_error(run("serve", "0", "--host", "192.0.2.1"), FAILURE, "cannot listen")


def test_connect_to_a_closed_port_fails_with_status_1() -> None:
    done = run("connect", f"ws://127.0.0.1:{free_port()}/", "x")
    assert_one_line_error(done, FAILURE, "connection refused")


def test_help_and_version_exit_0() -> None:
    for args in (["--help"], ["connect", "--help"], ["serve", "--help"], ["--version"]):
        done = run(*args)
        assert done.returncode == 0 and done.stdout and not done.stderr, (args, done)
