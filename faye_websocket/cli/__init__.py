"""The command line: ``faye-websocket connect URL`` and ``faye-websocket serve [PORT]``.

Also ``python -m faye_websocket ...``. ``main()`` parses the arguments and runs one command; a
mistake in the command line or an expected failure (refused connection, failed handshake, port in
use) is one line on standard error, never a traceback.

Exit status (``EXIT_*``):

- 0: ``connect`` ended with a close code of 1000 (normal), 1001 (going away) or 1005 (no status);
  ``serve`` stopped by SIGINT or SIGTERM.
- 1: ``connect`` could not connect (DNS, TCP, proxy, TLS, handshake refused, timeout) or the
  connection ended any other way (dropped: 1006, or an error code from either side);
  ``serve`` could not listen (port in use, unknown host).
- 2: the command line cannot work as given (unknown option, bad URL, unsupported scheme, port out
  of range, unreadable file).
"""

from __future__ import annotations

from .arguments import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, build_parser, parse
from .connect import run_connect
from .logs import enable_debug_log
from .serve import run_serve

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command named in ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Runs on the calling (main) thread; ``serve`` installs SIGINT/SIGTERM handlers there. Usage
    errors print one line and return ``EXIT_USAGE`` instead of raising ``SystemExit``.
    """
    parser = build_parser()
    try:
        options = parse(parser, argv)
    except UsageError as error:
        error.report()
        return EXIT_USAGE
    except SystemExit as done:  # --help, --version: argparse has printed what was asked
        return int(done.code or 0)
    if options.verbose:
        enable_debug_log(frames=options.verbose > 1)
    command = run_serve if options.command == "serve" else run_connect
    return command(options)
