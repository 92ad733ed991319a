"""Checkpoints: a copy of every file apachemaint is about to change, and the way back.

Backups go to a checkpoint folder rather than beside the file: Apache configs are often
included by glob or by whole directory (``Include conf.d/``), where a ``.bak`` next to the
vhost would be loaded as config.  The folder is ``$APACHEMAINT_STATE_DIR/checkpoints``
(default ``/var/lib/apachemaint`` for root, ``$XDG_STATE_HOME/apachemaint`` otherwise), one
sub-folder per run with a ``manifest.json``; ``apachemaint restore`` puts the files back.

A backup is a hard link to the original file where the checkpoint folder is on the same
filesystem: every write of apachemaint renames a new file over its target and never
changes the old inode, so once the patch is written the link is the only name of the
untouched original, with its own mode and owner, and costs neither a copy nor a write.
Before relying on a link, ``create`` reads it back and compares it with the bytes the
patch was planned from; on any difference, a third name of the file (a hard link the user
keeps elsewhere could edit it in place) or ``OSError`` (another filesystem,
``fs.protected_hardlinks``) the backup is a copy of those bytes instead, mode 0600.  Only
``manifest.json`` (written last, once every backup is durable) makes a checkpoint one:
a folder without it is ignored, and removed when ``create`` fails.  The manifest format
is the same for links and copies (older manifests are indented, newer ones not: the same
JSON); ``restore`` checks each backup against the manifest's ``sha256_before`` either way.

A large patch makes its checkpoint in a second process (``Saving``) while this one writes
the new files beside their targets: the two jobs, both mostly system calls, overlap, and
still no target is replaced before the checkpoint is complete (``Saving.wait``).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from . import forked
from .errors import ApacheMaintError, UnsafeWrite
from .safewrite import PartialWrite, sync_paths, write_atomic, write_many


def state_dir() -> Path:
    if os.environ.get("APACHEMAINT_STATE_DIR"):
        return Path(os.environ["APACHEMAINT_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/apachemaint")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "apachemaint"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Change:
    path: str | Path  # the real file, links resolved
    before: bytes
    after: bytes


def create(changes: list[Change]) -> Path:
    """Save the original of every change in a new checkpoint folder; returns the folder."""
    folder = _new_folder()
    base = str(folder)
    try:
        entries, copies, links = [], [], []
        for i, ch in enumerate(changes, 1):
            path = os.fspath(ch.path)
            name = f"{i:04d}-{path.rpartition('/')[2]}"
            backup = f"{base}/{name}"
            if _link(path, backup, ch.before):
                links.append(backup)
            else:
                copies.append((backup, ch.before))
            entries.append({"path": path, "backup": name,
                            "sha256_before": _sha(ch.before), "sha256_after": _sha(ch.after)})
        try:
            write_many(copies, mode=0o600)
        except PartialWrite as exc:  # backups, not the caller's targets: nothing of theirs was written
            raise UnsafeWrite(f"cannot save the originals: {exc.message}", exc.file) from None
        sync_paths([*links, base, str(folder.parent)])  # the links and the folder itself survive a crash
        manifest = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": entries}
        # Not indented: at 10,000 files the indenting encoder costs twice the compact one.
        write_atomic(folder / "manifest.json", json.dumps(manifest).encode(), mode=0o600)
    except BaseException:
        discard(folder)
        raise
    return folder


class Saving:
    """A checkpoint in the making: in a second process (``forked.Partner``) for a batch of
    ``forked.MIN_ITEMS`` files or more, else here when ``wait`` is called.  Either way
    ``wait`` gives the complete checkpoint or raises what ``create`` raised; a second process
    that ends without a word is replaced by making the checkpoint here."""

    def __init__(self, changes: list[Change]) -> None:
        self.changes = changes
        self.folder: Path | None = None
        self.partner: forked.Partner | None = None
        if len(changes) >= forked.MIN_ITEMS:
            partner = forked.Partner()
            if partner.start():
                if partner.child:
                    _create_for(partner, changes)  # does not return
                self.partner = partner

    def wait(self) -> Path:
        if self.folder is None:
            done = self._hear()
            if done is None:  # no second process, or it ended without a word
                self.folder = create(self.changes)
            elif isinstance(done, BaseException):
                raise done
            else:
                self.folder = done
        return self.folder

    def abandon(self) -> None:
        """The write failed before it needed the checkpoint: remove it, once it is made."""
        done = self._hear()
        if isinstance(done, Path):
            discard(done)

    def _hear(self) -> Path | BaseException | None:
        if self.partner is None:
            return None
        done = self.partner.receive()
        self.partner.stop()
        self.partner = None
        return done


def _create_for(partner: forked.Partner, changes: list[Change]) -> None:
    """In the second process: make the checkpoint, send its folder (or the error), leave."""
    try:
        try:
            done: Path | BaseException = create(changes)
        except BaseException as exc:  # create has removed its folder; the parent raises this
            done = exc
        partner.send(done)
    finally:
        os._exit(0)


def _private(folder: Path) -> None:
    """``folder`` exists as a real folder of ours that nobody else may write: made 0700
    whatever the umask, else refused.  Another user who could create or write in it could
    plant checkpoints that `restore` (as root) would follow."""
    try:
        os.mkdir(folder, 0o700)
        os.chmod(folder, 0o700, follow_symlinks=False)  # mkdir's mode is masked by the umask
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeWrite("state folder is a link or not a folder; refusing to use it", folder)
    if st.st_uid != os.geteuid():
        raise UnsafeWrite(f"state folder is owned by uid {st.st_uid}, not by uid {os.geteuid()}; "
                          "refusing to use it", folder)
    if st.st_mode & 0o022:
        raise UnsafeWrite(f"state folder is writable by group or others (mode {stat.S_IMODE(st.st_mode):o}); "
                          "refusing to use it", folder)


def private_state(below: str | None = None, what: str = "create a checkpoint") -> Path:
    """``state_dir()`` (or its folder ``below``), checked (and made) private; see ``_private``."""
    state = state_dir()
    try:
        if not state.parent.is_dir():
            os.makedirs(state.parent, 0o755, exist_ok=True)
        folders = [state] + ([state / below] if below else [])
        for folder in folders:
            _private(folder)
    except OSError as exc:
        raise ApacheMaintError(f"cannot {what}: {exc.strerror} "
                               "(set APACHEMAINT_STATE_DIR to a writable folder)", state) from None
    return folders[-1]


def checkpoints_root() -> Path:
    """``state_dir()/checkpoints``, both checked (and made) private; see ``_private``."""
    return private_state("checkpoints")


def _new_folder() -> Path:
    root = checkpoints_root()
    try:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        n = 1
        while True:
            folder = root / f"{stamp}-{n}"
            try:
                folder.mkdir(mode=0o700)
                return folder
            except FileExistsError:
                n += 1
    except OSError as exc:
        raise ApacheMaintError(f"cannot create a checkpoint: {exc.strerror} "
                               "(set APACHEMAINT_STATE_DIR to a writable folder)", root) from None


def _link(original: str, backup: str, before: bytes) -> bool:
    """Hard-link ``original`` as ``backup`` if it still holds exactly ``before`` and has no
    other name (one the user could edit in place, which would change the backup too)."""
    try:
        os.link(original, backup, follow_symlinks=False)
    except OSError:
        return False
    try:
        fd = os.open(backup, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            same = st.st_nlink == 2 and st.st_size == len(before) and _read_all(fd, len(before)) == before
        finally:
            os.close(fd)
    except OSError:
        same = False
    if not same:
        os.unlink(backup)
    return same


def _read_all(fd: int, size: int) -> bytes:
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, max(size - total, 0) + 1)  # one byte more, to see a file that grew
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)


def discard(folder: Path | None) -> None:
    """Remove a checkpoint that is not needed after all (a failed create, a rolled-back
    patch).  Best effort: the caller reports its own error, not one from cleaning up."""
    if folder is None:
        return
    try:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
    except OSError:
        pass


def all_checkpoints() -> list[Path]:
    if not (state_dir() / "checkpoints").is_dir():
        return []
    root = checkpoints_root()
    return sorted((p for p in root.iterdir() if (p / "manifest.json").is_file()),
                  key=lambda p: (p.name.split("-")[0], int(p.name.split("-")[-1])))


def restore(checkpoint: Path | None = None, *, force: bool = False) -> list[Path]:
    """Put back every file of a checkpoint (the newest by default).

    A checkpoint is untrusted input (whoever could write the state folder wrote it): only a
    folder directly inside the private ``checkpoints/`` is read, each target must be an
    absolute, normalised path, each backup a plain name in that folder, read without
    following links, holding the bytes its ``sha256_before`` names.  A target is written
    only while it holds exactly what patch wrote (``sha256_after``) or already the original.
    ``force`` restores over a later edit of a target, but never relaxes the other checks:
    it does not create a missing target, nor write through a link.
    """
    root = checkpoints_root() if (state_dir() / "checkpoints").is_dir() else None
    if checkpoint is None:
        found = all_checkpoints()
        if not found:
            raise ApacheMaintError("no checkpoint to restore", state_dir() / "checkpoints")
        checkpoint = found[-1]
    checkpoint = Path(os.path.abspath(checkpoint))
    if root is None or checkpoint.parent not in (root, Path(os.path.realpath(root))):
        raise ApacheMaintError("not a checkpoint of this state folder (only folders in "
                               f"{state_dir() / 'checkpoints'} are restored)", checkpoint)
    try:
        st = os.lstat(checkpoint)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise ApacheMaintError("checkpoint folder is a link, not ours or writable by others; not restored",
                                   checkpoint)
        manifest = json.loads(_read_plain(checkpoint, "manifest.json"))
        entries = manifest["files"]
        if not isinstance(entries, list):
            raise ValueError("files is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ApacheMaintError(f"not a readable checkpoint: {exc}", checkpoint) from None
    plans = []
    for entry in entries:
        try:
            target, name = entry["path"], entry["backup"]
            before_sha, after_sha = entry["sha256_before"], entry["sha256_after"]
            if not all(isinstance(v, str) for v in (target, name, before_sha, after_sha)):
                raise TypeError
        except (KeyError, TypeError):
            raise ApacheMaintError("checkpoint record is malformed; not restored", checkpoint) from None
        if not target.startswith("/") or os.path.normpath(target) != target or "\0" in target:
            raise ApacheMaintError(f"checkpoint names {target!r}, not an absolute normalised path; "
                                   "not restored", checkpoint)
        if name in ("", ".", "..", "manifest.json") or "/" in name or "\0" in name:
            raise ApacheMaintError(f"checkpoint names backup {name!r}, not a file of its own folder; "
                                   "not restored", checkpoint)
        path = Path(target)
        try:
            backup = _read_plain(checkpoint, name)
        except OSError as exc:
            raise ApacheMaintError(f"cannot read backup: {exc.strerror}", checkpoint / name) from None
        if _sha(backup) != before_sha:
            raise ApacheMaintError("backup no longer holds the bytes saved before the patch; "
                                   "not restored", checkpoint / name)
        try:
            now = _read_plain(path.parent, path.name)
        except FileNotFoundError:
            raise ApacheMaintError("no longer exists; not restored", path) from None
        except OSError as exc:
            raise ApacheMaintError(f"cannot read: {exc.strerror} (a link or not a regular file?); "
                                   "not restored", path) from None
        if _sha(now) not in (after_sha, before_sha) and not force:
            raise ApacheMaintError("changed since apachemaint patched it; not restored "
                                   "(use --force to restore anyway)", path)
        plans.append((path, backup))
    write_many(plans)
    return [p for p, _ in plans]


def _read_plain(folder: Path, name: str) -> bytes:
    """The bytes of regular file ``folder/name``, never through a link at its last part."""
    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return _read_all(fd, st.st_size)
    finally:
        os.close(fd)
