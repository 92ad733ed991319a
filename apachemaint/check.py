"""``apachemaint check``: run every rule over every vhost of some files or of a whole server.

An unreadable or unparsable file, and a missing ``Include`` target, is a finding of its own
(AM000) and everything else is still checked.  Each file is read once; a server's includes
are resolved once (globs cached), so the cost grows with the number of files, not faster.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import reader, server, suppression, vhosts
from .errors import ApacheMaintError
from .exclude import Excludes
from .findings import Finding, RuleInfo, Severity
from .reader import ConfigFile, Section
from .rules import REGISTRY, UNKNOWN, ServerContext, VHostContext, run
from .vhosts import VHost

PARSE_ERROR = "AM000"
PARSE_ERROR_SUMMARY = "file cannot be read or parsed, or an Include target is missing"

Progress = Callable[[int, Optional[int]], None]  # files done, total (None while still discovering)


@dataclass
class Selection:
    """Which rules run and how severe their findings are (settings and CLI merged)."""
    ignore: set[str] = field(default_factory=set)
    select: set[str] | None = None  # None: every rule
    severity: dict[str, Severity] = field(default_factory=dict)
    exclude: Excludes = field(default_factory=Excludes)

    def rules(self) -> dict:
        return {code: rule for code, rule in REGISTRY.items()
                if code not in self.ignore and (self.select is None or code in self.select)}


def rule_infos() -> dict[str, RuleInfo]:
    infos = {code: (r.SUMMARY, r.SEVERITY, r.__doc__ or "") for code, r in REGISTRY.items()}
    infos[PARSE_ERROR] = (PARSE_ERROR_SUMMARY, Severity.ERROR, "")
    return infos


def find_vhosts(cf: ConfigFile) -> list[tuple[VHost, list[Section]]]:
    """Every vhost with the sections around it (even those httpd would skip)."""
    return [(vh, list(vh.enclosing)) for vh in vhosts.find(cf)]


def check_config(cf: ConfigFile, ctx: ServerContext = UNKNOWN, selection: Selection | None = None,
                 rules: dict | None = None) -> list[Finding]:
    """Findings for every vhost of one file; ``rules`` is ``selection.rules()``, worked out
    once by callers that check many files."""
    selection = selection or Selection()
    if selection.exclude and selection.exclude.excluded(cf.path):
        return []
    rules = selection.rules() if rules is None else rules
    findings: list[Finding] = []
    try:
        for vh, chain in find_vhosts(cf):
            findings.extend(run(VHostContext(cf, vh, ctx, chain), rules, selection.severity))
    except ApacheMaintError as exc:  # a managed block that cannot be read
        findings.append(_parse_error(exc, cf.path))
    spans = suppression.spans(cf)
    return [f for f in findings if not suppression.suppressed(f, spans)] if spans else findings


def _parse_error(exc: ApacheMaintError, path: str) -> Finding:
    return Finding(exc.file or str(path), exc.line or 1, 1, PARSE_ERROR, Severity.ERROR, exc.message)


STDIN = "-"


def check_files(paths: Iterable[str | Path], *, config: Path | None = None, detect: bool = False,
                use_apachectl: bool = False, selection: Selection | None = None,
                progress: Progress | None = None, stdin: bytes | None = None,
                stdin_filename: str | None = None) -> list[Finding]:
    """Check vhost files.  Files that a server config includes (``config``, or an installed
    layout when ``detect``) are checked with that server's modules and defines.

    A path ``-`` is ``stdin`` (the bytes), named ``stdin_filename`` in findings, for the
    excludes and for the server's includes (an editor's unsaved buffer of that file)."""
    selection = selection or Selection()
    stdin_path = Path(stdin_filename or STDIN) if stdin is not None else None
    paths = [Path(p) if str(p) != STDIN or stdin_path is None else stdin_path for p in paths]
    paths = [p for p in paths if not (selection.exclude and selection.exclude.excluded(str(p)))]
    servers: dict[Path, server.Server] = {}
    if config is not None:
        srv = server.load(config, use_apachectl=use_apachectl, blocks=True)
        servers = {p: srv for p in paths if srv.includes(p)}
    elif detect:
        servers = server.detect(paths)
    contexts: dict[int, ServerContext] = {}
    findings: list[Finding] = []
    rules = selection.rules()
    for n, path in enumerate(paths, 1):
        srv = servers.get(path)
        ctx = UNKNOWN if srv is None else contexts.setdefault(id(srv), ServerContext.from_server(srv))
        try:
            cf = (reader.parse(stdin, str(path), blocks=True) if stdin is not None and path == stdin_path
                  else reader.read(path, blocks=True))
            findings.extend(check_config(cf, ctx, selection, rules))
        except ApacheMaintError as exc:
            findings.append(_parse_error(exc, str(path)))
        if progress:
            progress(n, len(paths))
    return sorted(findings)


def check_server(main: Path | None = None, *, use_apachectl: bool = False,
                 selection: Selection | None = None, progress: Progress | None = None,
                 split: bool = True) -> list[Finding]:
    """Check every vhost of a whole server: ``main``, or the installed layout.

    A large server is read and checked in two processes (``split``; see split_read): each
    checks the files it read, with the facts of the whole server, and the other process's
    findings join this one's.  Without a split, the rules alone may still be shared
    (forked.map_split)."""
    from . import forked, layouts, split_read

    layout = None
    if main is None:
        layout = server.installed_layout()
        if layout is None:
            raise ApacheMaintError(
                "no server config found at " + ", ".join(str(lay.main) for lay in layouts.LAYOUTS)
                + "; name vhost files or --config MAIN")
        main = layout.main
    count = checked = since_collected = 0

    def seen(_path: str) -> None:
        nonlocal count
        count += 1
        if progress:
            progress(count, None)

    def done(n: int) -> None:
        nonlocal checked
        checked += n
        if progress:
            progress(checked, len(srv.configs) + srv.elsewhere)

    selection = selection or Selection()
    rules = selection.rules()

    def check_all(srv: server.Server) -> list[Finding]:  # what the second process does with its files
        _freeze_read_tree()
        ctx = ServerContext.from_server(srv)
        return [f for cf in srv.configs.values() for f in check_one(cf, ctx)]

    def check_one(cf: ConfigFile, ctx: ServerContext) -> list[Finding]:
        # What the rules worked out for a file (its blocks' nodes, its lower-cased text) is let
        # go once it is checked: a server of 100,000 files keeps them all until the end.
        nonlocal since_collected
        try:
            return check_config(cf, ctx, selection, rules)
        finally:
            cf.release()
            since_collected += 1
            if since_collected >= _COLLECT_EVERY and not gc.isenabled():
                gc.collect(0)  # what was made since the last: the tree is frozen, survivors move on
                since_collected = 0

    halves = split_read.TwoProcessRead(check_all) if split else None
    try:
        srv = server.load(main, layout, use_apachectl=use_apachectl, on_file=seen, read_include=halves,
                          blocks=True)
        _freeze_read_tree()
        ctx = ServerContext.from_server(srv)
        findings = [_parse_error(exc, exc.file or str(main)) for exc in srv.errors
                    if not (selection.exclude and selection.exclude.excluded(exc.file or str(main)))]
        configs = list(srv.configs.values())

        def one(cf: ConfigFile) -> list[Finding]:
            return check_one(cf, ctx)

        if not (halves and halves.split):
            return sorted(findings + forked.map_split(one, configs, done=done))
        halves.share(srv)
        for cf in configs:
            findings += one(cf)
            done(1)
        theirs = halves.collect()
    finally:
        if halves:
            halves.stop()
        gc.unfreeze()
    if theirs is None:  # the second process failed: all of it here, for the same result
        return check_server(main, use_apachectl=use_apachectl, selection=selection, progress=progress,
                            split=False)
    done(srv.elsewhere)
    return sorted(findings + theirs)


def _freeze_read_tree() -> None:
    """The server's nodes, read, are moved where the cycle collector never looks: they live
    to the end and hold no cycle.  The CLI keeps the collector off (rescanning the tree as
    it grew was most of a read), so the few cycles each checked file leaves (closures that
    call themselves) are collected every ``_COLLECT_EVERY`` files."""
    gc.freeze()


_COLLECT_EVERY = 500  # files checked
def exit_code(findings: list[Finding], fail_on: Severity | None = Severity.WARNING) -> int:
    """0 clean, 1 findings at or above ``fail_on`` (None: never), 2 input that could not be read."""
    if any(f.code == PARSE_ERROR for f in findings):
        return 2
    if fail_on is None:
        return 0
    return 1 if any(f.severity >= fail_on for f in findings) else 0
