"""Real HTTP CONNECT proxies for tests: squid (plain and TLS listeners) and tinyproxy, with Basic auth."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from .certs import TLSCerts
from .process import Process, free_port, require_executable

PROXY_USER = "user"
PROXY_PASSWORD = "secret"
LOOPBACK = "127.0.0.1"

# Debian's squid basic auth helper (package squid); it reads an htpasswd-style file.
SQUID_BASIC_AUTH_HELPER = "/usr/lib/squid/basic_ncsa_auth"

# tinyproxy 1.11 sometimes misses a SIGTERM that arrives while it enters select() (seen in 2 of 40
# stops, which then waited for SIGKILL); it holds no state worth a graceful stop.
_TINYPROXY_TERM_GRACE = 0.3

# A free port can be taken between free_port() and the program's bind: try again with new ports.
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class ProxyServer:
    """A running forward proxy: where it listens and the credentials it wants (None: no auth).

    tls_port is the proxy's TLS listener (squid's https_port), None if it has none; noauth_port a
    listener of the same proxy that wants no credentials (squid), see without_auth().
    """

    kind: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls_port: int | None = None
    noauth_port: int | None = None
    process: Process | None = field(default=None, repr=False, compare=False)

    def url(self, *, tls: bool = False, credentials: bool = True) -> str:
        """Return the proxy URL, e.g. http://user:secret@127.0.0.1:3128 (https:// and tls_port if tls)."""
        if tls and self.tls_port is None:
            raise ValueError(f"{self.kind} has no TLS listener")
        scheme, port = ("https", self.tls_port) if tls else ("http", self.port)
        userinfo = f"{self.username}:{self.password}@" if credentials and self.username else ""
        return f"{scheme}://{userinfo}{self.host}:{port}"

    def without_auth(self) -> ProxyServer:
        """Return this proxy's unauthenticated listener (squid only); raise ValueError if none."""
        if self.noauth_port is None:
            raise ValueError(f"{self.kind} has no listener without auth")
        return replace(self, port=self.noauth_port, username=None, password=None, tls_port=None)

    def authorization(self, username: str | None = None, password: str | None = None) -> str:
        """Return a Proxy-Authorization value (Basic) for the given or the proxy's own credentials."""
        pair = f"{username or self.username}:{password or self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def connect_request(self, target: str, *, credentials: bool = True) -> bytes:
        """Return the bytes of a CONNECT request for `target` ("host:port"), with auth if wanted."""
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if credentials and self.username:
            lines.append(f"Proxy-Authorization: {self.authorization()}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _apr1_hash(password: str) -> str:
    """Return an Apache apr1 hash of `password` from `openssl passwd` (no apache2-utils needed)."""
    openssl = require_executable("openssl")
    done = subprocess.run([openssl, "passwd", "-apr1", password], capture_output=True, text=True,
                          timeout=10, check=True)
    return done.stdout.strip()


def _squid_config(d: Path, port: int, tls_port: int, noauth_port: int) -> str:
    """Render squid.conf: auth on `port` and `tls_port`, none on `noauth_port`, CONNECT to any port."""
    return f"""# squid forward proxy for faye_websocket tests; run: squid -N -f squid.conf
http_port {LOOPBACK}:{port}
http_port {LOOPBACK}:{noauth_port} name=noauth
https_port {LOOPBACK}:{tls_port} tls-cert={d}/server.crt tls-key={d}/server.key
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log stdio:{d}/access.log
cache deny all
cache_mem 8 MB
coredump_dir {d}
visible_hostname localhost
shutdown_lifetime 0 seconds
# the pinger child can outlive squid
pinger_enable off
auth_param basic program {SQUID_BASIC_AUTH_HELPER} {d}/passwd
auth_param basic realm faye-test
auth_param basic children 2 startup=1
acl authed proxy_auth REQUIRED
acl noauth_listener myportname noauth
# Debian's default allows CONNECT only to 443 (SSL_ports); these rules allow any port.
http_access allow localhost noauth_listener
http_access allow localhost authed
http_access deny all
"""


def _prepare_squid_dir(d: Path, certs: TLSCerts) -> None:
    """Write the password file and copy the certificate; hand the directory to squid's user."""
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(certs.server_crt, d / "server.crt")
    shutil.copyfile(certs.server_key, d / "server.key")
    (d / "passwd").write_text(f"{PROXY_USER}:{_apr1_hash(PROXY_PASSWORD)}\n")
    if os.geteuid() == 0:
        # squid started as root drops to user "proxy", which must read and write all of these.
        shutil.chown(d, "proxy", "proxy")
        for child in d.iterdir():
            shutil.chown(child, "proxy", "proxy")


@contextlib.contextmanager
def run_squid(certs: TLSCerts) -> Iterator[ProxyServer]:
    """Run squid in the foreground with Basic auth (user/secret) on a plain and a TLS listener.

    Yields a ProxyServer (port, tls_port); its without_auth() is a third listener that wants no
    credentials. Stopping squid takes about 1.8 s, so share it (session fixture `squid_proxy`).
    Squid drops to user "proxy", which cannot enter pytest's 0700 temp dirs, so it works in its
    own directory under the system temp dir, removed afterwards.
    """
    squid = require_executable("squid")
    require_executable(SQUID_BASIC_AUTH_HELPER)
    workdir = Path(tempfile.mkdtemp(prefix="faye-squid-"))
    workdir.chmod(0o755)
    try:
        _prepare_squid_dir(workdir, certs)
        server, proc = _start_with_retries(lambda: _start_squid(squid, workdir))
        try:
            yield server
        finally:
            proc.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _start_squid(squid: str, workdir: Path) -> tuple[ProxyServer, Process]:
    """Render squid.conf with fresh ports and start squid until all three listeners accept."""
    port, tls_port, noauth_port = free_port(), free_port(), free_port()
    conf = workdir / "squid.conf"
    conf.write_text(_squid_config(workdir, port, tls_port, noauth_port))
    proc = Process(
        [squid, "-N", "-f", str(conf)], name="squid", cwd=str(workdir),
        ready_ports=[(LOOPBACK, port), (LOOPBACK, tls_port), (LOOPBACK, noauth_port)],
        log_files=[str(workdir / "cache.log")], term_grace=5.0,
    ).start()
    server = ProxyServer("squid", LOOPBACK, port, PROXY_USER, PROXY_PASSWORD, tls_port, noauth_port, proc)
    return server, proc


def _tinyproxy_config(port: int, auth: bool) -> str:
    """Render tinyproxy.conf: loopback only; no ConnectPort lines, so CONNECT goes to any port."""
    basic = f"BasicAuth {PROXY_USER} {PROXY_PASSWORD}\n" if auth else ""
    return (f"# tinyproxy for faye_websocket tests; run: tinyproxy -d -c tinyproxy.conf\n"
            f"Port {port}\nListen {LOOPBACK}\nTimeout 30\nMaxClients 50\nAllow {LOOPBACK}\n"
            f"{basic}LogLevel Info\n")


@contextlib.contextmanager
def run_tinyproxy(workdir: Path, *, auth: bool = True) -> Iterator[ProxyServer]:
    """Run tinyproxy in the foreground, with Basic auth user/secret unless auth=False.

    It has no TLS listener, answers CONNECT with `HTTP/1.0 200 Connection established`, missing
    credentials with 407 and wrong ones with 401.
    """
    tinyproxy = require_executable("tinyproxy")
    workdir.mkdir(parents=True, exist_ok=True)

    def attempt() -> tuple[ProxyServer, Process]:
        port = free_port()
        conf = workdir / "tinyproxy.conf"
        conf.write_text(_tinyproxy_config(port, auth))
        proc = Process([tinyproxy, "-d", "-c", str(conf)], name="tinyproxy", cwd=str(workdir),
                       ready_ports=[(LOOPBACK, port)], term_grace=_TINYPROXY_TERM_GRACE).start()
        user, password = (PROXY_USER, PROXY_PASSWORD) if auth else (None, None)
        return ProxyServer("tinyproxy", LOOPBACK, port, user, password, process=proc), proc

    server, proc = _start_with_retries(attempt)
    try:
        yield server
    finally:
        proc.stop()


def _start_with_retries(attempt: Callable[[], tuple[ProxyServer, Process]]) -> tuple[ProxyServer, Process]:
    """Call `attempt` until it starts (a port taken by someone else fails one attempt)."""
    for remaining in range(_START_ATTEMPTS - 1, -1, -1):
        try:
            return attempt()
        except (RuntimeError, TimeoutError):
            if remaining == 0:
                raise
    raise AssertionError("unreachable")
