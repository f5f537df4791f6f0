# Sourced by scripts/*: makes .venv (once) and installs the package with its test extra.
# Set FAYE_SKIP_INSTALL=1 to reuse the venv as it is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if [ "${FAYE_SKIP_INSTALL:-0}" != "1" ]; then
    # (the image's pip config names local mirrors that may be absent: their warnings are noise)
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" \
        2> >(grep -v "is ignored: it is neither" >&2)
    if [ -f tests/peers/package.json ] && command -v npm >/dev/null 2>&1; then
        (cd tests/peers && npm install --no-audit --no-fund --silent >/dev/null)
    fi
fi
export PATH="$ROOT/.venv/bin:$PATH"
