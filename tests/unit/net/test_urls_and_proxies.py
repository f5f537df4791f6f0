"""WebSocket URL checking, proxy options, and proxies chosen from the environment."""

from __future__ import annotations

import pytest

from faye_websocket.driver.url import parse_url
from faye_websocket.net.proxies import (
    bypasses_proxy,
    parse_proxy,
    proxy_from_environment,
)
from faye_websocket.net.socks import SocksVersion


@pytest.mark.parametrize(
    ("url", "secure", "host", "port", "resource"),
    [
        ("ws://example.com", False, "example.com", 80, "/"),
        ("wss://example.com", True, "example.com", 443, "/"),
        ("http://example.com:8080/a", False, "example.com", 8080, "/a"),
        ("https://example.com/a/b?x=1&y=%20", True, "example.com", 443, "/a/b?x=1&y=%20"),
        ("ws://[::1]:9000/chat", False, "::1", 9000, "/chat"),
        ("wss://[::1]", True, "::1", 443, "/"),
        ("WS://Example.COM/Path", False, "example.com", 80, "/Path"),
        ("ws://127.0.0.1:1/?a=%2F&b", False, "127.0.0.1", 1, "/?a=%2F&b"),
    ],
)
def test_urls_give_host_port_and_resource_as_written(
    url: str, secure: bool, host: str, port: int, resource: str
) -> None:
    parsed = parse_url(url)
    assert (parsed.secure, parsed.host, parsed.port, parsed.resource) == (secure, host, port, resource)


def test_http_schemes_are_aliases_and_userinfo_is_decoded() -> None:
    parsed = parse_url("https://us%40er:p%3Ass@example.com/")
    assert parsed.secure
    assert parsed.origin == "wss://example.com"
    assert (parsed.username, parsed.password) == ("us@er", "p:ss")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "example.com",
        "ws://",
        "ws:///path",
        "ws://host:notaport/",
        "ws://host:70000/",
        "ws://host:0/",
        "ws://host/#frag",
        "ws://host/path with space",
        "ws://[::1/",
        "ws://host\r\nX: y/",
    ],
)
def test_bad_urls_are_value_errors_naming_the_url(url: str) -> None:
    with pytest.raises(ValueError, match="is not a valid WebSocket URL"):
        parse_url(url)


def test_a_non_string_url_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_url(b"ws://x/")  # type: ignore[arg-type]


def test_proxy_url_with_credentials_and_default_ports() -> None:
    proxy = parse_proxy("http://user:s%3Acret@proxy.example")
    assert (proxy.host, proxy.port, proxy.secure) == ("proxy.example", 80, False)
    assert (proxy.username, proxy.password) == ("user", "s:cret")
    assert parse_proxy("https://proxy.example").port == 443
    assert parse_proxy("https://proxy.example").secure


def test_proxy_without_scheme_means_http() -> None:
    proxy = parse_proxy("proxy.example:3128")
    assert (proxy.host, proxy.port, proxy.secure) == ("proxy.example", 3128, False)


def test_proxy_options_dict_as_in_the_original() -> None:
    proxy = parse_proxy(
        {"origin": "https://[::1]:3129", "headers": {"User-Agent": "x"}, "tls": {"verify": False}}
    )
    assert (proxy.host, proxy.port, proxy.secure) == ("::1", 3129, True)
    assert proxy.headers == (("User-Agent", "x"),)
    assert proxy.tls == {"verify": False}


@pytest.mark.parametrize("proxy", ["socks://host:1080", "ftp://host", "http://host:nope", {"headers": {}},
                                   {"origin": "socks5://h", "headers": {"X": "y"}}])
def test_unusable_proxy_options_are_value_errors(proxy: object) -> None:
    with pytest.raises(ValueError):
        parse_proxy(proxy)  # type: ignore[arg-type]


def test_unknown_proxy_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Unrecognized proxy option: tsl"):
        parse_proxy({"origin": "http://h", "tsl": {}})


WS = parse_url("ws://app.example.com:8080/")
WSS = parse_url("wss://app.example.com/")


def test_ws_uses_http_proxy_and_wss_uses_https_proxy() -> None:
    env = {"http_proxy": "http://plain:1", "https_proxy": "http://secure:2"}
    assert proxy_from_environment(WS, env).host == "plain"  # type: ignore[union-attr]
    assert proxy_from_environment(WSS, env).host == "secure"  # type: ignore[union-attr]


def test_both_fall_back_to_all_proxy_and_upper_case_names_work() -> None:
    env = {"ALL_PROXY": "http://every:3"}
    assert proxy_from_environment(WS, env).host == "every"  # type: ignore[union-attr]
    assert proxy_from_environment(WSS, {"HTTPS_PROXY": "http://up:4"}).host == "up"  # type: ignore[union-attr]


