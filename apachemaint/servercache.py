"""What ``server.detect`` learnt about the installed servers, kept between runs.

A one-file ``check`` (pre-commit runs it on every commit) asks whether the file belongs
to the installed server, to give it that server's modules.  The answer is almost always
no (the file is in a project's checkout), and finding that out means reading the whole
installed config.  This keeps the one fact that answers it: the real path of every file
each installed server includes.  A file that some server does include is not answered
from here: its rules need the whole server, so ``detect`` reads it as before.

The record is used only while everything the walk depended on is as it was when it was
written: every file it read and every folder it listed (path, inode, size, mtime and
ctime; for a link the link's own inode too), each platform's main config, markers and
os-release (which servers are installed), the environment variables an Include path
names, APACHEMAINT_ROOT, the apachemaint version and the sources that do the reading.
Any difference, and any record this cannot follow, means reading the server again.

The record is untrusted input: JSON only, read from the user's own cache folder
(``$XDG_CACHE_HOME/apachemaint``, ``~/.cache/apachemaint``, or APACHEMAINT_CACHE_DIR;
empty: no cache), and only if that folder and the file are owned by the current user,
are not links, and are not writable by group or others.  Written atomically (a temporary
file renamed over it); a record that cannot be written is simply not kept.
"""
from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from . import __version__

FORMAT = 1
NAME = "servers.json"
_MAX_BYTES = 64 << 20
# A walk whose inputs changed this recently may have seen them half-changed: not kept.
# (Two seconds covers the coarsest file times in use, FAT's and some network mounts'.)
_SETTLED_NS = 2_000_000_000
# The modules whose code decides which files a server includes.
_SOURCES = ("server.py", "reader.py", "layouts.py", "envvars.py", "conditions.py", "servercache.py")


def folder() -> str | None:
    given = os.environ.get("APACHEMAINT_CACHE_DIR")
    if given is not None:
        return given or None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "apachemaint")


def none_includes(paths: Iterable[str | Path]) -> bool:
    """True when a valid record says that no installed server includes any of ``paths``;
    False when one does, or when there is no record that can be trusted."""
    rec = _read()
    if rec is None:
        return False
    try:
        if (rec["format"] != FORMAT or rec["version"] != __version__ or rec["sources"] != _sources()
                or rec["root"] != _root()):
            return False
        if any(os.environ.get(name) != value for name, value in rec["env"].items()):
            return False
        if any(_key(path) != key for path, key in rec["seen"].items()):
            return False
        files = set(rec["files"])
    except (KeyError, TypeError, AttributeError, ValueError):
        return False
    return not any(os.path.realpath(p) in files for p in paths)


def remember(servers: list, started_ns: int) -> None:
    """Keep what ``detect`` found: ``servers``, each a (Layout, Server) it loaded in a walk
    that began at ``started_ns`` (time.time_ns)."""
    if folder() is None:
        return
    paths = _probed()
    env: dict[str, str | None] = {}
    files: set[str] = set()
    for layout, srv in servers:
        inputs = _inputs(layout, srv)
        if inputs is None:
            return
        paths |= inputs[0]
        env.update({name: os.environ.get(name) for name in inputs[1]})
        files |= srv.files
    seen = {p: _key(p) for p in sorted(paths)}
    # mtime, not ctime: what a server includes changes only through a file's text, a link or
    # a folder's names, each of which sets an mtime (and tests can set one in the past).
    if any(key is not None and max(key[3], key[6]) >= started_ns - _SETTLED_NS for key in seen.values()):
        return
    import json

    rec = {"format": FORMAT, "version": __version__, "sources": _sources(), "root": _root(), "env": env,
           "seen": seen, "files": sorted(files)}
    _write(json.dumps(rec, separators=(",", ":")).encode())


def _probed() -> set[str]:
    """The paths whose presence decides which servers are installed (layouts.candidates)."""
    from . import layouts

    at = layouts.root()
    probed = [lay.under(at).main for lay in layouts.LAYOUTS]
    probed += [at / str(m).lstrip("/") for lay in layouts.LAYOUTS for m in lay.markers]
    probed += [at / "etc/os-release", at / "usr/lib/os-release"]
    return {str(p) for p in probed}


