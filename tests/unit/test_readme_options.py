"""The README's options tables list every keyword option of the public constructors, and no other.

COMMON rule: a line in the docs for every option. A new keyword-only parameter without a row, or a
row whose parameter is gone, fails here with the table's name.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

from faye_websocket import Client, EventSource, EventSourceClient, EventSourceResponse, WebSocket
from faye_websocket.client import reconnecting
from tests.paths import REPO_ROOT

README = REPO_ROOT / "README.md"

# The sentence that introduces a table -> the constructors whose options it lists.
TABLES: dict[str, list[Callable[..., Any]]] = {
    "Server `WebSocket`": [WebSocket.__init__],
    "Client `Client` and `connect()`": [Client.__init__],
    "Reconnecting client `reconnecting()`": [reconnecting],
    "EventSource writer `EventSource`": [EventSource.__init__, EventSourceResponse.__init__],
    "EventSource reader `EventSourceClient`": [EventSourceClient.__init__],
}


def options_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Options\n(.*?)^## ", text, re.S | re.M)
    assert match, "README has no '## Options' section"
    return match.group(1)


def table_options(title: str) -> set[str]:
    """The option names in the first column of the table introduced by ``title``."""
    section = options_section()
    start = section.index(title)
    rows = []
    for line in section[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    names: set[str] = set()
    for row in rows[2:]:  # after the header and the |---| line
        first_column = row.split("|")[1].split("(")[0]  # "(`EventSourceResponse` only)" is a note
        names.update(re.findall(r"`(\w+)`", first_column))
    return names


def keyword_options(function: Callable[..., Any]) -> set[str]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("title", TABLES)
def test_the_table_lists_every_keyword_option_and_no_other(title: str) -> None:
    expected = set().union(*(keyword_options(function) for function in TABLES[title]))
    listed = table_options(title)
    assert expected - listed == set(), f"README table '{title}' lacks options"
    assert listed - expected == set(), f"README table '{title}' lists options that do not exist"
