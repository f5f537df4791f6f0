"""Running the ```python blocks of a Markdown page (the README, the pages under docs/) as tests.

The blocks run as written, each on a thread with a deadline, their ``print`` captured in an
``Output`` that listener threads write to as well. The README's test claims each block by a marker
and substitutes hosts (tests/integration/examples/test_readme.py); the docs' test runs each page's
blocks in order in one namespace and checks the output their comments promise
(tests/integration/examples/test_docs.py).
"""

from __future__ import annotations

import functools
import io
import re
import threading
from pathlib import Path
from typing import Any

WAIT = 10.0  # seconds any one step may take

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    """The page's ```python blocks, in order."""
    return PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))


class Output(io.StringIO):
    """stdout for a block: ``wait_for(text)`` returns once a print (from any thread) wrote it."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()

    def write(self, text: str) -> int:
        with self._changed:
            written = super().write(text)
            self._changed.notify_all()
        return written

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        with self._changed:
            assert self._changed.wait_for(lambda: text in self.getvalue(), timeout), (
                f"{text!r} not printed within {timeout} s; output: {self.getvalue()!r}"
            )
            return self.getvalue()


def run_block(source: str, output: Output | None = None, timeout: float = WAIT, *,
              namespace: dict[str, Any] | None = None, filename: str = "README.md") -> dict[str, Any]:
    """Execute ``source`` on a thread, failing after ``timeout`` seconds; returns its globals.

    The block's ``print`` writes to ``output`` (a name in the block's globals, so its listeners,
    which run on other threads after the block has returned, print there too). Pass the
    ``namespace`` of an earlier block to go on where it stopped (a page read from the top).
    """
    if namespace is None:
        namespace = {"__name__": "readme"}
    if output is not None:
        namespace["print"] = functools.partial(print, file=output)
    errors: list[BaseException] = []

    def execute() -> None:
        try:
            exec(compile(source, filename, "exec"), namespace)
        except BaseException as error:  # reported on the test's thread
            errors.append(error)

    thread = threading.Thread(target=execute, name="readme-block")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the {filename} block did not finish within {timeout} s:\n{source}"
    if errors:
        raise errors[0]
    return namespace
