"""Putting the managed block into every applicable <VirtualHost> of a file.

Planning is pure (text in, text out, one result per vhost); applying writes the planned
files all-or-nothing: every file is read and planned before the first write, the writes are
one ``transaction.Transaction`` (originals to a checkpoint, a file that changed after it
was read is not overwritten, a failed config test puts every touched file back byte for
byte).
"""
from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import block, forked, location, reader, server, vhosts
from .block import BlockOptions, State
from .errors import ConfigSyntaxError
from .reader import Blank, ConfigFile
from .safewrite import Stamp, resolve_link
from .transaction import Transaction


class Action(Enum):
    INSERTED = "block added"
    CURRENT = "already current"
    UPDATED = "outdated block replaced"
    REWRITTEN = "block edited by hand; replaced"
    RECONFIGURED = "block options changed"
    LEGACY = "classic Capistrano block replaced"
    NOT_APPLICABLE = "not applicable: redirect-only vhost"
    # unpatch
    REMOVED = "block removed; nothing put back (it records no block it replaced)"
    LEGACY_BACK = "block removed; the classic Capistrano block it replaced put back"
    NO_BLOCK = "no managed block"


class VHostRef(NamedTuple):
    """What a report says of a vhost (``line``, ``tag``, ``within``, as on ``vhosts.VHost``)
    without its parse tree, so that a plan made in another process travels light."""
    tag: str
    line: int
    close_line: int
    within: tuple[str, ...] = ()


@dataclass
class VHostResult:
    vhost: VHostRef
    action: Action
    detail: str = ""


@dataclass
class FilePlan:
    """One file's plan: the bytes it was made from, the bytes to write, and why.

    ``seen`` stamps the file read, as the fstat of its open found it before the read: the
    write is refused if the file changed after that.  ``cf``, the parse tree, stays in the process
    that planned (a plan from ``plan_all``'s second process arrives without it); it spares
    the config test a second read of the file.  ``edits`` (patch's plans) are the spans of
    the old text that the new one replaces: a plan travels as the old bytes and its edits,
    whose block text thousands of vhosts share, rather than as a second, larger copy of
    the file (see ``__reduce__``).
    """
    path: str  # as the user named it
    real: Path  # the file actually written
    followed_link: bool
    old_bytes: bytes  # as read: what the plan was made from, and what a rollback writes back
    new_bytes: bytes
    results: list[VHostResult] = field(default_factory=list)
    seen: Stamp | None = None
    cf: ConfigFile | None = None
    edits: tuple[tuple[int, int, str], ...] | None = None

    def __reduce__(self):
        # Pickled without the parse tree: it stays in the process that planned (see plan_all).
        # With its edits, without its new bytes: at 5,000 files of one block each, pickle
        # sends the block's text once (the same str object from block.render's cache) and
        # the plans are a sixth of the bytes to pickle, send and unpickle.
        if self.edits is not None:
            return _rebuilt, (self.path, str(self.real), self.followed_link, self.old_bytes, self.edits,
                              self.results, self.seen)
        return FilePlan, (self.path, self.real, self.followed_link, self.old_bytes, self.new_bytes,
                          self.results, self.seen)

    @property
    def changed(self) -> bool:
        return self.new_bytes != self.old_bytes

    @property
    def old_text(self) -> str:
        return self.old_bytes.decode("utf-8", "surrogateescape")  # as the reader decodes

    @property
    def new_text(self) -> str:
        return self.new_bytes.decode("utf-8", "surrogateescape")

    def diff(self) -> str:
        old = self.old_text.splitlines(keepends=True)
        new = self.new_text.splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, self.path, self.path))


