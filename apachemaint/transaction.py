"""One transaction for every change apachemaint makes to a server's files (the shape of
certbot's ``reverter``): ``patch``, ``check --fix``, ``new --enable`` and ``restore`` all
go through it.

A transaction is told what it is to do, then does all of it or none::

    with Transaction(servers=[srv]) as tx:
        tx.edit(path, before, after, seen)   # an existing file gets new bytes
        tx.create(path, data)                # a new file (it must not exist)
        tx.link(link, target)                # a new symlink
        tx.folder(path)                      # a new folder, made before what goes in it
    tx.checkpoint, tx.tested                 # what it did (commit runs at the end of the block)

``commit`` (run by the ``with`` block's end, or called directly) does, in this order:
the config test of each server before any change (a config that fails already is not
ours to judge); the checkpoint (``checkpoint.Saving``: the originals and a record of every
file, link and folder it creates, with who ran which command when; made in a second
process for a large batch while the new files are written); every write through
``safewrite.write_many``, the first rename waiting for the checkpoint; the config test
again; and on any failure the way back: edited files get their old bytes, created files,
links and folders are removed, the checkpoint goes.  Once it succeeded, old checkpoints
are pruned (``checkpoint.prune``, settings ``checkpoint-keep`` and
``checkpoint-max-age-days``).

``restore`` runs one with ``keep=False``: putting a checkpoint back makes no checkpoint of
its own, and runs no config test (it writes back what was there before).
"""
from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import checkpoint
from .errors import ApacheMaintError, ConfigTestFailed, UnsafeWrite
from .safewrite import TEMP_DIR, PartialWrite, Stamp, temp_path, write_many


@dataclass
class _Edit:
    path: Path
    before: bytes
    after: bytes
    seen: Stamp | None = None


@dataclass
class _Removal:
    path: Path
    kind: str  # "file", "link" or "folder"
    data: bytes = b""  # a file's bytes, to put back on rollback
    target: str = ""  # a link's target


@dataclass
class Transaction:
    """See the module docstring.  ``servers`` are tested before and after (anything with
    ``configtest()`` and ``main``); ``rejected`` opens the message of a failed test after
    the writes, ``hint`` ends it; ``command`` is recorded in the checkpoint (default: argv)."""
    servers: Sequence = ()
    rejected: str = "Apache rejects the changed config, all changes rolled back"
    hint: str = ""
    command: Sequence[str] | None = None
    keep: bool = True  # make a checkpoint (restore does not)
    checkpoint: Path | None = None
    tested: dict[Path, str] = field(default_factory=dict)  # main config -> outcome
    edits: list[_Edit] = field(default_factory=list)
    files: list[tuple[Path, bytes]] = field(default_factory=list)
    links: list[tuple[Path, str]] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    removals: list[_Removal] = field(default_factory=list)
    done: bool = False

    # --- what to do -------------------------------------------------------------------------

    def edit(self, path: str | Path, before: bytes, after: bytes, seen: Stamp | None = None) -> None:
        """``path`` (a regular file, links resolved) holds ``before`` and gets ``after``; with
        ``seen``, only if it is still the file that stamp describes (see ``write_many``)."""
        if before != after:
            # Path(a Path) parses it all again, once for every file of a large patch.
            self.edits.append(_Edit(path if isinstance(path, Path) else Path(path), before, after, seen))

    def put(self, path: str | Path, before: bytes | None, after: bytes) -> None:
        """``edit`` a file that holds ``before``, or ``create`` it where ``before`` is None."""
        if before is None:
            self.create(path, after)
        else:
            self.edit(path, before, after)

    def create(self, path: str | Path, data: bytes) -> None:
        """A new file (0644); the transaction fails if ``path`` exists by then."""
        self.files.append((Path(path), data))

    def link(self, link: str | Path, target: str) -> None:
        """A new symlink ``link`` -> ``target``."""
        self.links.append((Path(link), target))

    def folder(self, path: str | Path) -> None:
        """A new folder (0755), made before the files of the transaction."""
        self.folders.append(Path(path))

    def remove(self, path: str | Path, kind: str, data: bytes = b"", target: str = "") -> None:
        """Take away a file (holding ``data``), link (to ``target``) or empty folder that a
        checkpointed run created (what ``restore`` does with them)."""
        self.removals.append(_Removal(Path(path), kind, data, target))

    # --- doing it ---------------------------------------------------------------------------

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None and not self.done:
            self.commit()

    @property
    def empty(self) -> bool:
        return not (self.edits or self.files or self.links or self.folders or self.removals)

    def commit(self) -> Path | None:
        """Do everything asked, or nothing (see the module docstring); the checkpoint made."""
        self.done = True
        if self.empty:
            return None
        servers = list({id(s): s for s in self.servers}.values())
        prune = checkpoint.prune_settings() if self.keep else None  # a bad setting stops us before any write
        for srv in servers:
            ok, out = srv.configtest()
            if not ok:
                raise ConfigTestFailed("the server config fails its test before any change; fix that first or "
                                       f"use --no-configtest: {first_error(out)}", srv.main)
        for path, _ in self.files:
            if os.path.lexists(path):
                raise UnsafeWrite("exists; not overwritten", path)
        command = command_line() if self.command is None else list(self.command)
        saving = checkpoint.Saving(self._changes(), self._created(), command=command) if self.keep else None

        def saved() -> None:
            if saving is not None:
                self.checkpoint = saving.wait()

        undo = _Undo()
        try:
            if self.folders:
                saved()  # before the first mkdir: the checkpoint records the folders to take away
            for path in self.folders:
                _mkdir(path)
                undo.folders.append(path)
            writes = [(e.path, e.after, e.seen) for e in self.edits] + [(p, d, None) for p, d in self.files]
            try:
                write_many(writes, before_rename=saved)
            except PartialWrite as exc:
                undo.wrote(self, set(map(str, exc.replaced)))
                raise
            undo.wrote(self, None)
            saved()  # a transaction without a file to write (links, removals) still gets its checkpoint
            for link, target in self.links:
                _symlink(target, link)
                undo.links.append(link)
            for r in self.removals:
                _take_away(r)
                undo.removed.append(r)
            for srv in servers:
                ok, out = srv.configtest()
                if not ok:
                    raise ConfigTestFailed(f"{self.rejected}: {first_error(out)}{self.hint}", srv.main)
                self.tested[srv.main] = out.strip().splitlines()[-1] if out.strip() else "Syntax OK"
        except BaseException as exc:
            if saving is not None and self.checkpoint is None:  # nothing renamed yet: only the checkpoint to drop
                saving.abandon()
            if isinstance(exc, ApacheMaintError):
                undo.run(exc, self.checkpoint)
                checkpoint.discard(self.checkpoint)
                self.checkpoint = None
            raise
        if self.checkpoint is not None:
            checkpoint.finish(self.checkpoint)
            checkpoint.prune(*prune, spare=self.checkpoint)
        return self.checkpoint

    def _changes(self) -> list[checkpoint.Change]:
        return [checkpoint.Change(e.path, e.before, e.after, e.seen) for e in self.edits]

    def _created(self) -> list[checkpoint.Created]:
        return ([checkpoint.Created(str(p), "folder") for p in self.folders]
                + [checkpoint.Created(str(p), "file", checkpoint.sha(d)) for p, d in self.files]
                + [checkpoint.Created(str(p), "link", target=t) for p, t in self.links])


