"""ponder's command line: solve, eval, grade, report, train, serve, export, bench, demo.
See DESIGN.md for the stable contract.

Bad arguments and bad input exit 2 with one line on stderr and no traceback.

The commands live in run.py (solve, eval, demo) and tools.py (grade, report, train, serve, export, bench), on the
one app of app.py; `main` turns every expected error into one line.
"""

from __future__ import annotations

import sys

import typer

from ponder.cli import run, tools  # noqa: F401  (they register their commands on the app)
from ponder.cli.app import app
from ponder.errors import PonderError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: runs the app and turns every expected error into one line on stderr and exit code 2.

    `ponder` alone prints the help and exits 0, as `ponder --help` (and pip, and cargo) do: asking for nothing
    is not an error. (typer's no_args_is_help raises a usage error whose message is the help, which the rich
    help leaves empty, as it prints the help itself.)"""
    try:
        code = app(args=sys.argv[1:] or ["--help"], standalone_mode=False)
    except typer.Abort:
        print("ponder: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as error:  # a malformed command line (typer's own click errors)
        message = " ".join((error.format_message() if hasattr(error, "format_message") else str(error)).split())
        print(f"ponder: error: {message or 'a malformed command line; see ponder --help'}", file=sys.stderr)
        sys.exit(2)
    except PonderError as error:  # bad input exits 2; an engine, backend or replica that failed exits 1
        print(f"ponder: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
