"""``python -m faye_websocket connect URL`` and ``... serve [PORT]``: the command line (see ``cli``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