def _rebuilt(path: str, real: str, followed_link: bool, old_bytes: bytes,
             edits: tuple[tuple[int, int, str], ...], results: list[VHostResult], seen: Stamp | None) -> FilePlan:
    """A pickled plan put back together: the new bytes are the old text with the edits made."""
    old = old_bytes.decode("utf-8", "surrogateescape")  # the text the plan's offsets count in
    new = _spliced(old, edits).encode("utf-8", "surrogateescape")
    return FilePlan(path, _path(real), followed_link, old_bytes, new, results, seen, edits=edits)


def _path(absolute: str) -> Path:
    """``Path(absolute)`` at under half its cost: a run's files share a few folders, and
    joining a name to a folder's Path parses only the name (unpickling a Path parses it all)."""
    folder, _, name = absolute.rpartition("/")
    return _folder_path(folder or "/") / name if name else Path(absolute)


@lru_cache(maxsize=256)
def _folder_path(folder: str) -> Path:
    return Path(folder)


def _spliced(text: str, edits: tuple[tuple[int, int, str], ...]) -> str:
    """``text`` with each ``(start, end, new)`` span replaced; ``edits`` sorted last first."""
    for start, end, new in edits:
        text = text[:start] + new + text[end:]
    return text


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


def plan_text(cf: ConfigFile, given: dict | None = None, pages: str | None = None,
              disk: dict | None = None) -> tuple[str, list[VHostResult]]:
    """The new text of ``cf`` and what happens to each vhost (``plan_edits``, made)."""
    edits, results = plan_edits(cf, given, pages, disk)
    return _spliced(cf.text, edits), results


def plan_edits(cf: ConfigFile, given: dict | None = None, pages: str | None = None,
               disk: dict | None = None) -> tuple[tuple[tuple[int, int, str], ...], list[VHostResult]]:
    """The spans of ``cf.text`` to replace, ``(start, end, new text)``, last first, and what
    happens to each vhost.

    ``given`` holds the options the user named (None for the rest); a vhost that already
    carries a block keeps its recorded options for everything not given, and a replaced
    legacy recipe gives its page.  Where the page was not named, ``location.choose`` may
    move a ``%{DOCUMENT_ROOT}`` one to a place of the vhost's own: under ``pages`` (default:
    the layout's ``site_pages``) for a vhost without a DocumentRoot, to shared/ out of a
    deploy release.  ``disk`` keeps what folders were found to be (location.release_of)
    across the files of a run.
    """
    named = tuple((k, v) for k, v in (given or {}).items() if v is not None)
    edits: list[tuple[int, int, str]] = []
    results: list[VHostResult] = []
    eol = cf.eol
    for vh in vhosts.find(cf):
        ref = VHostRef(vh.tag, vh.line, vh.section.close_line, vh.within)
        found = block.find_managed(cf, vh.section)
        if not found and vh.redirect_only:
            results.append(VHostResult(ref, Action.NOT_APPLICABLE))
            continue
        if len(vh.enclosing) + 2 > reader.MAX_NESTING:  # the block's <If> sits one below the vhost
            raise ConfigSyntaxError(f"{vh.tag} is nested too deep for the block's sections "
                                    f"(apachemaint reads {reader.MAX_NESTING} levels)", cf.path, vh.line)
        indent, unit = _indent(cf, vh)
        legacy = None if found else block.find_legacy(cf, vh.section)
        if found:
            first = found[0]
            opts = _merged(first.marker.options, _with_page(named, vh, first.marker.options.page, pages, disk))
            state = block.state_of(first)
            if state is State.CURRENT and opts == first.marker.options and len(found) == 1:
                results.append(VHostResult(ref, Action.CURRENT))
                continue
            if first.marker.legacy:  # carried into the new marker: only a record unpatch would take
                block.legacy_lines(first, cf.path)
            indent = cf.line_indent(first.start)
            edits.append((first.start, first.end, block.render(opts, indent, unit, eol, first.marker.legacy)))
            edits += [(f.start, f.end, "") for f in found[1:]]
            action = {State.EDITED: Action.REWRITTEN, State.OUTDATED: Action.UPDATED}.get(
                state, Action.RECONFIGURED)
            detail = f"{len(found) - 1} duplicate block(s) removed" if len(found) > 1 else ""
            if opts.page != first.marker.options.page:
                detail = ", ".join(filter(None, [detail, f"page moved to {opts.page}"]))
            results.append(VHostResult(ref, action, detail))
            continue
        page = location.from_legacy(cf, vh, legacy) if legacy and "page" not in dict(named) else _DEFAULTS.page
        opts = _merged(_DEFAULTS, _with_page(named, vh, page, pages, disk))
        record = block.legacy_record(cf, vh.section, legacy) if legacy else ""  # what unpatch puts back
        edits.append((vh.section.open_end, vh.section.open_end, block.render(opts, indent, unit, eol, record)))
        if legacy:
            edits += [(n.start, n.end, "") for n in legacy.nodes]
            lines = ", ".join(str(n.line) for n in legacy.nodes)
            results.append(VHostResult(ref, Action.LEGACY, f"removed lines {lines}, kept in the marker for "
                                                           f"apachemaint unpatch{_page_note(opts)}"))
        else:
            results.append(VHostResult(ref, Action.INSERTED, _page_note(opts).removeprefix("; ")))
    return tuple(sorted(edits, key=lambda e: (e[0], e[1]), reverse=True)), results


