"""The one way apachemaint writes files: atomically, keeping mode and owner, never
through a symlink it did not expect.

A reader of a file (Apache reloading, a deploy script) sees either the old bytes or the
new ones: the data goes to a temp file in the same folder, is made durable, and is renamed
over the target; the folder is synced so the rename itself survives a crash.

``write_many`` is the one code path; ``write_atomic`` is a batch of one.  A batch runs in
four phases, so a patch of 10,000 vhosts pays for durability once instead of 20,000 times:

1. check every target (``lstat``: a symlink or anything but a regular file refuses the
   whole batch), then create, write, chmod and chown every temp file beside its target;
2. make all temp files durable: a small batch ``fsync``s each file as it is written; a
   large one calls ``syncfs(2)`` once per filesystem;
3. check that no target changed since phase 1, then rename each temp over its target;
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
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import UnsafeWrite

SYNCFS_FROM = 16  # files (or folders) on one filesystem from which one syncfs beats fsyncing each

# syncfs errors that mean "cannot do that here", not "your data is lost": fall back to fsync.
_SYNCFS_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.EBADF, errno.EPERM, errno.EACCES, errno.EOPNOTSUPP}


class PartialWrite(UnsafeWrite):
    """A rename failed part-way through a batch: ``replaced`` hold their new bytes, the
    rest of the batch is as it was."""

    def __init__(self, message: str, file: str | Path, replaced: list[Path]):
        super().__init__(message, file)
        self.replaced = replaced


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


def write_atomic(path: str | Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``.

    An existing file keeps its mode and owner; a new file gets ``mode`` (default 0644).
    ``path`` itself must not be a symlink: callers resolve links they mean to follow.
    """
    write_many([(path, data)], mode=mode)


@dataclass
class _Pending:
    target: Path
    data: bytes
    st: os.stat_result | None  # the target as phase 1 found it; None for a new file
    tmp: str | None = None
    dev: int = -1  # the filesystem of the temp file


def write_many(items: Iterable[tuple[str | Path, bytes]], *, mode: int | None = None) -> None:
    """Replace every ``path`` with its ``data``, all of them or (before phase 3) none.

    Each existing file keeps its mode and owner; new files get ``mode`` (default 0644).
    No path may be a symlink: callers resolve links they mean to follow.  A path named
    twice with the same data is written once; with different data the batch is refused.
    """
    pending = _check(items)
    if not pending:
        return
    syncfs = _syncfs() if len(pending) >= SYNCFS_FROM else None
    fs_fds: dict[int, int] = {}  # st_dev -> the first temp file on it, kept open for syncfs
    try:
        for p in pending:
            _write_temp(p, mode, fs_fds if syncfs else None)
        if syncfs:
            _sync_temps(syncfs, fs_fds, pending)
        _unchanged(pending)
    except BaseException as exc:
        _unlink_temps(pending)
        if isinstance(exc, OSError):
            raise UnsafeWrite(f"cannot write: {exc.strerror}", exc.filename or pending[0].target) from None
        raise
    finally:
        for fd in fs_fds.values():
            os.close(fd)
    replaced: list[Path] = []
    try:
        for p in pending:
            try:
                os.replace(p.tmp, p.target)
            except OSError as exc:
                if replaced:
                    raise PartialWrite(f"cannot write: {exc.strerror} (after writing {len(replaced)} other "
                                       "file(s) of the same batch)", p.target, list(replaced)) from None
                raise UnsafeWrite(f"cannot write: {exc.strerror}", p.target) from None
            p.tmp = None
            replaced.append(p.target)
    finally:
        _unlink_temps(pending)
        _sync_folders({t.parent for t in replaced})


def _check(items: Iterable[tuple[str | Path, bytes]]) -> list[_Pending]:
    """Phase 1a: every target is a regular file or missing; nothing is created yet."""
    pending: dict[str, _Pending] = {}
    cwd = os.getcwd()
    for path, data in items:
        target = Path(path)
        key = os.path.join(cwd, target)  # as given when absolute
        if key in pending:
            if pending[key].data != data:
                raise UnsafeWrite("named twice in one write with different contents", target)
            continue
        pending[key] = _Pending(target, data, _lstat(target))
    return list(pending.values())


def _lstat(target: Path) -> os.stat_result | None:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafeWrite(f"cannot inspect: {exc.strerror}", target) from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeWrite("is a symlink; refusing to write through it", target)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeWrite("is not a regular file", target)
    return st


def _write_temp(p: _Pending, mode: int | None, fs_fds: dict[int, int] | None) -> None:
    """Phase 1b: the temp file beside ``p.target``, with the data, mode and owner.

    ``fs_fds`` is None when each file is fsynced here; otherwise the first temp file on
    each filesystem stays open in it (see the module docstring) and syncfs comes later.
    """
    folder = p.target.parent
    try:
        fd, p.tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.target.name}.", suffix=".apachemaint-tmp")
    except OSError as exc:
        raise UnsafeWrite(f"cannot write in {folder}: {exc.strerror}", p.target) from None
    keep = False
    try:
        made = os.fstat(fd)
        p.dev = made.st_dev
        if fs_fds is not None and made.st_dev not in fs_fds:
            fs_fds[made.st_dev] = fd
            keep = True
        view = memoryview(p.data)
        while view:
            view = view[os.write(fd, view):]
        if p.st is not None:
            # Compared with the temp file itself, not our uid: a setgid folder gives its group.
            if (p.st.st_uid, p.st.st_gid) != (made.st_uid, made.st_gid):
                try:
                    os.fchown(fd, p.st.st_uid, p.st.st_gid)
                except PermissionError:
                    raise UnsafeWrite(f"cannot keep owner {p.st.st_uid}:{p.st.st_gid} "
                                      "(run as that user or root)", p.target) from None
            os.fchmod(fd, stat.S_IMODE(p.st.st_mode))  # after fchown, which may clear setuid/setgid
        else:
            os.fchmod(fd, 0o644 if mode is None else mode)
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
    """Phase 3a: no target was replaced, edited, chmodded or created while the batch was written."""
    def key(st: os.stat_result | None):
        return st and (st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)

    for p in pending:
        try:
            now = os.lstat(p.target)
        except FileNotFoundError:
            now = None
        if key(now) != key(p.st):
            raise UnsafeWrite("changed while apachemaint was writing it; nothing written", p.target)


def _unlink_temps(pending: list[_Pending]) -> None:
    for p in pending:
        if p.tmp is not None:
            try:
                os.unlink(p.tmp)
            except FileNotFoundError:
                pass
            p.tmp = None


def _sync_folders(folders: set[Path]) -> None:
    """Phase 4: make the renames durable, best effort (the new bytes are in place already)."""
    try:
        sync_paths(folders)
    except UnsafeWrite:
        pass


def sync_paths(paths: Iterable[Path]) -> None:
    """Make existing files and folders durable: their data, and for a folder its entries.

    Per filesystem, one ``syncfs`` when there are ``SYNCFS_FROM`` paths or more, else an
    ``fsync`` of each.  A file that cannot be synced raises ``UnsafeWrite``; a folder is
    best effort, as some filesystems cannot fsync one.
    """
    by_dev: dict[int, list[tuple[Path, bool]]] = {}
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


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs_at(syncfs, path: Path) -> bool:
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
