"""Real third-party components for integration tests: start them, wait for them, always stop them.

Import from here: ``from tests.integration.components import require_executable, Process, ...``.
Fixtures live in tests/integration/conftest.py (session ones are per xdist worker; ports are dynamic).

Helpers (plain functions, usable outside fixtures):
- ``require_executable(name) -> str``: absolute path of a program; missing -> pytest.fail if CI=true,
  else pytest.skip. ``require(condition, reason)`` does the same for any condition. ``in_ci()``.
- ``free_port(host="127.0.0.1") -> int``; ``wait_for_port(host, port, timeout=10.0, process=None)``
  (raises TimeoutError, or RuntimeError with the output if `process` died); ``port_is_open(host, port)``.
- ``Process(argv, *, name=None, cwd=None, env=None, ready_ports=(), ready_line=None, ready_timeout=10.0,
  term_grace=5.0, stop_timeout=10.0, log_files=())``: context manager (or start()/stop()). Own session;
  start() waits for the regex ``ready_line`` in the output and for every (host, port) in ready_ports;
  stop() SIGTERMs the process group, SIGKILLs after term_grace, waits until the group is gone.
  ``.output()`` = last output lines + log file tails (put it in assertion messages); ``.ready_match``;
  ``.startup_seconds``; ``.pid``; ``.poll()``. ``live_group_members(pgid)``: live pids in a group.
- ``make_tls_certs(directory) -> TLSCerts``.
- ``run_squid(certs)`` (own dir under /tmp: squid runs as user proxy), ``run_tinyproxy(workdir,
  auth=True)`` -> context managers of ProxyServer.
- ``run_microsocks(auth=False)`` (components/socks.py) -> context manager of SocksServer: Debian's
  microsocks, SOCKS5 with username/password when ``auth``; ``.url(scheme, credentials=True)``,
  ``.tunnelled("host:port", timeout)`` (its log shows the tunnel and which name it resolved).
- ``run_nginx(workdir, backend_port, certs)``, ``run_haproxy(...)`` -> context managers of ReverseProxy.
- ``run_chromium(url, *, timeout, extra_flags=())`` -> context manager of Browser (stops its group).
- ``ResultCollector(routes=None, directory=None, ssl_context=None)``: stdlib HTTP(S) server on
  127.0.0.1:0 serving static files, recording ``POST /result`` JSON bodies; ``.add_route(path, body,
  content_type)``, ``.url(path, host="127.0.0.1")``, ``.wait_result(timeout, context="")``.
- ``run_node_server(name, *, port=0, certs=None)`` -> context manager of NodePeer (TLS with certs);
  ``run_node_client(name, url, messages=None, *, expect=None, timeout=10.0, extra_args=(),
  certs=None) -> NodeClientResult`` (.events, .messages, .extensions, .close, .returncode, .output).
- ``serving_in_thread(server, name)``: any socketserver's serve_forever() on a thread, stopped and
  joined on exit. ``wsgiref_server(app)``, ``werkzeug_server(app, tls=None)`` -> context managers of
  the port; ``gunicorn_server("module:app", *, worker="gthread", threads=4, chdir=None,
  pythonpath=None, ready_path=None)`` -> context manager of (port, Process); with ready_path it
  waits until the worker answers a GET there. ``require_module(name)``.
- ``open_fd_count()``, ``thread_count()``, ``assert_no_leaks(timeout=2.0)`` context manager (these
  live in tests/leaks.py, so unit tests can use them without the component stack).

Fixtures (tests/integration/conftest.py):
- ``tls_certs`` (session) -> TLSCerts: ``ca_pem``, ``server_crt``, ``server_key``, ``combined_pem``
  (cert+key, haproxy), ``spki_pin`` (chromium), ``server_context()``, ``client_context()`` (new
  ssl.SSLContext each call; the client trusts only the test CA), ``chromium_flags()``, ``ca``/``leaf``
  (trustme objects).
- ``squid_proxy`` (session) -> ProxyServer(kind, host, port, username="user", password="secret",
  tls_port, noauth_port): Basic auth on port and tls_port, CONNECT to any port; wrong or missing
  credentials get 407. ``squid_noauth_proxy`` (session): its listener without auth.
- ``tinyproxy_proxy`` (session) -> ProxyServer (no tls_port; answers ``HTTP/1.0 200 Connection
  established``; missing credentials 407, wrong ones 401). ``tinyproxy_noauth_proxy`` (session).
  ProxyServer: ``.url(tls=False, credentials=True)``, ``.authorization()`` (Proxy-Authorization
  value), ``.connect_request("host:port", credentials=True) -> bytes``, ``.without_auth()``.
- ``nginx_proxy`` / ``haproxy_proxy`` (function): factories ``(backend_port) -> ReverseProxy(kind, host,
  port, tls_port, backend_port)``; ``.url(path="/", scheme="http"|"ws"|"https"|"wss")``.
- ``node_peer_server`` (function): factory ``(name, tls=False) -> NodePeer`` for "ws_echo_server" or
  "faye_echo_server" (tests/peers/*.js); ``.url(path="/", scheme="ws", host=None)`` (wss/https
  when tls). ``run_node_client("ws_client" | "faye_client", url, messages)``: see node.py.
- ``result_collector`` (function) -> ResultCollector, and ``no_leaks`` (function, tests/conftest.py;
  list it first in the test's arguments) which asserts fds and threads return to their baseline.
"""

from tests.leaks import assert_no_leaks, open_fd_count, thread_count

from .browser import Browser, ResultCollector, run_chromium
from .certs import TLSCerts, make_tls_certs, spki_sha256_base64
from .node import NodeClientResult, NodePeer, run_node_client, run_node_server
from .process import (
    Process,
    free_port,
    in_ci,
    live_group_members,
    port_is_open,
    require,
    require_executable,
    wait_for_port,
)
from .proxies import PROXY_PASSWORD, PROXY_USER, ProxyServer, run_squid, run_tinyproxy
from .reverse_proxies import ReverseProxy, run_haproxy, run_nginx, run_reverse_proxy
from .servers import (
    gunicorn_server,
    require_module,
    serving_in_thread,
    werkzeug_server,
    wsgiref_server,
)

__all__ = [
    "PROXY_PASSWORD",
    "PROXY_USER",
    "Browser",
    "NodeClientResult",
    "NodePeer",
    "Process",
    "ProxyServer",
    "ResultCollector",
    "ReverseProxy",
    "TLSCerts",
    "assert_no_leaks",
    "free_port",
    "gunicorn_server",
    "in_ci",
    "live_group_members",
    "make_tls_certs",
    "open_fd_count",
    "port_is_open",
    "require",
    "require_executable",
    "require_module",
    "run_chromium",
    "run_haproxy",
    "run_nginx",
    "run_reverse_proxy",
    "run_node_client",
    "run_node_server",
    "run_squid",
    "run_tinyproxy",
    "serving_in_thread",
    "spki_sha256_base64",
    "thread_count",
    "wait_for_port",
    "werkzeug_server",
    "wsgiref_server",
]
