# Sourced by scripts/*: makes .venv (once) and installs what the calling script needs.
#   FAYE_VENV_MODE=test (default): the package with its test and docs extras, and the node test peers
#                                  (tests/peers, with npm when it is there);
#   FAYE_VENV_MODE=demo:           the package alone (its one dependency: certifi); never npm;
#   FAYE_VENV_MODE=docs:           the package with its docs extra.
# An install is skipped while setup.cfg and pyproject.toml are unchanged since the last one of that
# mode (so a second run works offline); FAYE_SKIP_INSTALL=1 skips it always, FAYE_REINSTALL=1 never.
# Every failure says what failed and how to fix it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
MODE="${FAYE_VENV_MODE:-test}"
MIN_PYTHON="3.10"

venv_fail() {  # what failed, how to fix it
    printf '%s: set-up failed: %s\n  fix: %s\n' "$(basename "$0")" "$1" "$2" >&2
    exit 1
}

case "$MODE" in
    test) EXTRAS="[test,docs]" ;;
    demo) EXTRAS="" ;;
    docs) EXTRAS="[docs]" ;;
    *) venv_fail "unknown FAYE_VENV_MODE=$MODE" "use test, demo or docs" ;;
esac

if [ ! -x .venv/bin/python ]; then
    command -v "$PY" >/dev/null 2>&1 \
        || venv_fail "no '$PY' command" "install Python $MIN_PYTHON or newer, or set PYTHON=/path/to/python3"
    "$PY" -c "import sys; sys.exit(sys.version_info < (${MIN_PYTHON/./, }))" \
        || venv_fail "$("$PY" --version 2>&1) is too old" \
                     "install Python $MIN_PYTHON or newer, or set PYTHON=/path/to/python3.X"
    if ! "$PY" -m venv .venv; then
        rm -rf .venv
        venv_fail "'$PY -m venv .venv' failed" \
                  "install the venv module (Debian/Ubuntu: apt-get install python3-venv), or set PYTHON="
    fi
fi

# What the last successful install of this mode was made from.
STAMP=".venv/.faye-installed-$MODE"
wanted="$(cat setup.cfg pyproject.toml | .venv/bin/python -c \
    'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
installed="$(cat "$STAMP" 2>/dev/null || true)"

if [ "${FAYE_SKIP_INSTALL:-0}" != "1" ] && { [ "$wanted" != "$installed" ] || [ "${FAYE_REINSTALL:-0}" = "1" ]; }; then
    echo "$(basename "$0"): installing faye_websocket$EXTRAS into .venv ..." >&2
    # (the image's pip config names local mirrors that may be absent: their warnings are noise)
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$EXTRAS" \
            2> >(grep -v "is ignored: it is neither" >&2); then
        venv_fail "pip could not install faye_websocket$EXTRAS (its messages are above)" \
                  "check that PyPI is reachable (or set PIP_INDEX_URL to a mirror) and run again"
    fi
    echo "$wanted" > "$STAMP"
fi

if [ "$MODE" = "test" ] && [ "${FAYE_SKIP_INSTALL:-0}" != "1" ] && [ -f tests/peers/package.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "$(basename "$0"): npm not found: the node peer tests need it (apt-get install nodejs npm;" \
             ".ci/run does this)" >&2
    elif [ ! -d tests/peers/node_modules ] || [ tests/peers/package.json -nt tests/peers/node_modules ]; then
        # Bounded: an unreachable registry must not hang the suite; the peer tests then say what is missing.
        if ! (cd tests/peers && timeout "${FAYE_NPM_TIMEOUT:-300}" \
                npm install --no-audit --no-fund --silent >/dev/null 2>npm-install.log); then
            echo "$(basename "$0"): npm install in tests/peers failed (see tests/peers/npm-install.log);" \
                 "the node peer tests will fail. Fix: make the npm registry reachable" \
                 "(npm config get registry) and run again" >&2
        else
            rm -f tests/peers/npm-install.log
            touch tests/peers/node_modules  # newer than package.json: no install next time
        fi
    fi
fi
export PATH="$ROOT/.venv/bin:$PATH"
