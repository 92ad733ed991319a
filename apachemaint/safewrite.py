"""The one way apachemaint writes files: atomically, keeping mode and owner, never
through a symlink it did not expect.

A reader of a file (Apache reloading, a deploy script) sees either the old bytes or the
new ones: the data goes to a temp file on the same filesystem, is made durable, and is
renamed over the target; the folder is synced so the rename itself survives a crash.  The
temp file is made in ``.apachemaint-tmp/`` in the target folder's parent (``_temp_dir``),
never in the target's own folder, which ``Include folder/`` would load whole; a killed
run's leftovers there (their names carry its pid) are removed by the next write to that
folder (``remove_dead_temps``).

``write_many`` is the one code path; ``write_atomic`` is a batch of one.  A batch runs in
four phases, so a patch of 10,000 vhosts pays for durability once instead of 20,000 times:

1. check every target (``lstat``, or the caller's own from when it read the file: a
   symlink or anything but a regular file refuses the whole batch), then create, write,
   chmod and chown every temp file beside its target;
2. make all temp files durable: a small batch ``fsync``s each file as it is written; a
   large one calls ``syncfs(2)`` once per filesystem;
3. check that no target changed since phase 1 (or the caller's read), then rename each
   temp over its target;
4. sync each folder that got a rename (one ``fsync`` per folder, or ``syncfs`` when many).

Why ``syncfs`` keeps the guarantee of a per-file ``fsync``: it writes back every dirty
inode and page of the whole filesystem and commits its journal, which includes the temp
files (a superset of fsyncing them one by one).  Since Linux 5.8 it also reports writeback
errors: each open file samples the filesystem's error counter when it is opened, and
``syncfs`` on it returns any error recorded since.  The fd we call it on is the first temp
file of the batch on that filesystem, opened before any of the batch's data was written,
so a lost write of any temp file fails the batch.  Older kernels return 0 regardless,
so there (or when ``syncfs`` is missing, or refused, e.g. by a seccomp filter) every temp
file is fsynced instead.  The price: ``syncfs`` also flushes other programs' dirty data on
that filesystem, which is why small batches keep per-file ``fsync``.

Until phase 3 nothing the user owns has changed: any failure unlinks every temp file and
raises ``UnsafeWrite`` naming the file.  A rename that fails in phase 3 (rare: the disk
went read-only, a folder was removed under us) raises ``PartialWrite``, which lists the
targets already replaced so that the caller can put them back.
"""
from __future__ import annotations

import errno
import itertools
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .compat import SLOTS
from .errors import UnsafeWrite

SYNCFS_FROM = 16  # files (or folders) on one filesystem from which one syncfs beats fsyncing each

# syncfs errors that mean "cannot do that here", not "your data is lost": fall back to fsync.
_SYNCFS_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.EBADF, errno.EPERM, errno.EACCES, errno.EOPNOTSUPP}


class PartialWrite(UnsafeWrite):
    """A rename failed part-way through a batch: ``replaced`` (the paths as the caller named
    them) hold their new bytes, the rest of the batch is as it was."""

    def __init__(self, message: str, file: str | Path, replaced: list[str | Path]):
        super().__init__(message, file)
        self.replaced = replaced

    def __reduce__(self):
        return type(self), (self.message, self.file, self.replaced)


def resolve_link(path: str | Path) -> tuple[Path, bool]:
    """The real file behind ``path``; True when a link was followed (e.g. sites-enabled/)."""
    try:
        is_link = stat.S_ISLNK(os.lstat(path).st_mode)
    except (OSError, ValueError):
        is_link = False  # as Path.is_symlink; reading the file reports what is wrong
    if is_link:
        real = Path(path).resolve(strict=False)
        if not real.exists():
            raise UnsafeWrite(f"symlink points to {real}, which does not exist", path)
        return real, True
    return Path(os.path.join(os.getcwd(), path)), False  # Path.absolute(), at a third of its cost


class Stamp(NamedTuple):
    """What a stat tells of a file that any edit, replacement, chmod or chown changes (the
    attributes named as on ``os.stat_result``, so either does where one is asked for)."""
    st_dev: int
    st_ino: int
    st_mode: int
    st_uid: int
    st_gid: int
    st_size: int
    st_mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result | Stamp) -> Stamp:
        return cls(st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)