def _inputs(layout, srv) -> tuple[set[str], set[str]] | None:
    """The paths the walk of ``srv`` read or listed and the variable names its Include and
    ServerRoot lines name; None when the walk depended on more than that."""
    from . import reader
    from .server import VARIABLE

    main = str(srv.main)
    paths = {main, str(srv.main.parent / (layout.envvars or "envvars")), *srv.configs, *srv.files}
    names: set[str] = set()
    for path, cf in srv.configs.items():
        text = cf.lower_text
        if "include" not in text and "serverroot" not in text:
            continue
        included = False
        for node in reader.walk(cf.children):
            if type(node) is not reader.Directive or not node.args:
                continue
            if node.lname == "serverroot":
                if path != main or included:  # a root that changes midway: relative Includes moved
                    return None
                names.update(VARIABLE.findall(node.args[0]))
            elif node.lname in ("include", "includeoptional"):
                included = True
                names.update(VARIABLE.findall(node.args[0]))
                listed = _listed(srv.expand(node.args[0]), srv.server_root)
                if listed is None:
                    return None
                paths.add(listed)
    if names & set(srv.defined):  # a Define's value at that line, not at the end: not followed here
        return None
    return paths, names


def _listed(pattern: str, server_root: Path) -> str | None:
    """What an Include's result depends on besides the files it names: the folder a
    wildcard lists, or the path itself; None for a wildcard in a folder name or a whole
    folder (walked recursively; not followed here)."""
    import glob

    p = Path(pattern)
    if not p.is_absolute():
        p = server_root / p
    if glob.has_magic(str(p)):
        return None if glob.has_magic(str(p.parent)) else str(p.parent)
    return None if p.is_dir() else str(p)


def _key(path: str) -> list[int] | None:
    """What changes when ``path`` (or where its link points) is written, replaced or
    re-linked; None when it cannot be looked at."""
    try:
        st = os.stat(path)
        own = os.lstat(path)
    except (OSError, ValueError):
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
            own.st_ino, own.st_mtime_ns, own.st_ctime_ns]


def _sources() -> list:
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for name in _SOURCES:
        try:
            st = os.stat(os.path.join(here, name))
            out.append([name, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([name, None, None])
    return out


def _root() -> str:
    return os.path.abspath(os.environ.get("APACHEMAINT_ROOT") or "/")  # as layouts.root() reads it


def _ours(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _open_folder(path: str) -> int | None:
    """The cache folder, opened without following a link, if it is ours alone."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    if _ours(os.fstat(fd)):
        return fd
    os.close(fd)
    return None


def _read() -> dict | None:
    where = folder()
    if where is None:
        return None
    try:
        dir_fd = _open_folder(where)
    except OSError:
        return None
    if dir_fd is None:
        return None
    try:
        # O_NOFOLLOW refuses a link; O_NONBLOCK keeps a FIFO from hanging the check.
        fd = os.open(NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or not _ours(st) or st.st_size > _MAX_BYTES:
                return None
            with open(fd, "rb", closefd=False) as f:
                data = f.read(_MAX_BYTES + 1)
        finally:
            os.close(fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    import json

    try:
        rec = json.loads(data)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return None
    return rec if isinstance(rec, dict) else None


def _write(data: bytes) -> None:
    where = folder()
    if where is None:
        return
    try:
        parent = os.path.dirname(os.path.abspath(where))
        # Root with a user's HOME (sudo -E) must not fill, nor make, a folder in it: each level
        # made only inside a folder of our own.
        if not os.path.isdir(parent):
            if os.stat(os.path.dirname(parent)).st_uid != os.geteuid():
                return
            os.mkdir(parent, 0o700)
        if os.stat(parent).st_uid != os.geteuid():
            return
        if not os.path.isdir(where):
            os.mkdir(where, 0o700)
        dir_fd = _open_folder(where)
    except OSError:
        return
    if dir_fd is None:
        return
    temp = f".{NAME}.{os.getpid()}.{time.monotonic_ns()}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
        with open(fd, "wb") as f:
            f.write(data)
        # No fsync: a record torn by a crash is not valid JSON, and is read again.
        os.replace(temp, NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
    finally:
        os.close(dir_fd)
