"""The ``apachemaint`` program.  A plain ``apachemaint check FILE...`` (what pre-commit runs on
every commit) is run straight through ``checkrun``, the core the Typer command calls too, so
it does not pay for importing Typer and building the CLI (about two thirds of its start).
Anything else, or anything this does not fully understand (an option, stdin, no file, a
terminal that wants progress), goes to the real command line, ``cli.entry``.
"""
from __future__ import annotations

import os
import sys


def plain_check(args: list[str]) -> bool:
    """Whether ``args`` are ``check`` and one or more file names, nothing else: no option
    (anything starting with ``-``, ``-`` itself included), so the Typer command would parse
    them to exactly ``Request(files=[...])``."""
    return len(args) >= 2 and args[0] == "check" and not any(a.startswith("-") or not a for a in args[1:])


def entry() -> None:
    args = sys.argv[1:]
    if not plain_check(args) or sys.stderr.isatty():  # a terminal gets the CLI's progress line
        from .cli import entry as full

        full()
        return
    import gc
    from pathlib import Path

    from .checkrun import Request, run
    from .errors import ApacheMaintError

    gc.disable()  # as the CLI does for every command (see cli.main)
    try:
        code = run(Request(files=[Path(a) for a in args[1:]]))
    except ApacheMaintError as exc:  # as cli.reports_errors: one line, exit 2
        print(str(exc), file=sys.stderr)
        code = 2
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)
