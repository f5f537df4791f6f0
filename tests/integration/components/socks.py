"""A real SOCKS5 proxy for tests: Debian's microsocks (RFC 1928, with RFC 1929 username/password).

microsocks has no config file: ``-i`` address, ``-p`` port, ``-u``/``-P`` credentials (then every
client must authenticate). It resolves domain names itself, so it serves socks5h as well.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from .process import Process, free_port, require_executable

SOCKS_USER = "sockuser"
SOCKS_PASSWORD = "s0cks:p@ss"  # a colon and an at sign: they must survive URL quoting
LOOPBACK = "127.0.0.1"
_START_ATTEMPTS = 3  # a free port can be taken before microsocks binds it
_LOG_POLL = 0.02  # seconds between looks at microsocks' output (it has no other signal)


@dataclass(frozen=True)
class SocksServer:
    """A running microsocks: where it listens and the credentials it wants (None: none)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    process: Process | None = field(default=None, repr=False, compare=False)

    def url(self, scheme: str = "socks5", *, credentials: bool = True) -> str:
        """The proxy URL, e.g. ``socks5h://sockuser:s0cks%3Ap%40ss@127.0.0.1:40123``."""
        userinfo = ""
        if credentials and self.username is not None:
            userinfo = f"{quote(self.username, safe='')}:{quote(self.password or '', safe='')}@"
        return f"{scheme}://{userinfo}{self.host}:{self.port}"

    def tunnelled(self, target: str, timeout: float) -> bool:
        """True once microsocks has logged a tunnel to ``target`` ("host:port"), within ``timeout``.

        The line shows both that the bytes went through the proxy and which name it resolved.
        """
        assert self.process is not None
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while f"connected to {target}" not in self.process.output():
            if time.monotonic() >= deadline:
                return False
            pause.wait(_LOG_POLL)
        return True


@contextlib.contextmanager
def run_microsocks(*, auth: bool = False) -> Iterator[SocksServer]:
    """Run microsocks on a free loopback port (with username/password when ``auth``); stop it after."""
    microsocks = require_executable("microsocks")
    credentials = ["-u", SOCKS_USER, "-P", SOCKS_PASSWORD] if auth else []
    error: Exception | None = None
    for _ in range(_START_ATTEMPTS):
        port = free_port()
        process = Process([microsocks, "-i", LOOPBACK, "-p", str(port), *credentials], name="microsocks",
                          ready_ports=[(LOOPBACK, port)], term_grace=1.0)
        try:
            process.start()
        except (RuntimeError, TimeoutError) as exc:
            error = exc
            continue
        try:
            user, password = (SOCKS_USER, SOCKS_PASSWORD) if auth else (None, None)
            yield SocksServer(LOOPBACK, port, user, password, process)
        finally:
            process.stop()
        return
    raise RuntimeError(f"microsocks did not start: {error}")
