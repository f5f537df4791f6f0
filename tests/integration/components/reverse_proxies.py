"""Real reverse proxies in front of a test's server: nginx and haproxy, each with a TLS listener.

They normalise requests differently (nginx rewrites Connection and Host, haproxy lowercases every
header name), which is what the WebSocket and EventSource tests through them are about.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .certs import TLSCerts
from .process import Process, free_port, require_executable

LOOPBACK = "127.0.0.1"

# A free port can be taken between free_port() and the program's bind: try again with new ports.
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class ReverseProxy:
    """A running reverse proxy: `port` forwards plain HTTP, `tls_port` terminates TLS (test certs)."""

    kind: str
    host: str
    port: int
    tls_port: int
    backend_port: int
    process: Process | None = field(default=None, repr=False, compare=False)

    def url(self, path: str = "/", scheme: str = "http") -> str:
        """Return a URL through the proxy; scheme http/ws use `port`, https/wss use `tls_port`."""
        port = self.tls_port if scheme in ("https", "wss") else self.port
        return f"{scheme}://{self.host}:{port}{path}"


def nginx_config(d: Path, http_body: str) -> str:
    """A foreground nginx.conf for a test: ``http_body`` inside its http block, and every file
    nginx writes (pid, logs, temp files) under ``d`` (whose ``tmp`` directory must exist)."""
    # Started as root, nginx would run its workers as nobody, who cannot enter pytest's 0700 dirs.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""# nginx reverse proxy for faye_websocket tests; run: nginx -p DIR -c DIR/nginx.conf
daemon off;
master_process on;
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path       {d}/tmp/proxy;
    fastcgi_temp_path     {d}/tmp/fastcgi;
    uwsgi_temp_path       {d}/tmp/uwsgi;
    scgi_temp_path        {d}/tmp/scgi;
{http_body}}}
"""


def _nginx_config(d: Path, port: int, tls_port: int, backend_port: int, certs: TLSCerts) -> str:
    """Render nginx.conf: WebSocket upgrade headers passed on, no buffering (SSE), TLS listener."""
    return nginx_config(d, f"""    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream app {{ server {LOOPBACK}:{backend_port}; }}
    server {{
        listen {LOOPBACK}:{port};
        listen {LOOPBACK}:{tls_port} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate     {certs.server_crt};
        ssl_certificate_key {certs.server_key};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # stream EventSource events at once
            proxy_buffering off;
            proxy_read_timeout 3600s;
        }}
    }}
""")


def _haproxy_config(port: int, tls_port: int, backend_port: int, certs: TLSCerts) -> str:
    """Render haproxy.cfg; `timeout tunnel` governs connections once upgraded to WebSocket."""
    return f"""# haproxy reverse proxy for faye_websocket tests; run: haproxy -db -f haproxy.cfg
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client  30s
    timeout server  30s
    timeout tunnel  1h
frontend fe
    bind {LOOPBACK}:{port}
    bind {LOOPBACK}:{tls_port} ssl crt {certs.combined_pem}
    default_backend app
backend app
    server app1 {LOOPBACK}:{backend_port}
"""


def _start(kind: str, workdir: Path, backend_port: int, certs: TLSCerts) -> ReverseProxy:
    """Render the config with fresh ports and start `kind` until it listens (retrying on port races)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(_START_ATTEMPTS):
        port, tls_port = free_port(), free_port()
        if kind == "nginx":
            (workdir / "tmp").mkdir(exist_ok=True)
            conf = workdir / "nginx.conf"
            conf.write_text(_nginx_config(workdir, port, tls_port, backend_port, certs))
            argv = [require_executable("nginx"), "-p", str(workdir), "-c", str(conf),
                    "-e", str(workdir / "error.log")]
        else:
            conf = workdir / "haproxy.cfg"
            conf.write_text(_haproxy_config(port, tls_port, backend_port, certs))
            argv = [require_executable("haproxy"), "-db", "-f", str(conf)]
        ports = [(LOOPBACK, port), (LOOPBACK, tls_port)]
        proc = Process(argv, name=kind, cwd=str(workdir), ready_ports=ports,
                       log_files=[str(workdir / "error.log")])
        try:
            proc.start()
        except (RuntimeError, TimeoutError):
            if attempt == _START_ATTEMPTS - 1:
                raise
            continue
        return ReverseProxy(kind, LOOPBACK, port, tls_port, backend_port, proc)
    raise AssertionError("unreachable")


ProxyRun = contextlib.AbstractContextManager[ReverseProxy]


@contextlib.contextmanager
def run_reverse_proxy(kind: str, workdir: Path, backend_port: int, certs: TLSCerts) -> Iterator[ReverseProxy]:
    """Run nginx or haproxy (``kind``) in front of 127.0.0.1:`backend_port`; stopped on exit."""
    proxy = _start(kind, workdir, backend_port, certs)
    assert proxy.process is not None
    try:
        yield proxy
    finally:
        proxy.process.stop()


def run_nginx(workdir: Path, backend_port: int, certs: TLSCerts) -> ProxyRun:
    """nginx in front of the backend (it sends `Connection: upgrade`, Host without port)."""
    return run_reverse_proxy("nginx", workdir, backend_port, certs)


def run_haproxy(workdir: Path, backend_port: int, certs: TLSCerts) -> ProxyRun:
    """haproxy in front of the backend (it lowercases every header name)."""
    return run_reverse_proxy("haproxy", workdir, backend_port, certs)
