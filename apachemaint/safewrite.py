"""The one way apachemaint writes a file: atomically, keeping mode and owner, never
through a symlink it did not expect.

A reader of the file (Apache reloading, a deploy script) sees either the old bytes or the
new ones: the data goes to a temp file in the same folder, is fsynced, and is renamed over
the target; the folder is fsynced so the rename itself survives a crash.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import UnsafeWrite


def resolve_link(path: str | Path) -> tuple[Path, bool]:
    """The real file behind ``path``; True when a link was followed (e.g. sites-enabled/)."""
    p = Path(path)
    if p.is_symlink():
        real = p.resolve(strict=False)
        if not real.exists():
            raise UnsafeWrite(f"symlink points to {real}, which does not exist", path)
        return real, True
    return p.absolute(), False


def write_atomic(path: str | Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``.

    An existing file keeps its mode and owner; a new file gets ``mode`` (default 0644).
    ``path`` itself must not be a symlink: callers resolve links they mean to follow.
    """
    target = Path(path)
    folder = target.parent
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UnsafeWrite(f"cannot inspect: {exc.strerror}", target) from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UnsafeWrite("is a symlink; refusing to write through it", target)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UnsafeWrite("is not a regular file", target)

    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".apachemaint-tmp")
    except OSError as exc:
        raise UnsafeWrite(f"cannot write in {folder}: {exc.strerror}", target) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if st is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(fh.fileno(), st.st_uid, st.st_gid)
                    except PermissionError:
                        raise UnsafeWrite(
                            f"cannot keep owner {st.st_uid}:{st.st_gid} (run as that user or root)",
                            target) from None
            else:
                os.fchmod(fh.fileno(), 0o644 if mode is None else mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise UnsafeWrite(f"cannot write: {exc.strerror}", target) from None
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
