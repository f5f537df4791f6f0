"""The wheel and the sdist carry what a user needs (the package with py.typed, the console
script, the licence files; the sdist also the docs and examples) and nothing of the tests."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

BUILD_TIMEOUT = 300.0  # seconds: pip may fetch the build backend into its isolated environment


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                    "-w", str(out), str(REPO_ROOT)], check=True, timeout=BUILD_TIMEOUT, capture_output=True)
    build_sdist = f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"
    subprocess.run([sys.executable, "-c", build_sdist], cwd=REPO_ROOT, check=True, timeout=BUILD_TIMEOUT,
                   capture_output=True)
    return out


@pytest.mark.timeout(2 * BUILD_TIMEOUT)
def test_the_wheel_holds_the_package_its_licences_and_the_console_script(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "faye_websocket/py.typed" in names
    assert "faye_websocket/cli/__init__.py" in names and "faye_websocket/server/websocket.py" in names
    for licence in ("LICENSE", "NOTICE"):
        assert any(n.endswith(f"licenses/{licence}") for n in names), licence
    assert "faye-websocket = faye_websocket.cli:main" in entry_points
    assert not [n for n in names if n.startswith(("tests/", "examples/", "docs/"))]


@pytest.mark.timeout(2 * BUILD_TIMEOUT)
def test_the_sdist_adds_docs_and_examples_but_no_tests(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    for wanted in ("LICENSE", "NOTICE", "CHANGELOG.md", "README.md", "mkdocs.yml", "docs/index.md",
                   "examples/server.py", "examples/ws.html", "faye_websocket/py.typed"):
        assert wanted in names, wanted
    assert not [n for n in names if n.startswith("tests/") or n.endswith((".pem", ".key", ".pyc"))]