@dataclass
class _Undo:
    """What a commit has done so far, and how to take it back."""
    edits: list[_Edit] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    links: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    removed: list[_Removal] = field(default_factory=list)

    def wrote(self, tx: Transaction, replaced: set[str] | None) -> None:
        """Record the batch's writes: all of them, or the ``replaced`` ones."""
        self.edits = [e for e in tx.edits if replaced is None or str(e.path) in replaced]
        self.files = [p for p, _ in tx.files if replaced is None or str(p) in replaced]

    def run(self, cause: ApacheMaintError, saved: Path | None) -> None:
        """Put everything back; a failure to do so names the checkpoint that still can."""
        try:
            for r in reversed(self.removed):
                if r.kind == "link":
                    _symlink(r.target, r.path)
                elif r.kind == "folder":
                    _mkdir(r.path)
            back = [(e.path, e.before) for e in self.edits] + [(r.path, r.data) for r in self.removed
                                                                 if r.kind == "file"]
            write_many(back)
            for path in self.links + self.files:
                _unlink(path)
            for path in reversed(self.folders):
                try:
                    os.rmdir(path)
                except OSError:
                    pass  # not empty: something else was put there meanwhile; left
        except ApacheMaintError as exc:
            where = f"; the originals are in {saved} (apachemaint restore)" if saved else ""
            raise UnsafeWrite(f"{cause.message}; rolling back failed too ({exc}){where}",
                              cause.file, cause.line) from exc


def _mkdir(path: Path) -> None:
    try:
        os.mkdir(path, 0o755)
    except OSError as exc:
        raise UnsafeWrite(f"cannot create the folder: {exc.strerror}", path) from None


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UnsafeWrite(f"cannot remove: {exc.strerror}", path) from None


def _symlink(target: str, link: Path) -> None:
    """``link`` -> ``target``, made under a temp name where httpd does not look
    (``safewrite.temp_path``) and renamed over it, so the folder never shows a half-made
    link; an existing ``link`` must already be a link."""
    if os.path.lexists(link) and not os.path.islink(link):
        raise UnsafeWrite(f"exists and is not a link to {target}; left alone", link)
    tmp = temp_path(link)
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UnsafeWrite(f"cannot link: {exc.strerror}", link) from None
    finally:
        if os.path.basename(os.path.dirname(tmp)) == TEMP_DIR:
            try:
                os.rmdir(os.path.dirname(tmp))  # the temp folder, when empty
            except OSError:
                pass


def _take_away(r: _Removal) -> None:
    """Remove what ``r`` names, if it still is what a checkpoint recorded (checked again
    here, just before: the caller checked it while planning)."""
    try:
        st = os.lstat(r.path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UnsafeWrite(f"cannot inspect: {exc.strerror}", r.path) from None
    if r.kind == "folder":
        if stat.S_ISDIR(st.st_mode):
            try:
                os.rmdir(r.path)
            except OSError:
                pass  # holds files of someone else's: left in place
        return
    wanted = stat.S_ISLNK if r.kind == "link" else stat.S_ISREG
    if not wanted(st.st_mode):
        raise UnsafeWrite(f"is no longer the {r.kind} apachemaint created; not removed", r.path)
    _unlink(r.path)


def first_error(output: str) -> str:
    """The line of a config test's output that says what is wrong, with the modules the
    block needs when Apache does not know its directives."""
    from . import block
    from .httpd import explain

    msg = str(explain(output))
    if any(f"Invalid command '{name}" in msg for name in ("Rewrite", "Header'", "SetEnvIf")):
        msg += f" (the block needs {', '.join('mod_' + m for m in block.MODULES)}: {block.A2ENMOD})"
    return msg


def command_line(argv: Sequence[str] | None = None) -> list[str]:
    """The command as the user typed it, for the checkpoint's record."""
    args = list(sys.argv if argv is None else argv)
    return ["apachemaint", *args[1:]] if args else ["apachemaint"]
