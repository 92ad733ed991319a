"""Who asked: the sudo caller behind a root process, and acting as that caller.

A sudoers rule that lets a deploy user run ``apachemaint`` must not let them read or write
what only root may (README "Security model").  So what a caller names for apachemaint to
read as a page template, or to write with ``render -o``, is opened with the caller's own
identity: the kernel then refuses what the caller could not do without sudo.

SUDO_UID and SUDO_USER are only environment variables: they count when we run as root and
agree with each other (as sudo sets them), never from a plain user's environment.
"""

from __future__ import annotations

import os
import pwd
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
