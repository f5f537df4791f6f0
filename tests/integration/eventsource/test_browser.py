"""A real browser's EventSource (headless Chromium) against our writer: unnamed and named events,
reconnection after the server drops the stream, and the Last-Event-ID it sends on the way back."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from faye_websocket.eventsource.writer import EventSource
from tests.integration.components import ResultCollector, ReverseProxy, run_chromium
from tests.integration.eventsource_support import serving
from tests.integration.examples.test_eventsource_demo import load_demo
from tests.paths import EXAMPLES

PAGE = """<!doctype html><meta charset="utf-8"><script>
var results = {events: [], opens: 0, errors: 0};
var source = new EventSource('/stream');
function report(extra) {
  source.close();
  for (var key in extra) results[key] = extra[key];
  fetch('COLLECTOR/result', {method: 'POST', body: JSON.stringify(results)});
}
function record(event) {
  results.events.push({type: event.type, data: event.data, id: event.lastEventId});
  if (results.events.length === 4) report({});
}
source.onmessage = record;
source.addEventListener('update', record);
source.onopen = function () { results.opens += 1; };
source.onerror = function () { results.errors += 1; };
setTimeout(function () { report({timeout: true}); }, 15000);
</script>"""

EXPECTED_EVENTS = [
    {"type": "message", "data": "one", "id": "1"},
    {"type": "update", "data": "two\nlines", "id": "2"},
    {"type": "message", "data": "three", "id": "3"},
    {"type": "update", "data": "four", "id": "4"},
]


class TwoConnections:
    """First connection: two events then the server drops it; second: two more from Last-Event-ID."""

    def __init__(self) -> None:
        self.last_event_ids: list[str] = []
        self.done = threading.Event()

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, retry=0.1, ping=None)
        self.last_event_ids.append(es.last_event_id)
        if not es.last_event_id:
            es.send("one", id=1)
            es.send("two\nlines", event="update", id=2)
            es.close()  # the browser reconnects after retry
            return
        es.send("three", id=3)
        es.send("four", event="update", id=4)
        es.wait(20)  # until the page closes its EventSource


def run_page(collector: ResultCollector, stream: TwoConnections) -> object:
    page = PAGE.replace("COLLECTOR", collector.url("")).encode()
    pages = {"/page": (page, "text/html; charset=utf-8")}
    with serving(stream, pages=pages) as server, run_chromium(server.url("/page"), timeout=30) as browser:
        return collector.wait_result(browser.remaining(), browser.output())


def test_chromium_receives_named_and_unnamed_events_and_resumes_with_last_event_id(
    result_collector: ResultCollector,
) -> None:
    stream = TwoConnections()
    result = run_page(result_collector, stream)
    assert isinstance(result, dict)
    assert "timeout" not in result, result
    assert result["events"] == EXPECTED_EVENTS
    assert result["opens"] == 2 and result["errors"] >= 1
    assert stream.last_event_ids[:2] == ["", "2"]  # the writer exposes the browser's Last-Event-ID


def test_chromium_through_nginx_gets_the_same_stream(
    result_collector: ResultCollector, nginx_proxy: Callable[[int], ReverseProxy]
) -> None:
    stream = TwoConnections()
    page = PAGE.replace("COLLECTOR", result_collector.url("")).encode()
    with serving(stream, pages={"/page": (page, "text/html; charset=utf-8")}) as server:
        proxy = nginx_proxy(server.port)
        with run_chromium(proxy.url("/page"), timeout=30) as browser:
            result = result_collector.wait_result(browser.remaining(), browser.output())
    assert isinstance(result, dict)
    assert "timeout" not in result, result
    assert result["events"] == EXPECTED_EVENTS
    assert stream.last_event_ids[:2] == ["", "2"]


SSE_PAGE = EXAMPLES / "sse.html"
# Appended to examples/sse.html: report the list once it shows two events (its globals are
# `list`, `statusLabel` and `source`).
REPORTER = """<script>
var observer = new MutationObserver(function () {
  if (list.children.length < 2) return;
  observer.disconnect();
  source.close();
  var items = Array.prototype.map.call(list.children, function (li) { return li.textContent; });
  var shown = statusLabel.textContent;
  fetch('COLLECTOR/result', {method: 'POST', body: JSON.stringify({items: items, status: shown})});
});
observer.observe(list, {childList: true});
</script>"""


def test_example_page_lists_the_demo_stream(result_collector: ResultCollector) -> None:
    demo = load_demo()
    reporter = REPORTER.replace("COLLECTOR", result_collector.url(""))
    page = SSE_PAGE.read_text().replace("</body>", reporter + "</body>").encode()
    pages = {"/sse.html": (page, "text/html; charset=utf-8")}

    def stream(handler: BaseHTTPRequestHandler) -> None:
        demo.serve_demo_stream(handler, interval=0.05)

    with serving(stream, pages=pages) as server, run_chromium(server.url("/sse.html"), timeout=30) as browser:
        result = result_collector.wait_result(browser.remaining(), browser.output())
    assert result == {"items": ["message [id 2]: Time: 2", "message [id 1]: Time: 1"], "status": "open"}


CHROMIUM_PAGE = """<!doctype html><meta charset="utf-8"><script>
var source = new EventSource('/stream'), ids = [];
source.onmessage = function (event) {
  ids.push(event.lastEventId);
  if (ids.length === 2) {
    source.close();
    fetch('COLLECTOR/result', {method: 'POST', body: JSON.stringify(ids)});
  }
};
</script>"""


def test_chromium_sends_a_unicode_last_event_id_that_the_writer_reads_back(
    no_leaks: None,
    result_collector: ResultCollector,
) -> None:
    seen: list[str] = []

    def stream(handler: BaseHTTPRequestHandler) -> None:
        es = EventSource.from_handler(handler, retry=0.05, ping=None)
        seen.append(es.last_event_id)
        es.send("x", id="\u65e5\u672c-\u20ac")
        if len(seen) == 1:
            es.close()  # the browser reconnects with Last-Event-ID
        else:
            es.wait(20)

    page = CHROMIUM_PAGE.replace("COLLECTOR", result_collector.url("")).encode()
    with serving(stream, pages={"/page": (page, "text/html; charset=utf-8")}) as server, \
            run_chromium(server.url("/page"), timeout=30) as browser:
        result = result_collector.wait_result(browser.remaining(), browser.output())
    assert result == ["\u65e5\u672c-\u20ac"] * 2
    assert seen[:2] == ["", "\u65e5\u672c-\u20ac"]