def test_lower_case_wins_over_upper_case() -> None:
    env = {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"}
    assert proxy_from_environment(WS, env).host == "lower"  # type: ignore[union-attr]


def test_upper_case_http_proxy_is_ignored_in_a_cgi_request() -> None:
    # httpoxy: a CGI client's "Proxy:" header arrives as HTTP_PROXY.
    assert proxy_from_environment(WS, {"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"}) is None


def test_no_environment_means_no_proxy() -> None:
    assert proxy_from_environment(WS, {}) is None
    assert proxy_from_environment(WS, {"http_proxy": "  "}) is None


@pytest.mark.parametrize(
    ("scheme", "version"),
    [("socks5", SocksVersion.SOCKS5), ("socks5h", SocksVersion.SOCKS5H),
     ("socks4", SocksVersion.SOCKS4), ("SOCKS4a", SocksVersion.SOCKS4A)],
)
def test_socks_proxies_from_all_proxy_default_to_port_1080(scheme: str, version: SocksVersion) -> None:
    proxy = proxy_from_environment(WS, {"all_proxy": f"{scheme}://u:p%40ss@h"})
    assert proxy is not None and (proxy.socks, proxy.host, proxy.port) == (version, "h", 1080)
    assert (proxy.username, proxy.password, proxy.scheme) == ("u", "p@ss", version.value)


def test_a_scheme_we_cannot_speak_in_the_environment_is_an_error_naming_the_variable() -> None:
    # Ignoring it would connect directly, bypassing the proxy the user set (issue 11).
    with pytest.raises(ValueError, match="all_proxy.*unsupported proxy 'socks://u:\\*\\*\\*@h:1080'"):
        proxy_from_environment(WS, {"all_proxy": "socks://u:secret@h:1080"})


def test_no_proxy_exempts_matching_hosts() -> None:
    env = {"http_proxy": "http://p:1", "no_proxy": "localhost,.example.com"}
    assert proxy_from_environment(WS, env) is None
    assert proxy_from_environment(parse_url("ws://other.org/"), env) is not None


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("anything", 80, "*", True),
        ("example.com", 80, "example.com", True),
        ("a.example.com", 80, "example.com", True),
        ("a.example.com", 80, ".example.com", True),
        ("example.com", 80, ".example.com", True),
        ("badexample.com", 80, "example.com", False),
        ("EXAMPLE.com", 80, "example.COM", True),
        ("example.com", 8080, "example.com:8080", True),
        ("example.com", 80, "example.com:8080", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("127.0.0.1", 80, "localhost, 127.0.0.1", True),
        ("::1", 80, "::1", True),
        ("::1", 9000, "[::1]:9000", True),
        ("::1", 9001, "[::1]:9000", False),
        ("example.com", 80, "  ", False),
    ],
)
def test_no_proxy_entries(host: str, port: int, no_proxy: str, bypass: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypass


def test_a_no_proxy_port_of_non_ascii_digits_is_ignored_not_a_crash() -> None:
    from faye_websocket.net.proxies import bypasses_proxy

    assert bypasses_proxy("example.com", 80, "example.com:\u00b2") is True


@pytest.mark.usefixtures("no_proxy_environment")
@pytest.mark.parametrize(
    "value", ["gopher://user:s3cret@proxy.example:1080", "http://user:s3cret@proxy.example:99999"]
)
def test_an_unusable_proxy_in_the_environment_is_an_error_without_its_password(
    no_leaks: None, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Ignoring it would connect directly, bypassing the proxy the user set (issue 11).
    monkeypatch.setenv("http_proxy", value)
    with pytest.raises(ValueError, match="http_proxy") as caught:
        proxy_from_environment(parse_url("ws://127.0.0.1:9/"))
    assert "proxy.example" in str(caught.value) and "s3cret" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        parse_proxy(value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.usefixtures("no_proxy_environment")
@pytest.mark.parametrize("name", ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"])
def test_each_spelling_set_in_os_environ_is_seen_at_the_next_lookup(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # proxy_from_environment answers "none set" in one look at os.environ: a variable set or
    # removed between two connects must still count at the next one.
    target = parse_url("ws://example.org/")
    assert proxy_from_environment(target) is None
    monkeypatch.setenv(name, "http://proxy.example:3128")
    found = proxy_from_environment(target)
    assert found is not None and (found.host, found.port) == ("proxy.example", 3128)
    monkeypatch.setenv("NO_PROXY" if name.isupper() else "no_proxy", "example.org")
    assert proxy_from_environment(target) is None
    monkeypatch.delenv(name)
    assert proxy_from_environment(target) is None


@pytest.mark.usefixtures("no_proxy_environment")
@pytest.mark.parametrize("name", ["https_proxy", "HTTPS_PROXY"])
def test_an_https_proxy_in_os_environ_is_seen_for_wss_only(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "http://proxy.example:3128")
    assert proxy_from_environment(parse_url("ws://example.org/")) is None
    assert proxy_from_environment(parse_url("wss://example.org/")) is not None


def test_a_bad_url_is_refused_every_time_and_a_good_one_parsed_once() -> None:
    # parse_url keeps its results; a refusal is not kept, so it is raised again.
    for _ in range(2):
        with pytest.raises(ValueError, match="fragments"):
            parse_url("ws://example.com/#top")
    assert parse_url("ws://example.com/a") is parse_url("ws://example.com/a")
    with pytest.raises(TypeError):
        parse_url(["ws://example.com/"])  # type: ignore[arg-type]
