"""The sans-I/O core (driver/ and extensions/) never imports an I/O, threading or clock module.

DESIGN.md section 1: the protocol layers are pure byte transformations, testable without sockets,
threads or time; the I/O layer owns all of that.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "faye_websocket"
CORE_DIRS = ("driver", "extensions")
FORBIDDEN = frozenset(
    {"socket", "ssl", "select", "selectors", "threading", "socketserver", "http.server", "time"}
)


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Return (line, module) for every import anywhere in the tree (nested ones too).

    `from x import y` yields both "x" and "x.y", so `from http import server` is caught as well.
    Relative imports stay inside the package and are skipped.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.append((node.lineno, argument.value))
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    """Return True for __import__("x") and importlib.import_module("x") calls."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in ("__import__", "import_module") and bool(node.args)


def forbidden_imports(source: str) -> list[str]:
    """Return "line N: module" for each import of a forbidden module (or one of its submodules)."""
    problems = []
    for line, module in imported_modules(ast.parse(source)):
        if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN):
            problems.append(f"line {line}: {module}")
    return problems


def core_modules() -> list[Path]:
    """Return every Python file under faye_websocket/driver and faye_websocket/extensions."""
    return sorted(path for name in CORE_DIRS for path in (PACKAGE / name).rglob("*.py"))


def test_the_core_directories_exist_and_hold_modules() -> None:
    assert core_modules(), f"no modules under {PACKAGE}/{{{','.join(CORE_DIRS)}}}"


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_io_threading_or_clock(path: Path) -> None:
    problems = forbidden_imports(path.read_text(encoding="utf-8"))
    assert not problems, f"{path.relative_to(PACKAGE.parent)} imports I/O: {problems}"


@pytest.mark.parametrize(
    "source",
    [
        "import socket",
        "import os, ssl",
        "import time as clock",
        "from threading import Lock",
        "from http import server",
        "import http.server",
        "from selectors import DefaultSelector",
        "def f():\n    import select\n",
        "try:\n    import socketserver\nexcept ImportError:\n    pass\n",
        "if True:\n    from time import monotonic\n",
        "__import__('socket')",
        "import importlib\nimportlib.import_module('ssl')",
    ],
)
def test_the_check_catches_every_import_form(source: str) -> None:
    assert forbidden_imports(source)


@pytest.mark.parametrize(
    "source",
    ["import struct", "from http import HTTPStatus", "import http.client", "from . import time",
     "from .frames import socket", "import timeit", "import sockets_helper"],
)
def test_the_check_allows_harmless_imports(source: str) -> None:
    assert not forbidden_imports(source)
