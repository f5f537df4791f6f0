"""Thousands of idle WebSockets whose clients vanish at once: the server answers a legitimate
client about as soon as a bare thread-per-connection echo server does in the same run."""

from __future__ import annotations

import pytest

from tests.integration.overload.support import ServerProcess, mass_disconnect, raise_own_descriptor_limit

IDLE_COUNT = 3000
SLACK = 2.0  # seconds added to twice the bare server's time (the bound)

pytestmark = pytest.mark.timeout(400)


def test_a_mass_disconnect_costs_at_most_twice_the_bare_servers_time_plus_2_s() -> None:
    raise_own_descriptor_limit(2 * IDLE_COUNT + 256)
    with ServerProcess("bare") as bare:
        reference = mass_disconnect(bare, IDLE_COUNT)
    bound = 2 * reference["echo_s"] + SLACK
    for kind in ("demo", "raw"):  # the http.server adapter (as the demo ships it) and socketserver's
        with ServerProcess(kind) as server:
            ours = mass_disconnect(server, IDLE_COUNT)
            log = server.log()
        assert ours["echo_s"] <= bound, (kind, ours, reference)
        assert "Traceback" not in log, log[-3000:]
