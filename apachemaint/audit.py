"""The audit log of maintenance windows: who took which pages down or up, when, why, until when.

Nothing of a window is kept after `up` (its state folder goes), so `down` and `up` append
one JSON line each to ``$APACHEMAINT_STATE_DIR/windows.log``, read back by `apachemaint log`.
Append-only: the file is only ever opened with O_APPEND, never rewritten, and, since the
state folder is private (see checkpoint.private_state), only we write it.  The record is
written before the flip, so a log that cannot be written leaves the site as it was.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from . import checkpoint
from .errors import ApacheMaintError, UnsafeWrite

LOG = "windows.log"
_FLAGS = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def path() -> Path:
    return checkpoint.state_dir() / LOG


def _checked(fd: int, where: Path) -> None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafeWrite("audit log is not a regular file of ours; refusing to use it", where)


def append(record: dict) -> None:
    """Add one record as one line, in one write(2): O_APPEND puts it whole at the end."""
    folder = checkpoint.private_state(what="write the audit log")
    where = folder / LOG
    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    try:
        fd = os.open(where, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _FLAGS, 0o600)
    except OSError as exc:
        raise ApacheMaintError(f"cannot write the audit log: {exc.strerror}", where) from None
    _checked(fd, where)
    try:
        if os.write(fd, line) != len(line):
            raise ApacheMaintError("cannot write the audit log: short write", where)
        os.fsync(fd)
    except OSError as exc:
        raise ApacheMaintError(f"cannot write the audit log: {exc.strerror}", where) from None
    finally:
        os.close(fd)


def read() -> list[dict]:
    """Every record, oldest first; none when nothing was logged yet."""
    where = path()
    try:
        fd = os.open(where, os.O_RDONLY | _FLAGS)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ApacheMaintError(f"cannot read the audit log: {exc.strerror}", where) from None
    _checked(fd, where)
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    out = []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise ApacheMaintError("not an audit record (one JSON object a line)", where, n)
        out.append(record)
    return out
