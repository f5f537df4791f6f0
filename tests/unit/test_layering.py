"""The package's layers: what each folder may import, checked on the tree.

DESIGN.md section 1: the sans-I/O core (driver/ and extensions/) is pure byte transformations,
testable without sockets, threads or time; the I/O layer owns all of that. docs/internals.md
("Import directions") lists the allowed directions between folders; ``LAYERS`` below is the same
list, and each folder may import only its own modules and those of the folders below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import PACKAGE

CORE_DIRS = ("driver", "extensions")
FORBIDDEN = frozenset(
    {"socket", "ssl", "select", "selectors", "threading", "socketserver", "http.server", "time"}
)


# Lowest first. A unit is a folder of the package, or one of its top-level modules. Units in one
# tuple are peers: neither may import the other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "events", "logs", "rfc6455", "version"),
    ("extensions",),
    ("driver",),
    ("net",),
    ("connection",),
    ("api",),
    ("server", "client"),
    ("eventsource",),
    ("frameworks", "broadcast", "cli"),
    ("__init__", "__main__"),
)
# net/ drives the core's sans-I/O HTTP pieces (request heads, URLs, the CONNECT exchange) and
# never its framing: these are the only driver/ modules it may import.
NET_MAY_USE = frozenset({"driver.http", "driver.url", "driver.proxy"})
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


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


def package_imports(source: str, module: str) -> list[tuple[int, str]]:
    """Return (line, target) for each import of the package by ``module`` ("server.wsgi"),
    relative or absolute, as a dotted name inside the package ("driver.http")."""
    is_package = module.endswith("__init__")
    parts = module.split(".")[:-1] if is_package or "." in module else []
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
            if node.level - 1 > len(parts):
                continue
            prefix = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{prefix}.{a.name}" if prefix else a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("faye_websocket."):
            found.append((node.lineno, node.module.removeprefix("faye_websocket.")))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.removeprefix("faye_websocket.")) for a in node.names
                      if a.name.startswith("faye_websocket.")]
    return found


def unit_of(dotted: str) -> str:
    """The layer unit of a dotted name inside the package: its folder or top-level module."""
    return dotted.split(".")[0]


def layer_violations(source: str, module: str) -> list[str]:
    """Return "line N: unit -> target" for each import that goes sideways or up the layers."""
    own = unit_of(module)
    problems = []
    for line, target in package_imports(source, module):
        other = unit_of(target)
        if other == own or other not in RANK:
            continue  # inside the folder, or a name imported from the package's __init__
        upward = RANK[other] >= RANK[own]
        net_reach = own == "net" and other == "driver" and ".".join(target.split(".")[:2]) not in NET_MAY_USE
        if upward or net_reach:
            problems.append(f"line {line}: {own} -> {target}")
    return problems


def package_modules() -> list[Path]:
    """Every Python file of the package."""
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    """``server/wsgi.py`` -> "server.wsgi"; ``__init__.py`` -> "__init__"."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {unit_of(module_name(path)) for path in package_modules()}
    assert units <= set(RANK), f"add these to LAYERS and docs/internals.md: {sorted(units - set(RANK))}"


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_its_own_folder_and_the_layers_below(path: Path) -> None:
    problems = layer_violations(path.read_text(encoding="utf-8"), module_name(path))
    assert not problems, f"{path.relative_to(PACKAGE.parent)} breaks the layering: {problems}"


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("driver.hybi", "from ..connection.connection import Connection"),  # the core reaching up
        ("extensions.base", "from ..driver.frames import Opcode"),  # the old import circle
        ("connection.connection", "from ..server.websocket import WebSocket"),
        ("connection.connection", "from ..client import Client"),
        ("net.dial", "from ..driver.hybi import Hybi"),  # net knows no framing
        ("server.wsgi", "from ..client import connect"),  # peers stay apart
        ("rfc6455", "from .driver import frames"),
        ("api", "import faye_websocket.server.websocket"),
        ("driver.base", "def f():\n    from ..api import WebSocketAPI\n"),
    ],
)
def test_the_layer_check_catches_a_forbidden_import(module: str, source: str) -> None:
    assert layer_violations(source, module)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("driver.hybi", "from .frames import Frame"),
        ("driver.hybi", "from ..rfc6455 import Opcode"),
        ("net.dial", "from ..driver.proxy import ProxyHandshake"),
        ("eventsource.wsgi", "from ..server.takeover import shutdown_tcp"),
        ("__init__", "from .client import Client"),
        ("server.websocket", "from ..api import WebSocketAPI"),
    ],
)
def test_the_layer_check_allows_imports_down_the_layers(module: str, source: str) -> None:
    assert not layer_violations(source, module)