_DEFAULTS = BlockOptions()


def _with_page(named: tuple, vh: vhosts.VHost, page: str, pages: str | None, disk: dict | None) -> tuple:
    """``named`` with the page this vhost gets when the user named none (location.choose)."""
    if any(k == "page" for k, _ in named):
        return named
    chosen = location.choose(vh, page, pages, disk)
    return named + (("page", chosen),) if chosen != _DEFAULTS.page else named


def _page_note(opts: BlockOptions) -> str:
    return "" if opts.page == _DEFAULTS.page else f"; page {opts.page}"


@lru_cache(maxsize=64)
def _merged(options: BlockOptions, named: tuple) -> BlockOptions:
    """``options`` with the user's ``named`` ones in their place: thousands of vhosts share
    a handful of recorded options, so each pair is merged (and checked) once."""
    return options.merged(**dict(named))


def plan(path: str | Path, given: dict | None = None, pages: str | None = None,
         edit: Callable[[ConfigFile], tuple[str, list[VHostResult]]] | None = None,
         disk: dict | None = None, folders: dict[str, str] | None = None) -> FilePlan:
    """The plan for one file: ``plan_text`` (patch), or ``edit`` (unpatch: ``unplan_text``).
    ``folders`` keeps the real path of each folder a link was followed from (server.real_path)."""
    real, followed, seen, cf = _read(path, folders)
    cf.path = str(path)
    if edit:
        text, results = edit(cf)
        return FilePlan(str(path), real, followed, cf.to_bytes(), cf.to_bytes(text), results, seen, cf)
    edits, results = plan_edits(cf, given, pages, disk)
    return FilePlan(str(path), real, followed, cf.to_bytes(), cf.to_bytes(_spliced(cf.text, edits)), results,
                    seen, cf, edits)


def _read(path: str | Path, folders: dict[str, str] | None = None) -> tuple[Path, bool, Stamp | None, ConfigFile]:
    """The file behind ``path`` (its absolute path, whether a link was followed), the stamp
    of that file as it was when read, and its parse.

    The stamp must be taken before the read, so that a later edit shows as a change.  The
    file is opened with O_NOFOLLOW and the stamp is the open file's own fstat: one open and
    one stat instead of an lstat to tell a link, another of the path resolved, and the
    open's.  A link (ELOOP) is resolved (server.real_path) and its file opened the same way;
    anything refused takes the way that follows links and names what is wrong."""
    name = os.fspath(path)
    full = name if name[:1] == "/" else os.path.join(os.getcwd(), name)
    got: list[os.stat_result] = []
    try:
        data = reader.read_bytes(name, got.append, follow=False)
    except OSError as exc:
        if exc.errno == errno.ELOOP and folders is not None:
            real = server.real_path(full, folders)
            try:
                data = reader.read_bytes(real, got.append, follow=False)
            except OSError:
                pass  # gone, or a link again meanwhile: the way below says which
            else:
                return _path(real), True, Stamp.of(got[0]), reader.parse(data, real)
        real, followed = resolve_link(path)
        try:
            seen = Stamp.of(os.lstat(real))
        except OSError:
            seen = None  # reading reports what is wrong
        return real, followed, seen, reader.read(real)
    real = _path(full)
    return real, False, Stamp.of(got[0]), reader.parse(data, str(real))


