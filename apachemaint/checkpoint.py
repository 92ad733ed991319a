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
Before relying on a link, ``create`` makes sure it is the file the patch was planned from:
its ``lstat`` must match the stamp taken when the file was read (inode, size, mtime, mode,
owner; the test write_many makes before it replaces a file), or, for a change without a
stamp, its bytes must be those bytes.  On any difference, a third name of the file (a hard
link the user keeps elsewhere could edit it in place) or ``OSError`` (another filesystem,
``fs.protected_hardlinks``) the backup is a copy of those bytes instead, mode 0600.  Only
``manifest.json`` (written last, once every backup is durable) makes a checkpoint one:
a folder without it is ignored, and removed when ``create`` fails.  The manifest format
is the same for links and copies (older manifests are indented, newer ones not: the same
JSON); ``restore`` checks each backup against the manifest's ``sha256_before`` either way.

A checkpoint is valid only once its run finished: ``begin`` writes an in-progress marker
(the run's pid) into the new folder before anything else, ``finish`` removes it at the
end, and a rolled-back run discards the whole folder.  A marker of a dead process means
the run was killed: ``put_back`` restores such a checkpoint as far as the run got, and
``tidy`` (at the next ``begin`` or ``put_back``) removes the folders of runs killed before
their manifest was written (they renamed nothing) with their temp files.

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
from dataclasses import dataclass, field
from pathlib import Path

from . import forked
from .caller import real_user
from .errors import ApacheMaintError, UnsafeWrite
from .safewrite import (
    PartialWrite,
    Stamp,
    pid_alive,
    remove_dead_temps_in,
    sync_in,
    sync_paths,
    write_atomic,
    write_many,
)


def state_dir() -> Path:
    if os.environ.get("APACHEMAINT_STATE_DIR"):
        return Path(os.environ["APACHEMAINT_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/apachemaint")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "apachemaint"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_sha = sha


@dataclass
class Change:
    path: str | Path  # the real file, links resolved
    before: bytes
    after: bytes
    seen: Stamp | None = None  # the file as it was when ``before`` was read from it


@dataclass
class Created:
    """A file, link or folder a run creates: ``restore`` removes it again."""
    path: str  # absolute
    kind: str  # "file", "link" or "folder"
    sha256: str = ""  # a file's bytes
    target: str = ""  # a link's target

    def record(self) -> dict:
        out = {"path": self.path, "kind": self.kind}
        if self.kind == "file":
            out["sha256"] = self.sha256
        if self.kind == "link":
            out["target"] = self.target
        return out


def create(changes: list[Change], created: list[Created] | tuple = (), *,
           command: list[str] | tuple | None = None, folder: Path | None = None) -> Path:
    """Save the original of every change in a checkpoint folder (a new one, or ``folder``
    from ``begin``), with a record of what the run creates, who ran it and which command;
    returns the folder."""
    folder = _new_folder() if folder is None else folder
    base = str(folder)
    try:
        entries, copies, links = [], [], []
        for i, ch in enumerate(changes, 1):
            path = os.fspath(ch.path)
            name = f"{i:04d}-{path.rpartition('/')[2]}"
            backup = f"{base}/{name}"
            if _link(path, backup, ch.before, ch.seen):
                links.append(backup)
            else:
                copies.append((backup, ch.before))
            entries.append({"path": path, "backup": name,
                            "sha256_before": _sha(ch.before), "sha256_after": _sha(ch.after)})
        try:
            write_many(copies, mode=0o600)
        except PartialWrite as exc:  # backups, not the caller's targets: nothing of theirs was written
            raise UnsafeWrite(f"cannot save the originals: {exc.message}", exc.file) from None
        sync_in(base, links)  # the links and the folder itself survive a crash
        sync_paths([folder.parent])
        manifest = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "who": real_user(),
                    "command": list(command or []), "files": entries,
                    "new": [c.record() for c in created]}
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

    def __init__(self, changes: list[Change], created: list[Created] | tuple = (), *,
                 command: list[str] | tuple | None = None) -> None:
        self.changes = changes
        self.created = created
        self.command = command
        self.folder: Path | None = None
        self.partner: forked.Partner | None = None
        self.made = begin([c.path for c in changes] + [c.path for c in created])  # here: the marker names this pid
        if len(changes) >= forked.MIN_ITEMS:
            partner = forked.Partner()
            if partner.start():
                if partner.child:
                    _create_for(partner, self)  # does not return
                self.partner = partner

    def create(self) -> Path:
        return create(self.changes, self.created, command=self.command, folder=self.made)

    def wait(self) -> Path:
        if self.folder is None:
            done = self._hear()
            if done is None:  # no second process, or it ended without a word
                self.folder = self.create()
            elif isinstance(done, BaseException):
                raise done
            else:
                self.folder = done
        return self.folder

    def abandon(self) -> None:
        """The write failed before it needed the checkpoint: remove it, once it is made."""
        self._hear()
        discard(self.made)

    def _hear(self) -> Path | BaseException | None:
        if self.partner is None:
            return None
        done = self.partner.receive()
        self.partner.stop()
        self.partner = None
        return done


def _create_for(partner: forked.Partner, saving: Saving) -> None:
    """In the second process: make the checkpoint, send its folder (or the error), leave."""
    try:
        try:
            done: Path | BaseException = saving.create()
        except BaseException as exc:  # create has removed its folder; the parent raises this
            done = exc
        partner.send(done)
    finally:
        os._exit(0)


MARKER = "in-progress"  # in a checkpoint folder while its run goes on: {"pid": ..., "start": ...}


def begin(paths: list[str | Path] | tuple = ()) -> Path:
    """A new checkpoint folder holding only the in-progress marker of this process (with the
    folders of ``paths``, where its temp files go), written before anything else: a
    checkpoint is valid only once its run has finished (``finish``) or been rolled back
    (``discard``).  What killed runs left is tidied first (``tidy``)."""
    tidy()
    folder = _new_folder()
    pid = os.getpid()
    marker = {"pid": pid, "start": _started(pid),
              "folders": sorted({os.path.dirname(os.path.abspath(p)) for p in paths})}
    try:
        write_atomic(folder / MARKER, json.dumps(marker).encode(), mode=0o600)
    except BaseException:
        discard(folder)
        raise
    return folder


def finish(folder: Path | None) -> None:
    """The run of ``folder`` has finished: its checkpoint is complete."""
    if folder is None:
        return
    try:
        os.unlink(folder / MARKER)
    except FileNotFoundError:
        return
    sync_paths([folder])


def _marked_folders(folder: Path) -> list[str]:
    """The target folders the in-progress marker of ``folder`` names."""
    try:
        folders = json.loads(_read_plain(folder, MARKER)).get("folders", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in folders if isinstance(f, str) and f.startswith("/")] if isinstance(folders, list) else []


def run_state(folder: Path) -> tuple[str, int | None]:
    """``("complete", None)``, ``("in progress", pid)`` while the run that made it goes on,
    or ``("interrupted", pid)`` when that run ended without finishing (killed)."""
    try:
        marker = json.loads(_read_plain(folder, MARKER))
        pid, start = int(marker["pid"]), marker.get("start")
    except FileNotFoundError:
        return "complete", None
    except (OSError, ValueError, KeyError, TypeError):
        return "interrupted", None  # a marker cut short: its run cannot have finished
    alive = pid_alive(pid) and (start is None or _started(pid) in (None, start))
    return ("in progress" if alive else "interrupted"), pid


def _started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc), to tell a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rpartition(b")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def tidy() -> list[Path]:
    """Remove the checkpoint folders of killed runs that never completed their checkpoint
    (an in-progress marker of a dead process and no manifest): such a run renamed nothing,
    as the first rename waits for the checkpoint.  The folders removed."""
    if not (state_dir() / "checkpoints").is_dir():
        return []
    root = checkpoints_root()
    remove_dead_temps_in([root / "any"])  # the temp files of backups and manifests: checkpoints/.apachemaint-tmp/
    gone = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or (folder / "manifest.json").exists():
            continue
        if (folder / MARKER).exists() and run_state(folder)[0] == "interrupted":
            remove_dead_temps_in(_marked_folders(folder))
            discard(folder)
            gone.append(folder)
    return gone


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
        # After the highest number of this second, never a freed lower one: a pruned or
        # discarded "-1" taken again would sort before the older "-2" (restore takes the last).
        taken = [name.rpartition("-")[2] for name in os.listdir(root) if name.startswith(stamp + "-")]
        n = 1 + max((int(t) for t in taken if t.isdigit()), default=0)
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


def _link(original: str, backup: str, before: bytes, seen: Stamp | None = None) -> bool:
    """Hard-link ``original`` as ``backup`` if it still holds exactly ``before`` and has no
    other name (one the user could edit in place, which would change the backup too).

    With ``seen`` (the file's stamp when ``before`` was read), "still holds" is that the link
    is the very inode read, unchanged in size, mtime, mode and owner: one lstat instead of
    opening and reading the file back, and the same test that lets write_many replace it."""
    try:
        os.link(original, backup, follow_symlinks=False)
    except OSError:
        return False
    if seen is not None:
        try:
            st = os.lstat(backup)
            same = st.st_nlink == 2 and Stamp.of(st) == seen
        except OSError:
            same = False
        if not same:
            os.unlink(backup)
        return same
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


@dataclass
class Restored:
    """What ``put_back`` did with a checkpoint."""
    folder: Path
    restored: list[Path] = field(default_factory=list)  # edited files, given their original bytes
    removed: list[Path] = field(default_factory=list)  # files, links and folders the run had created
    unchanged: list[Path] = field(default_factory=list)  # held the original already: not written
    interrupted: int | None = None  # the pid of a run killed before it finished, if it was
    state: str = "complete"


def restore(checkpoint: Path | None = None, *, force: bool = False) -> list[Path]:
    """``put_back``: the paths restored, then those removed."""
    done = put_back(checkpoint, force=force)
    return done.restored + done.removed


def put_back(checkpoint: Path | None = None, *, force: bool = False) -> Restored:
    """Put back every file of a checkpoint (the newest by default), and take away every
    file, link and folder its run created, in one transaction (``transaction``).

    A checkpoint is untrusted input (whoever could write the state folder wrote it): only a
    folder directly inside the private ``checkpoints/`` is read, each target must be an
    absolute, normalised path, each backup a plain name in that folder, read without
    following links, holding the bytes its ``sha256_before`` names.  A target is written
    only while it holds exactly what patch wrote (``sha256_after``) or already the original.
    ``force`` restores over a later edit of a target, but never relaxes the other checks:
    it does not create a missing target, nor write through a link.  A created file is
    removed only while it holds what the run wrote (``force``: whatever it holds), a link
    only while it is a link, a folder only when empty.

    A checkpoint whose run is still going on is refused.  One whose run was killed before
    it finished (an in-progress marker of a dead process) is restored as far as that run
    got: each file holding what the run wrote gets its backup back, each file still holding
    its original is left alone and reported so (``unchanged``), a file it had not created
    yet is skipped; the same checks as above apply to every file.
    """
    from .transaction import Transaction

    tidy()
    checkpoint, manifest = _open(checkpoint)
    state, pid = run_state(checkpoint)
    if state == "in progress":
        raise ApacheMaintError(f"in progress: its run (pid {pid}) has not finished; not restored", checkpoint)
    if state == "interrupted":  # its temp files, wherever it had got to
        remove_dead_temps_in(_marked_folders(checkpoint))
    entries, made = manifest["files"], manifest.get("new", [])
    if not isinstance(entries, list) or not isinstance(made, list):
        raise ApacheMaintError("not a readable checkpoint: files is not a list", checkpoint)
    done = Restored(checkpoint, state=state, interrupted=pid if state == "interrupted" else None)
    tx = Transaction(keep=False)
    for entry in entries:
        try:
            target, name = entry["path"], entry["backup"]
            before_sha, after_sha = entry["sha256_before"], entry["sha256_after"]
            if not all(isinstance(v, str) for v in (target, name, before_sha, after_sha)):
                raise TypeError
        except (KeyError, TypeError):
            raise ApacheMaintError("checkpoint record is malformed; not restored", checkpoint) from None
        path = _target(target, checkpoint)
        if name in ("", ".", "..", "manifest.json") or "/" in name or "\0" in name:
            raise ApacheMaintError(f"checkpoint names backup {name!r}, not a file of its own folder; "
                                   "not restored", checkpoint)
        try:
            backup = _read_plain(checkpoint, name)
        except OSError as exc:
            raise ApacheMaintError(f"cannot read backup: {exc.strerror}", checkpoint / name) from None
        if _sha(backup) != before_sha:
            raise ApacheMaintError("backup no longer holds the bytes saved before the patch; "
                                   "not restored", checkpoint / name)
        now = _current(path)
        if _sha(now) not in (after_sha, before_sha) and not force:
            raise ApacheMaintError("changed since apachemaint patched it; not restored "
                                   "(use --force to restore anyway)", path)
        if now == backup:
            done.unchanged.append(path)
            continue
        tx.edit(path, now, backup)
        done.restored.append(path)
    for entry in reversed(made):  # a folder's files before the folder
        try:
            path, kind = _target(entry["path"], checkpoint), entry["kind"]
            if kind not in ("file", "link", "folder"):
                raise TypeError
        except (KeyError, TypeError):
            raise ApacheMaintError("checkpoint record is malformed; not restored", checkpoint) from None
        if not os.path.lexists(path):
            continue  # already gone
        if kind == "file":
            now = _current(path)
            if _sha(now) != entry.get("sha256") and not force:
                raise ApacheMaintError("changed since apachemaint created it; not removed "
                                       "(use --force to remove anyway)", path)
            tx.remove(path, "file", data=now)
        elif kind == "link":
            if not os.path.islink(path):
                raise ApacheMaintError("is no longer the link apachemaint created; not removed", path)
            if os.readlink(path) != entry.get("target") and not force:
                raise ApacheMaintError(f"points to {os.readlink(path)} now, not to {entry.get('target')} as "
                                       "apachemaint made it; not removed (use --force to remove anyway)", path)
            tx.remove(path, "link", target=os.readlink(path))
        else:
            tx.remove(path, "folder")
        done.removed.append(path)
    tx.commit()
    return done


def _open(checkpoint: Path | None) -> tuple[Path, dict]:
    """The checkpoint folder (the newest by default) and its manifest, checked to be ours."""
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
        if not isinstance(manifest, dict) or "files" not in manifest:
            raise ValueError("no files in its manifest")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ApacheMaintError(f"not a readable checkpoint: {exc}", checkpoint) from None
    return checkpoint, manifest


def _target(target: object, checkpoint: Path) -> Path:
    if not isinstance(target, str):
        raise ApacheMaintError("checkpoint record is malformed; not restored", checkpoint)
    if not target.startswith("/") or os.path.normpath(target) != target or "\0" in target:
        raise ApacheMaintError(f"checkpoint names {target!r}, not an absolute normalised path; "
                               "not restored", checkpoint)
    return Path(target)


def _current(path: Path) -> bytes:
    try:
        return _read_plain(path.parent, path.name)
    except FileNotFoundError:
        raise ApacheMaintError("no longer exists; not restored", path) from None
    except OSError as exc:
        raise ApacheMaintError(f"cannot read: {exc.strerror} (a link or not a regular file?); "
                               "not restored", path) from None


# --- listing and pruning -----------------------------------------------------------------

def describe(folder: Path) -> dict:
    """What ``restore --list`` shows of a checkpoint: id, when, who, command, files.  A
    manifest from before these were recorded gives None for who and command."""
    try:
        manifest = json.loads(_read_plain(folder, "manifest.json"))
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    files = [e.get("path") for key in ("files", "new") for e in _list_of(manifest, key, dict)]
    command = _list_of(manifest, "command", str)
    state, pid = run_state(folder)
    return {"id": folder.name, "path": str(folder), "when": _str_of(manifest, "created"),
            "who": _str_of(manifest, "who"), "command": command or None, "files": files,
            "state": state, "pid": pid}


# A manifest is read as untrusted (see put_back): a field of another type is shown as missing.
def _list_of(manifest: dict, key: str, kind: type) -> list:
    value = manifest.get(key)
    return [v for v in value if isinstance(v, kind)] if isinstance(value, list) else []


def _str_of(manifest: dict, key: str) -> str | None:
    value = manifest.get(key)
    return value if isinstance(value, str) else None


def prune_settings(keep: int | None = None, max_age_days: int | None = None) -> tuple[int, int]:
    """``(keep, max_age_days)``: the given ones, else from the settings file, the
    environment, the defaults (``settings.resolve``, the one home of that order)."""
    from . import settings

    s = settings.resolve(settings.Settings(checkpoint_keep=keep, checkpoint_max_age_days=max_age_days),
                         settings.load(), os.environ)
    return s.checkpoint_keep, s.checkpoint_max_age_days


def prune(keep: int, max_age_days: int, *, spare: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove every checkpoint beyond the ``keep`` newest or older than ``max_age_days``,
    never the newest one (nor ``spare``); the folders removed, oldest first."""
    found = all_checkpoints()
    if not found:
        return []
    kept = set(found[-keep:]) if keep > 0 else set()
    cutoff = (time.time() if now is None else now) - max_age_days * 86400
    gone = []
    for folder in found[:-1]:
        if folder == spare:
            continue
        if folder in kept and _made_at(folder) >= cutoff:
            continue
        if run_state(folder)[0] == "in progress":
            continue  # another run is still writing what this checkpoint saves
        discard(folder)
        gone.append(folder)
    return gone


def _made_at(folder: Path) -> float:
    """When a checkpoint was made, from its folder's name (``20261207T125644Z-1``)."""
    import calendar

    try:
        return calendar.timegm(time.strptime(folder.name.split("-")[0], "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return 0.0


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
