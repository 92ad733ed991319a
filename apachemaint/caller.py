"""Who asked: the sudo caller behind a root process, and acting as that caller.

A sudoers rule that lets a deploy user run ``apachemaint`` must not let them read or write
what only root may (README "Security model").  So what a caller names for apachemaint to
read as a page template, or to write with ``render -o``, is opened with the caller's own
identity: the kernel then refuses what the caller could not do without sudo.

SUDO_UID and SUDO_USER are only environment variables: they count when we run as root and
agree with each other (as sudo sets them), never from a plain user's environment.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    uid: int
    gid: int
    name: str


def sudo_caller() -> Caller | None:
    """The account that ran us through sudo, or None (not root, not sudo, or inconsistent)."""
    if os.geteuid() != 0:
        return None
    name, uid = os.environ.get("SUDO_USER"), os.environ.get("SUDO_UID", "")
    if not name or not uid.isdigit():
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_uid != int(uid):
        return None
    return Caller(entry.pw_uid, entry.pw_gid, entry.pw_name)


def real_user() -> str:
    """The name of whoever asked: the sudo caller when sudo really ran us, else the real user."""
    found = sudo_caller()
    if found is not None:
        return found.name
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def caller_uid() -> int:
    """The uid a caller-supplied file is judged against (the sudo caller's, else the real uid)."""
    found = sudo_caller()
    return found.uid if found is not None else os.getuid()


@contextmanager
def as_caller():
    """Run the body with the sudo caller's effective uid, gid and groups; a no-op otherwise.

    Only the effective ids change (the real and saved ones stay root), so the body's end
    gives root back.  apachemaint is single-threaded, which this relies on.
    """
    who = sudo_caller()
    if who is None or who.uid == 0:
        yield
        return
    groups, egid = os.getgroups(), os.getegid()
    os.setgroups(os.getgrouplist(who.name, who.gid))
    os.setegid(who.gid)
    os.seteuid(who.uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(egid)
        os.setgroups(groups)


def write_output(path, data: bytes) -> None:
    """Write a file the caller named (``render -o``, ``check --output``) with the caller's rights:
    a sudoers rule for apachemaint must not write where its user could not."""
    from .safewrite import write_atomic

    with as_caller():
        write_atomic(path, data, mode=0o644)


TOKEN_FILE_LIMIT = 4096  # a token is at most 128 characters: anything larger is not a token file


def read_token(name: str) -> str:
    """The bypass token in the file ``name`` (``-``: stdin): its first line, surrounding blanks
    stripped.  A file, not argv, because argv is in ``ps`` and in sudo's log; so the file must be
    as private: a regular file, not a link, readable by its owner only, read with the caller's
    rights (a sudoers rule for apachemaint must not read what its user could not)."""
    from .block import check_token
    from .errors import ApacheMaintError
    from .reader import NotRegular, read_bytes

    what, where = "--bypass-token-file", None if name == "-" else name

    def vet(st: os.stat_result) -> None:
        if st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
            raise ApacheMaintError(f"{what}: readable by group or others (chmod 600 it, or pass the token on "
                                   "stdin with -)", name)
        if st.st_size > TOKEN_FILE_LIMIT:
            raise ApacheMaintError(f"{what}: {st.st_size} bytes is no token file", name)

    try:
        if name == "-":
            data = _first_line_of_stdin()
        else:
            with as_caller():
                data = read_bytes(name, vet, follow=False)
    except NotRegular:
        raise ApacheMaintError(f"{what}: not a regular file", name) from None
    except OSError as exc:
        why = "a link (name the file itself)" if exc.errno == errno.ELOOP else exc.strerror
        raise ApacheMaintError(f"{what}: cannot read it: {why}", name) from None
    first = data.split(b"\n", 1)[0].strip()
    if not first:
        raise ApacheMaintError(f"{what}: no token on its first line" if where else
                               f"{what} -: no token on the first line of stdin", where)
    return check_token(first.decode("ascii", "replace"), f"{what} -" if where is None else what, where)


def _first_line_of_stdin() -> bytes:
    # A byte at a time from fd 0, never through Python's buffer: what follows the line stays
    # for the command `run` starts, which inherits stdin (a buffered read would swallow it).
    got = bytearray()
    while len(got) < TOKEN_FILE_LIMIT and not got.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte:
            break
        got += byte
    return bytes(got)
