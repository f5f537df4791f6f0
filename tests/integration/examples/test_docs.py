"""Every ```python block under docs/ runs, as written, and prints what its comments say.

A page's blocks run in order in one namespace, as a reader goes down the page (the first block
starts a server on a free port, the later ones use it, the last one stops it), each with a
deadline (``run_block``). ``print(...)  # text`` promises that ``text`` is printed; so do comment
lines right under a print. A block that cannot run as written (a fragment of a larger program)
is listed in ``COMPILE_ONLY`` with the reason and where its runnable form is tested; it must still
compile, and every entry must still match a block, so the table cannot go stale.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.examples.markdown_blocks import Output, python_blocks, run_block
from tests.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs"
PAGE_TIMEOUT = 30.0  # seconds one block may take (TLS set-up, several servers)
BUILD_TIMEOUT = 120.0  # seconds for a whole site build (the API pages read every module)

# (page, a string unique to the block) -> why it only has to compile
COMPILE_ONLY = {
    ("frameworks.md", "websocket_route(app,"):
        "a fragment of a Flask app; examples/flask_chat.py runs it (tests/integration/frameworks)",
    ("frameworks.md", "@websocket_view\n"):
        "a fragment of a Django project; examples/django_chat runs it (tests/integration/frameworks)",
    ("scaling.md", "room.join(ws)"):
        "a fragment of an http.server handler; examples/chat.py runs it (tests/integration/broadcast)",
    ("scaling.md", "RedisBackend(\"redis://127.0.0.1:6379/0\")"):
        "needs a Redis on 6379; examples/chat.py --redis runs it (tests/integration/broadcast)",
}

PRINT_WITH_COMMENT = re.compile(r"\bprint\(.*\)\s+# (.+)$")
COMMENT_LINE = re.compile(r"^\s*# (.+)$")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def page_name(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def runs(page: Path, source: str) -> bool:
    return not any(name == page_name(page) and marker in source for name, marker in COMPILE_ONLY)


def promised_output(source: str) -> list[str]:
    """The texts the block's comments say it prints (see the module docstring)."""
    promised: list[str] = []
    after_print = False
    for line in source.splitlines():
        printed = PRINT_WITH_COMMENT.search(line)
        comment = COMMENT_LINE.match(line)
        if printed:
            promised.append(printed.group(1).strip())
            after_print = True
        elif comment and after_print:
            promised.append(comment.group(1).strip())
        else:
            after_print = "print(" in line
    return promised


PAGES_WITH_CODE = [page for page in pages() if any(runs(page, block) for block in python_blocks(page))]


def test_every_compile_only_entry_matches_a_block() -> None:
    for name, marker in COMPILE_ONLY:
        assert any(marker in block for block in python_blocks(DOCS / name)), (name, marker)


@pytest.mark.parametrize("page", pages(), ids=page_name)
def test_every_block_compiles(page: Path) -> None:
    for block in python_blocks(page):
        compile(block, page_name(page), "exec")


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=page_name)
def test_page_blocks_run_in_order_and_print_what_they_promise(no_leaks: None, page: Path) -> None:
    output = Output()
    namespace = {"__name__": "docs"}
    for block in python_blocks(page):
        if not runs(page, block):
            continue
        run_block(block, output, PAGE_TIMEOUT, namespace=namespace, filename=page_name(page))
        for text in promised_output(block):
            output.wait_for(text)


def test_the_docs_have_code_to_run() -> None:
    assert {page_name(page) for page in PAGES_WITH_CODE} >= {
        "index.md", "server.md", "client.md", "eventsource.md", "proxies-and-tls.md", "extensions.md",
    }


def test_the_docs_build_fails_on_a_broken_internal_link(tmp_path: Path) -> None:
    """scripts/test builds the site with scripts/docs; this shows that its check bites."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(REPO_ROOT / "mkdocs.yml", tmp_path)
    shutil.copy(REPO_ROOT / "README.md", tmp_path)  # included by differences.md
    with open(tmp_path / "docs" / "index.md", "a", encoding="utf-8") as page:
        page.write("\n[gone](no-such-page.md) and [astray](server.md#no-such-section)\n")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert built.returncode != 0
    assert "no-such-page.md" in built.stderr and "no-such-section" in built.stderr
