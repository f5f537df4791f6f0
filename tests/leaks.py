"""Leak checks: open file descriptors and live threads must come back to where a test started."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator

from faye_websocket.connection.keepalive import KeepaliveHub

# The keepalive hub is process-wide (one thread and one epoll for every connect()ed client) and
# starts on first use; started here, the first test that uses it does not count it as a leak.
KeepaliveHub.instance()

# Pause between fd counts while stragglers finish closing: there is no event for "fd closed".
_FD_POLL_INTERVAL = 0.02
# Threads that start once per process and live with it by design (one for all connections),
# so the first test to start them has not leaked them.
PROCESS_THREADS = frozenset({"faye_websocket-watchdog", "faye_websocket-idle-watcher"})


def open_fd_count() -> int:
    """Return how many file descriptors this process has open (Linux /proc)."""
    return len(os.listdir("/proc/self/fd"))


def thread_count() -> int:
    """Return how many Python threads are alive in this process."""
    return threading.active_count()


def _describe_fds() -> str:
    """Return one line per open fd with its target, for failure messages."""
    lines = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            lines.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            continue
    return "\n".join(lines)


@contextlib.contextmanager
def assert_no_leaks(timeout: float = 2.0) -> Iterator[None]:
    """Assert that the block leaves no new thread alive and no more fds open than before it.

    Threads started inside are joined (each bounded by what is left of `timeout`) before counting,
    so a thread that is just finishing is not reported. Raises AssertionError naming the leftovers.
    Checked only when the block itself did not raise.
    """
    threads_before = set(threading.enumerate())
    fds_before = open_fd_count()
    yield
    deadline = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(max(0.0, deadline - time.monotonic()))
    started = set(threading.enumerate()) - threads_before
    leftover = [t for t in started if t.is_alive() and t.name not in PROCESS_THREADS]
    while open_fd_count() > fds_before and time.monotonic() < deadline:
        time.sleep(_FD_POLL_INTERVAL)
    if open_fd_count() > fds_before:
        # An fd held only by a reference cycle is closed by the cyclic collector, not leaked:
        # werkzeug's request handler leaves its drain selector (an epoll fd) in a traceback cycle
        # when the connection it would drain has been taken over.
        gc.collect()
    fds_after = open_fd_count()
    problems = []
    if leftover:
        problems.append("threads still alive: " + ", ".join(sorted(t.name for t in leftover)))
    if fds_after > fds_before:
        problems.append(f"open fds went from {fds_before} to {fds_after}:\n{_describe_fds()}")
    assert not problems, "leak after the test: " + "; ".join(problems)
