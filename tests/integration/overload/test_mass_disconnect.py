"""Thousands of idle WebSockets whose clients vanish at once: the server answers a legitimate
client about as soon as a bare thread-per-connection echo server does in the same run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.overload.support import ServerProcess, mass_disconnect, raise_own_descriptor_limit

IDLE_COUNT = 3000
SLACK = 2.0  # seconds added to twice the bare server's time (the bound)
# The two servers are measured one after the other, so a load spike on this shared machine can
# land on ours alone: a result over the bound is measured once more, beside a fresh reference.
ATTEMPTS = 2

pytestmark = pytest.mark.timeout(600)


def measure(kind: str) -> tuple[dict[str, Any], str]:
    """One mass disconnect against a fresh server of ``kind``: the numbers and the server's log."""
    with ServerProcess(kind) as server:
        result = mass_disconnect(server, IDLE_COUNT)
        return result, server.log()


def test_a_mass_disconnect_costs_at_most_twice_the_bare_servers_time_plus_2_s() -> None:
    raise_own_descriptor_limit(2 * IDLE_COUNT + 256)
    reference, _ = measure("bare")
    for kind in ("demo", "raw"):  # the http.server adapter (as the demo ships it) and socketserver's
        for attempt in range(ATTEMPTS):
            ours, log = measure(kind)
            assert "Traceback" not in log, log[-3000:]
            if ours["echo_s"] <= 2 * reference["echo_s"] + SLACK or attempt == ATTEMPTS - 1:
                break
            reference, _ = measure("bare")
        assert ours["echo_s"] <= 2 * reference["echo_s"] + SLACK, (kind, ours, reference)
