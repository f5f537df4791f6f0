"""Headless Chromium loads examples/ws.html from the demo server and completes its echo.

The page echoes a text, a binary and a 70 KB message through examples/server.py, closes with
1000, and POSTs its result to the test's collector. Fails in CI when chromium is missing.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.integration.components import ResultCollector, run_chromium
from tests.integration.examples.test_demo_server import demo

pytestmark = pytest.mark.component


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_chromium_echoes_text_binary_and_70kb_with_permessage_deflate(
        result_collector: ResultCollector, tls: bool) -> None:
    flags = ("--tls",) if tls else ()
    with demo(*flags) as (port, server):
        scheme = "https" if tls else "http"
        report = quote(result_collector.url("/result"), safe="")
        page = f"{scheme}://127.0.0.1:{port}/ws.html?path=/echo&report={report}"
        browser_flags = ["--ignore-certificate-errors"] if tls else []
        with run_chromium(page, timeout=40, extra_flags=browser_flags) as browser:
            result = result_collector.wait_result(browser.remaining(),
                                                  context=browser.output() + server.output())
    assert result["ok"], result
    assert result["protocol"] == "irc"
    assert "permessage-deflate" in result["extensions"]
    assert [item["same"] for item in result["received"]] == [True, True, True]
    assert (result["closeCode"], result["wasClean"]) == (1000, True)
    assert result["url"].startswith("wss://" if tls else "ws://")
