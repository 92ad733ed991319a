"""One `apachemaint check` as the command line asks it: settings resolved (CLI > settings
file > environment > default), the files or the server checked, `--fix` run, the report
rendered in its format and the exit status worked out.

Both ways in share it: the Typer command (``cli.check``) and the fast path for a plain
``check FILE...`` (``entry``), which must give the very same output and status without
importing Typer.  Nothing here touches the terminal except through the arguments.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path


class Request:
    """What the user asked for (None: not given).  A plain class: a dataclass's methods are
    generated and compiled on every start, 0.9 ms of a one-file check."""

    def __init__(self, files: list[Path] | None = None, config: Path | None = None, use_apachectl: bool = False,
                 format: str | None = None, fail_on: str | None = None, ignore: list[str] | None = None,
                 select: list[str] | None = None, fix: bool = False, no_configtest: bool = False,
                 exclude: list[str] | None = None, stdin_filename: str | None = None,
                 output: Path | None = None) -> None:
        self.files = files or []  # none: the whole server
        self.config = config
        self.use_apachectl = use_apachectl
        self.format = format
        self.fail_on = fail_on
        self.ignore = ignore
        self.select = select
        self.fix = fix
        self.no_configtest = no_configtest
        self.exclude = exclude
        self.stdin_filename = stdin_filename
        self.output = output


def run(req: Request, *, progress=None, note: Callable[[str], None] | None = None) -> int:
    """Check, write the report (stdout, or ``req.output``), and return the exit status.
    ``note`` gets what `--fix` did, a line each (stderr in the CLI)."""
    from . import settings as settings_mod
    from .check import STDIN, Selection, check_files, check_server, exit_code, rule_infos
    from .errors import ApacheMaintError
    from .exclude import Excludes
    from .findings import FORMATS
    from .rules import REGISTRY

    known = set(REGISTRY)
    try:
        given = settings_mod.Settings(
            format=req.format, ignore=settings_mod.parse_codes(req.ignore, known),
            select=settings_mod.parse_codes(req.select, known), config=req.config,
            use_apachectl=req.use_apachectl or None, exclude=list(req.exclude or []))
        if req.fail_on:
            given.fail_on, given.fail_never = settings_mod.parse_fail_on(req.fail_on)
    except ValueError as exc:
        raise ApacheMaintError(str(exc)) from None
    conf = settings_mod.resolve(given, settings_mod.load(known_codes=known), os.environ)
    fmt = conf.format
    selection = Selection(conf.ignore, conf.select, conf.severity, Excludes(conf.exclude))
    files = req.files
    reads_stdin = bool(files) and any(str(f) == STDIN for f in files)
    if reads_stdin and req.fix:
        raise ApacheMaintError("--fix cannot fix stdin; name the file")
    stdin = sys.stdin.buffer.read() if reads_stdin else None
    main_conf = conf.config
    ask = conf.use_apachectl

    def run_check():
        if files:
            return check_files(files, config=main_conf, detect=main_conf is None, use_apachectl=ask,
                               selection=selection, progress=progress, stdin=stdin,
                               stdin_filename=req.stdin_filename)
        return check_server(main_conf, use_apachectl=ask, selection=selection, progress=progress)

    findings = run_check()
    if req.fix:
        from .fix import fix as fixing

        report = fixing(findings, config=main_conf, configtest=not req.no_configtest)
        tell = note or (lambda _line: None)
        for path in report.fixed:
            tell(f"{path}: fixed with apachemaint patch")
        for path, why in report.skipped:
            tell(f"{path}: not fixed: {why}")
        if report.checkpoint:
            tell(f"originals saved in {report.checkpoint} (undo: apachemaint restore)")
        if report.fixed:
            findings = run_check()
    if progress:
        progress.done()
    color = req.output is None and fmt == "text" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    rendered = FORMATS[fmt](findings, rule_infos(), color)
    if req.output is None:
        sys.stdout.write(rendered)
    else:
        from . import caller

        caller.write_output(req.output, rendered.encode("utf-8"))
    return exit_code(findings, None if conf.fail_never else conf.fail_on)
