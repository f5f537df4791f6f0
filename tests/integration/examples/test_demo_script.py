"""``scripts/demo`` on a clean copy of the repository starts the demo, whatever npm's state.

The demo installs only the package (and certifi) and never runs npm: shown with npm absent from
PATH, and with npm present but its registry unreachable (a closed loopback port). Each run makes
its own .venv (pip needs the package index, as on a user's machine), so the two are bounded by
``SETUP_TIMEOUT`` rather than the usual few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.integration.components import Process, free_port, require_executable
from tests.integration.examples.test_demo_server import get
from tests.integration.server_support import WAIT
from tests.paths import REPO_ROOT

SETUP_TIMEOUT = 240.0  # seconds for venv + pip install + start, on a cold pip cache
NODE_PROGRAMS = frozenset({"npm", "npx", "node", "nodejs", "corepack"})


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, not ignored): no .venv,
    no node_modules."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
        capture_output=True, check=True, timeout=WAIT,
    ).stdout.decode().split("\0")
    copy = tmp_path_factory.mktemp("clone")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def path_without_node(directory: Path, path: str) -> str:
    """A PATH with every program of ``path`` except npm and node (symlinks in ``directory``)."""
    directory.mkdir(exist_ok=True)
    for folder in path.split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = Path(folder, name)
            if name in NODE_PROGRAMS or (directory / name).exists() or not os.access(target, os.X_OK):
                continue
            (directory / name).symlink_to(target)
    return str(directory)


@pytest.fixture
def demo_environment() -> dict[str, str]:
    # A user's shell: none of our set-up switches, no proxy, not inside this checkout's venv.
    environment = {k: v for k, v in os.environ.items()
                   if not k.lower().endswith("_proxy") and not k.startswith("FAYE_")}
    environment.pop("VIRTUAL_ENV", None)
    own_venv = str(REPO_ROOT / ".venv" / "bin")
    environment["PATH"] = os.pathsep.join(
        folder for folder in environment.get("PATH", "").split(os.pathsep) if folder != own_venv
    )
    environment["PORT"] = str(free_port())
    return environment


def start_demo(copy: Path, environment: dict[str, str]) -> Iterator[int]:
    port = int(environment["PORT"])
    with Process([str(copy / "scripts" / "demo")], name="scripts/demo", cwd=str(copy), env=environment,
                 ready_line="Listening on", ready_ports=[("127.0.0.1", port)],
                 ready_timeout=SETUP_TIMEOUT) as process:
        yield port
        assert "npm" not in process.output(), process.output()
    assert not (copy / "tests" / "peers" / "node_modules").exists()


def check_demo(port: int) -> None:
    status, body = get(port, "/ws.html")
    assert status == 200 and b"WebSocket" in body
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=WAIT) as client:
        client.send("demo")
        assert client.recv(timeout=WAIT) == "demo"


@pytest.mark.timeout(SETUP_TIMEOUT + 60)
def test_demo_starts_on_a_clean_clone_without_npm(
    clean_copy: Path, demo_environment: dict[str, str], tmp_path: Path
) -> None:
    shutil.rmtree(clean_copy / ".venv", ignore_errors=True)
    demo_environment["PATH"] = path_without_node(tmp_path / "bin", demo_environment["PATH"])
    assert shutil.which("npm", path=demo_environment["PATH"]) is None
    for port in start_demo(clean_copy, demo_environment):
        check_demo(port)


@pytest.mark.component
@pytest.mark.timeout(SETUP_TIMEOUT + 60)
def test_demo_starts_on_a_clean_clone_with_npm_unreachable(
    clean_copy: Path, demo_environment: dict[str, str]
) -> None:
    require_executable("npm")
    shutil.rmtree(clean_copy / ".venv", ignore_errors=True)
    demo_environment["npm_config_registry"] = f"http://127.0.0.1:{free_port()}/"  # nothing listens
    for port in start_demo(clean_copy, demo_environment):
        check_demo(port)


def test_a_missing_python_is_one_message_with_its_fix(
    clean_copy: Path, demo_environment: dict[str, str]
) -> None:
    shutil.rmtree(clean_copy / ".venv", ignore_errors=True)
    demo_environment["PYTHON"] = "/no/such/python3"
    done = subprocess.run([str(clean_copy / "scripts" / "demo")], cwd=clean_copy, env=demo_environment,
                          capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 1
    assert "set-up failed: no '/no/such/python3' command" in done.stderr
    assert "fix: install Python 3.10 or newer, or set PYTHON=" in done.stderr


@pytest.mark.timeout(SETUP_TIMEOUT + 60)
def test_an_unreachable_package_index_is_one_message_with_its_fix(
    clean_copy: Path, demo_environment: dict[str, str]
) -> None:
    shutil.rmtree(clean_copy / ".venv", ignore_errors=True)
    closed = f"http://127.0.0.1:{free_port()}/simple"  # nothing listens: the index is unreachable
    demo_environment.update(PIP_INDEX_URL=closed, PIP_EXTRA_INDEX_URL="", PIP_FIND_LINKS="",
                            PIP_NO_INDEX="0", PIP_RETRIES="0", PIP_TIMEOUT="2", PIP_CONFIG_FILE=os.devnull)
    done = subprocess.run([str(clean_copy / "scripts" / "demo")], cwd=clean_copy, env=demo_environment,
                          capture_output=True, text=True, timeout=SETUP_TIMEOUT)
    assert done.returncode == 1, done.stderr
    assert "set-up failed: pip could not install faye_websocket" in done.stderr
    assert "fix: check that PyPI is reachable (or set PIP_INDEX_URL to a mirror)" in done.stderr
    assert "Open http" not in done.stdout  # the demo did not pretend to start