def write_atomic(path: str | Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``.

    An existing file keeps its mode and owner; a new file gets ``mode`` (default 0644).
    ``path`` itself must not be a symlink: callers resolve links they mean to follow.
    """
    write_many([(path, data)], mode=mode)


@dataclass(**SLOTS)
class _Pending:
    given: str | Path  # the path as the caller named it (what PartialWrite lists)
    target: str
    data: bytes
    st: Stamp | None  # the target as phase 1 found it (or the caller saw it); None for a new file
    seen: bool  # st is the caller's: the target must not have changed since the caller read it
    folder: str = ""  # the target's folder (_folder), worked out once: three phases ask for it
    tmp: str | None = None
    dev: int = -1  # the filesystem of the temp file


def write_many(items: Iterable[tuple[str | Path, bytes] | tuple[str | Path, bytes, Stamp | None]], *,
               mode: int | None = None, before_rename: Callable[[], object] | None = None) -> None:
    """Replace every ``path`` with its ``data``, all of them or (before phase 3) none.

    Each existing file keeps its mode and owner; new files get ``mode`` (default 0644).
    No path may be a symlink: callers resolve links they mean to follow.  A path named
    twice with the same data is written once; with different data the batch is refused.

    An item may be ``(path, data, seen)``, ``seen`` being the ``Stamp`` (or ``lstat``) of
    ``path`` taken before the caller read the bytes ``data`` was made from (None: not
    known).  Then the batch is refused, before any rename, unless ``path`` is still that
    file, unchanged in inode, size, mtime, mode and owner: an edit made after the caller's
    read is not overwritten (as far as a stat can tell: mtime moves in clock ticks of a
    few ms).  Phase 1 takes the mode and owner from ``seen`` instead of looking again.

    ``before_rename`` is called once every temp file is written and durable, before the
    check of phase 3 and the first rename: what must be complete before any target is
    replaced (a checkpoint made meanwhile in another process) is waited for there.  If it
    raises, nothing is renamed and the temp files are removed.
    """
    pending = _check(items)
    if not pending:
        return
    temp_dirs: dict[str, str | None] = {}  # target folder -> where its temp files go (_temp_dir)
    try:
        _write_all(pending, mode, before_rename, temp_dirs)
    finally:
        for tmp_dir in set(temp_dirs.values()) - {None}:
            try:
                os.rmdir(tmp_dir)  # left in place while another run still has temp files there
            except OSError:
                pass


def _write_all(pending: list[_Pending], mode: int | None, before_rename: Callable[[], object] | None,
               temp_dirs: dict[str, str | None]) -> None:
    syncfs = _syncfs() if len(pending) >= SYNCFS_FROM else None
    fs_fds: dict[int, int] = {}  # st_dev -> the first temp file on it, kept open for syncfs
    try:
        for folder in {p.folder for p in pending}:
            remove_dead_temps(folder, _temp_dir(folder, temp_dirs))
        for p in pending:
            _write_temp(p, mode, fs_fds if syncfs else None, temp_dirs)
        if syncfs:
            _sync_temps(syncfs, fs_fds, pending)
        if before_rename:
            before_rename()
        _unchanged(pending)
    except BaseException as exc:
        _unlink_temps(pending)
        if isinstance(exc, OSError):
            raise UnsafeWrite(f"cannot write: {exc.strerror}", exc.filename or pending[0].target) from None
        raise
    finally:
        for fd in fs_fds.values():
            os.close(fd)
    replaced: list[_Pending] = []
    try:
        for p in pending:
            try:
                os.replace(p.tmp, p.target)
            except OSError as exc:
                if replaced:
                    raise PartialWrite(f"cannot write: {exc.strerror} (after writing {len(replaced)} other "
                                       "file(s) of the same batch)", p.target, [r.given for r in replaced]) from None
                raise UnsafeWrite(f"cannot write: {exc.strerror}", p.target) from None
            p.tmp = None
            replaced.append(p)
    finally:
        _unlink_temps(pending)
        _sync_folders({p.folder for p in replaced})


def _check(items: Iterable[tuple]) -> list[_Pending]:
    """Phase 1a: every target is a regular file or missing; nothing is created yet."""
    pending: dict[str, _Pending] = {}
    cwd = os.getcwd()
    for path, data, *seen in items:
        target = _plain(path)
        key = target if target[:1] == "/" else os.path.join(cwd, target)
        if key in pending:
            if pending[key].data != data:
                raise UnsafeWrite("named twice in one write with different contents", target)
            continue
        if seen and seen[0] is not None:
            _regular(seen[0], target)
            pending[key] = _Pending(path, target, data, Stamp.of(seen[0]), True, _folder(target))
        else:
            pending[key] = _Pending(path, target, data, _lstat(target), False, _folder(target))
    return list(pending.values())


def _plain(path: str | Path) -> str:
    """``path`` as a string, with ``.`` parts and doubled slashes gone as in a Path (which
    already has them gone): two spellings of one file must meet in one batch entry."""
    s = os.fspath(path)
    if isinstance(path, str) and ("/." in s or "//" in s or s.startswith("./") or s.endswith("/")):
        return str(Path(s))
    return s


def _folder(target: str) -> str:
    return os.path.dirname(target) or "."


def _lstat(target: str) -> Stamp | None:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafeWrite(f"cannot inspect: {exc.strerror}", target) from None
    _regular(st, target)
    return Stamp.of(st)


def _regular(st: os.stat_result | Stamp, target: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeWrite("is a symlink; refusing to write through it", target)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeWrite("is not a regular file", target)


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_NUMBER = itertools.count()
_TEMP_TRIES = 100


def _create_temp(target: str, folder: str, mode: int, temp_dirs: dict[str, str | None]) -> tuple[int, str]:
    """A new, empty file of ours for ``target``: ``PID-N.NAME`` in the folder's temp folder
    (``_temp_dir``), else ``.NAME.PID-N.apachemaint-tmp`` beside it.

    ``O_EXCL`` makes the file ours (a name that exists, even as a dangling symlink, fails
    it without following it).  A name that is taken (a leftover of a crashed run, or a
    guess by someone who may write in the folder) is retried with random ones, as
    ``tempfile.mkstemp`` would; a counter is a quarter of mkstemp's cost in Python."""
    cut = target.rfind("/") + 1
    suffix = f"{os.getpid()}-{next(_TEMP_NUMBER)}"
    for _ in range(_TEMP_TRIES):
        tmp_dir = _temp_dir(folder, temp_dirs)
        tmp = f"{tmp_dir}/{suffix}.{target[cut:]}" if tmp_dir else \
            f"{target[:cut]}.{target[cut:]}.{suffix}{TEMP_SUFFIX}"
        try:
            return os.open(tmp, _TEMP_FLAGS, mode), tmp
        except FileExistsError:
            suffix = f"{os.getpid()}-{os.urandom(8).hex()}"
        except FileNotFoundError:
            if not tmp_dir:
                raise
            temp_dirs.pop(folder, None)  # another run removed the empty temp folder meanwhile: make it again
    raise FileExistsError(errno.EEXIST, "no free temporary file name", folder)


TEMP_DIR = ".apachemaint-tmp"
TEMP_SUFFIX = ".apachemaint-tmp"
_DEAD_TEMP = re.compile(r"^(\d+)-[0-9a-f]+\.|\.(\d+)(?:-[0-9a-f]+)?\.apachemaint-tmp$")


def _temp_dir(folder: str, temp_dirs: dict[str, str | None]) -> str | None:
    """Where the temp files of targets in ``folder`` are made: ``.apachemaint-tmp/`` in the
    folder's parent, out of reach of ``Include folder/`` (which loads every file of a folder,
    dotfiles and subfolders included) and on the same filesystem, so the rename stays
    atomic.  Made 0700; one that is a link or owned by another user is refused.  None
    (temp files beside the target, as before) where the parent cannot hold it: the folder
    is ``/`` or a mount point, we may not write in the folder or its parent, or someone
    else may (``_ours_alone``)."""
    if folder in temp_dirs:
        return temp_dirs[folder]
    temp_dirs[folder] = None
    here = os.path.abspath(folder)
    parent = os.path.dirname(here)
    writable = os.access(here, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids)
    if parent == here or os.path.ismount(here) or not writable or not _ours_alone(parent):
        return None
    tmp_dir = os.path.join(parent, TEMP_DIR)
    try:
        os.mkdir(tmp_dir, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None  # a parent we may not write in (EACCES, EROFS): beside the target
    try:
        st = os.lstat(tmp_dir)
    except OSError as exc:
        raise UnsafeWrite(f"cannot inspect: {exc.strerror}", tmp_dir) from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeWrite("is a link or not a folder; refusing to make temp files in it", tmp_dir)
    if st.st_uid != os.geteuid():
        raise UnsafeWrite(f"is owned by uid {st.st_uid}, not by uid {os.geteuid()}; refusing to make "
                          "temp files in it", tmp_dir)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(tmp_dir, 0o700, follow_symlinks=False)
    temp_dirs[folder] = tmp_dir
    return tmp_dir


def _ours_alone(folder: str) -> bool:
    """Whether only we (or root) may change the names in ``folder``.  The temp folder is
    checked and then used by name; where someone else may write in its parent, they could
    swap it for a link in between and have root create files wherever it points."""
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return st.st_uid in (0, os.geteuid()) and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def remove_dead_temps(folder: str | Path, tmp_dir: str | None = None) -> list[str]:
    """Remove the temp files a killed run left for targets in ``folder`` (in ``tmp_dir``,
    its temp folder, and beside the targets as older versions made them): the ones of
    ours whose process (the pid in the name) is gone.  The paths removed."""
    removed = []
    for where, beside in ((tmp_dir, False), (os.fspath(folder), True)):
        if not where:
            continue
        try:
            entries = list(os.scandir(where))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if beside and not name.endswith(TEMP_SUFFIX):
                continue
            m = _DEAD_TEMP.search(name)
            pid = m and int(m.group(1) or m.group(2))
            if not pid or pid_alive(pid):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_uid != os.geteuid() or entry.is_dir(follow_symlinks=False):
                    continue
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed


def remove_dead_temps_in(folders: Iterable[str | Path]) -> list[str]:
    """``remove_dead_temps`` for each target folder, with the temp folder in its parent if
    there is one of ours (removed too once empty): what a killed run left there."""
    removed = []
    for folder in {os.path.abspath(f) for f in folders}:
        tmp_dir = os.path.join(os.path.dirname(folder), TEMP_DIR)
        try:
            st = os.lstat(tmp_dir)
            ours = stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
        except OSError:
            ours = False
        removed += remove_dead_temps(folder, tmp_dir if ours else None)
        if ours:
            try:
                os.rmdir(tmp_dir)
            except OSError:
                pass
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (another user's counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def temp_path(target: str | Path) -> str:
    """A name that does not exist yet, where a temp file for ``target`` goes (for what is
    not a file, e.g. a symlink made and then renamed over ``target``)."""
    target = os.fspath(target)
    dirs: dict[str, str | None] = {}
    tmp_dir = _temp_dir(_folder(target), dirs)
    cut = target.rfind("/") + 1
    suffix = f"{os.getpid()}-{next(_TEMP_NUMBER)}"
    return f"{tmp_dir}/{suffix}.{target[cut:]}" if tmp_dir else f"{target[:cut]}.{target[cut:]}.{suffix}{TEMP_SUFFIX}"


def _write_temp(p: _Pending, mode: int | None, fs_fds: dict[int, int] | None,
                temp_dirs: dict[str, str | None]) -> None:
    """Phase 1b: the temp file for ``p.target`` (``_create_temp``), with the data, mode and owner.

    ``fs_fds`` is None when each file is fsynced here; otherwise the first temp file on
    each filesystem stays open in it (see the module docstring) and syncfs comes later.
    """
    wanted = stat.S_IMODE(p.st.st_mode) if p.st is not None else 0o644 if mode is None else mode
    try:
        # Made with the permission bits it ends with (less the umask), so that most temp
        # files need no chmod.
        fd, p.tmp = _create_temp(p.target, p.folder, wanted & 0o777, temp_dirs)
    except OSError as exc:
        raise UnsafeWrite(f"cannot write in {p.folder}: {exc.strerror}", p.target) from None
    keep = False
    try:
        made = os.fstat(fd)
        p.dev = made.st_dev
        if fs_fds is not None and made.st_dev not in fs_fds:
            fs_fds[made.st_dev] = fd
            keep = True
        # Compared with the temp file itself, not our uid: a setgid folder gives its group.
        chown = p.st is not None and (p.st.st_uid, p.st.st_gid) != (made.st_uid, made.st_gid)
        if chown:
            os.fchmod(fd, 0o600)  # still empty: its group is not the target's, so ours alone until chown
        view = memoryview(p.data)
        while view:
            view = view[os.write(fd, view):]
        if chown:
            try:
                os.fchown(fd, p.st.st_uid, p.st.st_gid)
            except PermissionError:
                raise UnsafeWrite(f"cannot keep owner {p.st.st_uid}:{p.st.st_gid} "
                                  "(run as that user or root)", p.target) from None
        if chown or stat.S_IMODE(made.st_mode) != wanted:
            os.fchmod(fd, wanted)  # after fchown, which may clear setuid/setgid
        if fs_fds is None:
            os.fsync(fd)
    except OSError as exc:
        raise UnsafeWrite(f"cannot write: {exc.strerror}", p.target) from None
    finally:
        if not keep:
            os.close(fd)


def _sync_temps(syncfs, fs_fds: dict[int, int], pending: list[_Pending]) -> None:
    """Phase 2 for a large batch: one syncfs per filesystem, fsync of each file where refused."""
    for dev, fd in fs_fds.items():
        if syncfs(fd) == 0:
            continue
        err = _errno()
        on_dev = [p for p in pending if p.tmp is not None and p.dev == dev]
        if err not in _SYNCFS_UNSUPPORTED:
            raise UnsafeWrite(f"cannot write: {os.strerror(err)} (syncfs)", on_dev[0].target if on_dev else None)
        for p in on_dev:
            try:
                _fsync_path(p.tmp)
            except OSError as exc:
                raise UnsafeWrite(f"cannot write: {exc.strerror}", p.target) from None


def _unchanged(pending: list[_Pending]) -> None:
    """Phase 3a: no target was replaced, edited, chmodded or created since phase 1 found it
    (or since the caller read it, for an item with ``seen``)."""
    for p in pending:
        try:
            now = os.lstat(p.target)
        except FileNotFoundError:
            now = None
        if (now and Stamp.of(now)) != p.st:
            when = "since apachemaint read it" if p.seen else "while apachemaint was writing it"
            raise UnsafeWrite(f"changed {when}; nothing written", p.target)


def _unlink_temps(pending: list[_Pending]) -> None:
    for p in pending:
        if p.tmp is not None:
            try:
                os.unlink(p.tmp)
            except FileNotFoundError:
                pass
            p.tmp = None


def _sync_folders(folders: set[str]) -> None:
    """Phase 4: make the renames durable, best effort (the new bytes are in place already)."""
    try:
        sync_paths(folders)
    except UnsafeWrite:
        pass


def sync_paths(paths: Iterable[str | Path]) -> None:
    """Make existing files and folders durable: their data, and for a folder its entries.

    Per filesystem, one ``syncfs`` when there are ``SYNCFS_FROM`` paths or more, else an
    ``fsync`` of each.  A file that cannot be synced raises ``UnsafeWrite``; a folder is
    best effort, as some filesystems cannot fsync one.
    """
    by_dev: dict[int, list[tuple[str | Path, bool]]] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise UnsafeWrite(f"cannot sync: {exc.strerror}", path) from None
        by_dev.setdefault(st.st_dev, []).append((path, stat.S_ISDIR(st.st_mode)))
    syncfs = _syncfs() if any(len(group) >= SYNCFS_FROM for group in by_dev.values()) else None
    for group in by_dev.values():
        if syncfs and len(group) >= SYNCFS_FROM and _syncfs_at(syncfs, group[0][0]):
            continue
        for path, is_dir in group:
            try:
                _fsync_path(path)
            except OSError as exc:
                if not is_dir:
                    raise UnsafeWrite(f"cannot sync: {exc.strerror}", path) from None


def sync_in(folder: str | Path, names: list[str]) -> None:
    """``sync_paths`` for ``folder`` and ``names``, files in it (so on its filesystem, which
    needs no stat of each to be told): one ``syncfs`` there when they are many."""
    syncfs = _syncfs() if len(names) + 1 >= SYNCFS_FROM else None
    if syncfs and _syncfs_at(syncfs, folder):
        return
    sync_paths([*names, folder])


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs_at(syncfs, path: str | Path) -> bool:
    """syncfs on the filesystem of ``path``; False when refused here (fsync each instead)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        if syncfs(fd) == 0:
            return True
        err = _errno()
    finally:
        os.close(fd)
    if err in _SYNCFS_UNSUPPORTED:
        return False
    raise UnsafeWrite(f"cannot sync: {os.strerror(err)} (syncfs)", path)


_SYNCFS: list = []  # [the libc function or None], looked up once


def _syncfs():
    """libc's syncfs, or None where it does not report writeback errors (before Linux 5.8)."""
    if not _SYNCFS:
        _SYNCFS.append(_load_syncfs())
    return _SYNCFS[0]


def _load_syncfs():
    if not sys.platform.startswith("linux"):
        return None
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (5, 8):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()
