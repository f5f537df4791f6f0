"""The process-wide memory budget: peers holding unfinished messages cannot exhaust the server."""

from __future__ import annotations

import pytest

from tests.integration.overload.support import MIB, ServerProcess, unfinished_messages

HELD_COUNT = 24
HELD_SIZE = 60 * MIB
RSS_LIMIT_MIB = 768

pytestmark = pytest.mark.timeout(180)


def test_unfinished_60_mib_messages_leave_the_server_under_768_mib_and_serving() -> None:
    with ServerProcess("demo") as server:
        result = unfinished_messages(server, HELD_COUNT, HELD_SIZE)
        log = server.log()
    assert result["alive"], result
    assert result["peak_rss_mib"] < RSS_LIMIT_MIB, result
    assert result["served_after_s"] is not None, result
    assert result["refused"] > 0, result  # the budget, not luck, kept it small
    assert set(result["close_codes"]) <= {"1013", "None"}, result
    assert "Traceback" not in log, log[-3000:]