def plan_all(paths: Sequence[str | Path], given: dict | None = None, pages: str | None = None,
             progress: Callable[[int, int | None], None] | None = None,
             edit: Callable[[ConfigFile], tuple[str, list[VHostResult]]] | None = None) -> list[FilePlan]:
    """``[plan(p, given) for p in paths]``, the second half planned in a second process when
    there are many (reading and parsing is most of a patch's time).  Its plans arrive
    without ``cf``; an error in either half is raised here, as planning one by one would.
    ``progress(done, total)`` is told of files planned (the check's Progress)."""
    paths = list(paths)
    planned = 0
    disk: dict = {}  # the release check's lstat of each folder, once a run (location.release_of)
    folders: dict[str, str] = {}  # the real path of each folder links were followed from, once a run

    def done(n: int) -> None:
        nonlocal planned
        planned += n
        progress(planned, len(paths))

    return forked.map_split(lambda p: [plan(p, given, pages, edit, disk, folders)], paths,
                            done=done if progress else None)


def unplan_text(cf: ConfigFile) -> tuple[str, list[VHostResult]]:
    """``block.unpatch_text`` with its outcome in patch's terms, one result per vhost."""
    text, removals = block.unpatch_text(cf)
    results = []
    for vh, r in removals:
        ref = VHostRef(vh.tag, vh.line, vh.section.close_line, vh.within)
        if not r.blocks:
            results.append(VHostResult(ref, Action.NO_BLOCK))
            continue
        detail = [f"{r.put_back} line(s) back"] if r.put_back else []
        detail += ["it was edited by hand"] if r.edited else []
        detail += [f"{r.blocks - 1} duplicate block(s) removed too"] if r.blocks > 1 else []
        results.append(VHostResult(ref, Action.LEGACY_BACK if r.put_back else Action.REMOVED, ", ".join(detail)))
    return text, results


@dataclass
class ApplyReport:
    plans: list[FilePlan]
    checkpoint: Path | None = None
    tested: dict[Path, str] = field(default_factory=dict)  # main config -> outcome
    untested: list[str] = field(default_factory=list)  # files no server config includes


def apply(plans: list[FilePlan], *, config: Path | None = None, configtest: bool = True) -> ApplyReport:
    """Write every changed plan in one transaction: test the server configs that include
    them before and after, and roll back on failure (``transaction.Transaction``)."""
    report = ApplyReport(plans)
    changed = [p for p in plans if p.changed]
    if not changed:
        return report
    servers: dict[Path, server.Server] = {}
    if configtest:
        read = {str(p.real): p.cf for p in plans if p.cf is not None}  # as planned: the bytes still on disk
        if config is not None:
            srv = server.load(config, parsed=read)
            servers = {p.real: srv for p in changed if srv.includes(p.real)}
        else:
            servers = server.detect([p.real for p in changed], parsed=read)
        report.untested = [p.path for p in changed if p.real not in servers]
    tx = Transaction(servers=list(servers.values()), rejected="Apache rejects the patched config, all changes "
                                                               "rolled back")
    for p in changed:
        tx.edit(p.real, p.old_bytes, p.new_bytes, p.seen)
    report.checkpoint = tx.commit()
    report.tested = tx.tested
    return report
