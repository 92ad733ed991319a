"""Putting the managed block into every applicable <VirtualHost> of a file.

Planning is pure (text in, text out, one result per vhost); applying writes the planned
files all-or-nothing: every file is read and planned before the first write, originals go
to a checkpoint, and a failed config test puts every touched file back byte for byte.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from . import block, checkpoint, reader, server, vhosts
from .block import BlockOptions, State
from .errors import ApacheMaintError, ConfigTestFailed, UnsafeWrite
from .reader import Blank, ConfigFile
from .safewrite import PartialWrite, resolve_link, write_many


class Action(Enum):
    INSERTED = "block added"
    CURRENT = "already current"
    UPDATED = "outdated block replaced"
    REWRITTEN = "block edited by hand; replaced"
    RECONFIGURED = "block options changed"
    LEGACY = "classic Capistrano block replaced"
    NOT_APPLICABLE = "not applicable: redirect-only vhost"


@dataclass
class VHostResult:
    vhost: vhosts.VHost
    action: Action
    detail: str = ""


@dataclass
class FilePlan:
    path: str  # as the user named it
    real: Path  # the file actually written
    followed_link: bool
    cf: ConfigFile
    new_text: str
    results: list[VHostResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.new_text != self.cf.text

    @property
    def new_bytes(self) -> bytes:
        return self.cf.to_bytes(self.new_text)

    def diff(self) -> str:
        old = self.cf.text.splitlines(keepends=True)
        new = self.new_text.splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, self.path, self.path))


def _indent(cf: ConfigFile, vh: vhosts.VHost) -> tuple[str, str]:
    """The indentation of the vhost's body and one nesting step, as the file already uses them."""
    outer = cf.line_indent(vh.section.start)
    for child in vh.section.children:
        if not isinstance(child, Blank):
            inner = cf.line_indent(child.start)
            if len(inner) > len(outer) and inner.startswith(outer):
                return inner, inner[len(outer):]
            break
    unit = "\t" if "\t" in outer else "    "
    return outer + unit, unit


def plan_text(cf: ConfigFile, given: dict | None = None) -> tuple[str, list[VHostResult]]:
    """The new text of ``cf`` and what happens to each vhost.

    ``given`` holds the options the user named (None for the rest); a vhost that already
    carries a block keeps its recorded options for everything not given.
    """
    given = given or {}
    edits: list[tuple[int, int, str]] = []
    results: list[VHostResult] = []
    eol = cf.eol
    for vh in vhosts.find(cf):
        found = block.find_managed(cf, vh.section)
        if not found and vh.redirect_only:
            results.append(VHostResult(vh, Action.NOT_APPLICABLE))
            continue
        indent, unit = _indent(cf, vh)
        if found:
            first = found[0]
            opts = first.marker.options.merged(**given)
            state = block.state_of(first)
            if state is State.CURRENT and opts == first.marker.options and len(found) == 1:
                results.append(VHostResult(vh, Action.CURRENT))
                continue
            indent = cf.line_indent(first.start)
            edits.append((first.start, first.end, block.render(opts, indent, unit, eol)))
            edits += [(f.start, f.end, "") for f in found[1:]]
            action = {State.EDITED: Action.REWRITTEN, State.OUTDATED: Action.UPDATED}.get(
                state, Action.RECONFIGURED)
            detail = f"{len(found) - 1} duplicate block(s) removed" if len(found) > 1 else ""
            results.append(VHostResult(vh, action, detail))
            continue
        opts = BlockOptions().merged(**given)
        legacy = block.find_legacy(cf, vh.section)
        edits.append((vh.section.open_end, vh.section.open_end, block.render(opts, indent, unit, eol)))
        if legacy:
            edits += [(n.start, n.end, "") for n in legacy.nodes]
            lines = ", ".join(str(n.line) for n in legacy.nodes)
            results.append(VHostResult(vh, Action.LEGACY, f"removed lines {lines}"))
        else:
            results.append(VHostResult(vh, Action.INSERTED))
    text = cf.text
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + new + text[end:]
    return text, results


def plan(path: str | Path, given: dict | None = None) -> FilePlan:
    real, followed = resolve_link(path)
    cf = reader.read(real)
    cf.path = str(path)
    text, results = plan_text(cf, given)
    return FilePlan(str(path), real, followed, cf, text, results)


@dataclass
class ApplyReport:
    plans: list[FilePlan]
    checkpoint: Path | None = None
    tested: dict[Path, str] = field(default_factory=dict)  # main config -> outcome
    untested: list[str] = field(default_factory=list)  # files no server config includes


def apply(plans: list[FilePlan], *, config: Path | None = None, configtest: bool = True) -> ApplyReport:
    """Write every changed plan; test the server configs that include them; roll back on failure."""
    report = ApplyReport(plans)
    changed = [p for p in plans if p.changed]
    if not changed:
        return report
    servers: dict[Path, server.Server] = {}
    if configtest:
        read = {str(p.real): p.cf for p in plans}  # as planned: the bytes still on disk
        if config is not None:
            srv = server.load(config, parsed=read)
            servers = {p.real: srv for p in changed if srv.includes(p.real)}
        else:
            servers = server.detect([p.real for p in changed], parsed=read)
        report.untested = [p.path for p in changed if p.real not in servers]
        distinct = {id(s): s for s in servers.values()}.values()
        for srv in distinct:
            ok, out = srv.configtest()
            if not ok:
                raise ConfigTestFailed(
                    "the server config fails its test before any change; fix that first or use "
                    f"--no-configtest: {_first_error(out)}", srv.main)
    report.checkpoint = checkpoint.create(
        [checkpoint.Change(p.real, p.cf.to_bytes(), p.new_bytes) for p in changed])
    written: list[FilePlan] = []
    try:
        try:
            write_many([(p.real, p.new_bytes) for p in changed])
        except PartialWrite as exc:
            replaced = set(exc.replaced)
            written = [p for p in changed if p.real in replaced]
            raise
        written = changed
        for srv in {id(s): s for s in servers.values()}.values():
            ok, out = srv.configtest()
            if not ok:
                raise ConfigTestFailed(f"Apache rejects the patched config, all changes rolled back: "
                                       f"{_first_error(out)}", srv.main)
            report.tested[srv.main] = "Syntax OK"
    except ApacheMaintError as exc:
        _roll_back(written, report.checkpoint, exc)
        checkpoint.discard(report.checkpoint)
        raise
    return report


def _roll_back(written: list[FilePlan], saved: Path | None, cause: ApacheMaintError) -> None:
    """Put the original bytes back into every written file, in one batch."""
    try:
        write_many([(p.real, p.cf.to_bytes()) for p in written])
    except ApacheMaintError as exc:
        raise UnsafeWrite(f"{cause.message}; rolling back failed too ({exc}); the originals are in "
                          f"{saved} (apachemaint restore)", cause.file, cause.line) from exc


def _first_error(output: str) -> str:
    from .httpd import explain

    msg = str(explain(output))
    if any(f"Invalid command '{name}" in msg for name in ("Rewrite", "Header'", "SetEnvIf")):
        msg += " (the block needs mod_setenvif, mod_rewrite and mod_headers: a2enmod setenvif rewrite headers)"
    return msg
