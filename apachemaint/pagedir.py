"""Reaching a page folder as root without trusting what deploy users control.

apachemaint runs as root below docroots that belong to deploy users, so every name on the
way to the page is untrusted.  The walk starts at ``/`` and opens one folder at a time
with ``O_NOFOLLOW | O_DIRECTORY``, relative to the folder before it; everything after
that (creating, writing, renaming, removing, locking) goes through the folder's file
descriptor, so a name swapped for a link after the walk changes nothing we touch.

The link rule.  A link on the way is followed only when

- its owner is root, or owns what it points to (a user may link to their own folders
  only), and
- from the deploy tree down, it stays inside the deploy tree.  The deploy tree is the
  folder holding ``releases/`` and ``shared/`` (a Capistrano layout, the deepest such
  folder on the docroot's path), else the docroot itself.  So ``current -> releases/R``
  and ``public/system -> /srv/app/shared/public/system`` keep working, while a link to
  ``/etc`` or to another user's folder is refused.

Folders from the docroot down to the state folder must be owned by root or by the
docroot's owner and be writable by nobody else (no write bit for others; a group write
bit only for the owner's own group when no one else is listed in it).  apachemaint
changes the mode only of folders it has just created itself.  Anything else is refused
with the path and the reason, before anything is written.
"""
from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import secrets
import stat
import time
from dataclasses import dataclass, field

from .errors import ApacheMaintError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_LINKS = 40  # as the kernel's own limit on links followed in one lookup
LOCK_WAIT = 30.0  # seconds to wait for another apachemaint working on the same page folder
MAX_READ = 1 << 20  # a state record is a few hundred bytes; never read a huge file into memory


class UnsafeFolder(ApacheMaintError):
    """A folder on the way to the page that a user other than the docroot's owner controls."""


@dataclass
class _Check:
    """Popped once a link's target has been walked: is where it led allowed?"""
    link: str
    uid: int
    tree: str | None


_LEXICAL = object()  # popped after each component of the path as given: a candidate deploy tree


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


def _inside(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def _is_dir_at(fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _is_link_at(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _others_can_write(st: os.stat_result, owner: int) -> str | None:
    """Why someone other than root and ``owner`` can change this folder, or None."""
    if st.st_uid not in (0, owner):
        return f"owned by uid {st.st_uid}, not by root or the docroot's owner (uid {owner})"
    if st.st_mode & stat.S_IWOTH:
        return "writable by every user"
    if st.st_mode & stat.S_IWGRP:
        try:
            group = grp.getgrgid(st.st_gid)
            own = pwd.getpwuid(owner).pw_gid == st.st_gid
        except KeyError:
            group, own = None, False
        names = set()
        for uid in (0, owner):
            try:
                names.add(pwd.getpwuid(uid).pw_name)
            except KeyError:
                pass
        if not (group and own and set(group.gr_mem) <= names):
            return f"writable by group {st.st_gid}"
    return None


class _Walk:
    """One lookup, component by component, following links only by the rule above."""

    def __init__(self, fd: int, path: str, tree: str | None, owner: int | None):
        self.fd, self.path, self.tree, self.owner = fd, path, tree, owner
        self.links = 0
        self.made: list[str] = []  # folders this walk created, outermost first

    def close(self) -> None:
        os.close(self.fd)

    def _enter(self, fd: int, path: str) -> None:
        os.close(self.fd)
        self.fd, self.path = fd, path
        if self.owner is not None and self.tree is not None and _inside(path, self.tree):
            why = _others_can_write(os.fstat(fd), self.owner)
            if why:
                raise UnsafeFolder(f"refused: {why}", path)

    def down(self, parts: list[str], *, lexical: bool = False, create: int | None = None) -> bool:
        """Walk ``parts`` from here; False when a folder is missing (and not created).

        ``create``: the mode of folders to create when missing (the last one only).
        ``lexical``: the parts are the docroot's path as given, where a deploy tree may be.
        """
        todo: list = []
        for part in parts:
            todo.append(part)
            if lexical:
                todo.append(_LEXICAL)
        todo.reverse()
        while todo:
            item = todo.pop()
            if item is _LEXICAL:
                if _is_dir_at(self.fd, "releases") and _is_dir_at(self.fd, "shared"):
                    self.tree = self.path
                continue
            if isinstance(item, _Check):
                self._judge(item)
                continue
            if item in ("", "."):
                continue
            if item == "..":
                if self.path != "/":
                    self._enter(os.open("..", _DIR, dir_fd=self.fd), os.path.dirname(self.path.rstrip("/")) or "/")
                continue
            path = _join(self.path, item)
            try:
                fd = os.open(item, _DIR, dir_fd=self.fd)
            except FileNotFoundError:
                if create is None or todo:
                    return False
                fd = self._mkdir(item, create, path)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise ApacheMaintError(f"cannot open folder: {exc.strerror}", path) from None
                if create is None and not todo and not _is_link_at(self.fd, item):
                    return False  # a file where the folder would be: no page can be below it
                self._link(item, path, todo)
                continue
            self._enter(fd, path)
        return True

    def _link(self, name: str, path: str, todo: list) -> None:
        try:
            st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            target = os.readlink(name, dir_fd=self.fd)
        except OSError:
            raise UnsafeFolder("refused: not a folder", path) from None
        if not stat.S_ISLNK(st.st_mode):
            raise UnsafeFolder("refused: not a folder", path)
        self.links += 1
        if self.links > MAX_LINKS:
            raise UnsafeFolder("refused: too many links", path)
        todo.append(_Check(path, st.st_uid, self.tree))
        todo.extend(reversed(target.split("/")))
        if target.startswith("/"):
            os.close(self.fd)
            self.fd, self.path = os.open("/", _DIR), "/"

    def _judge(self, check: _Check) -> None:
        owner = os.fstat(self.fd).st_uid
        if check.uid not in (0, owner):
            raise UnsafeFolder(f"refused: a link owned by uid {check.uid} to {self.path}, "
                               f"which uid {owner} owns", check.link)
        if check.tree is not None and not _inside(self.path, check.tree):
            raise UnsafeFolder(f"refused: a link to {self.path}, outside the deploy tree {check.tree}", check.link)

    def _mkdir(self, name: str, mode: int, path: str) -> int:
        try:
            os.mkdir(name, mode, dir_fd=self.fd)
            fd = os.open(name, _DIR, dir_fd=self.fd)
        except OSError as exc:
            raise ApacheMaintError(f"cannot create folder: {exc.strerror}", path) from None
        if os.fstat(fd).st_uid != os.geteuid():
            os.close(fd)
            raise UnsafeFolder("refused: replaced by someone else while being created", path)
        os.fchmod(fd, mode)  # ours, just made: mkdir's mode was filtered by the umask
        self.made.append(path)
        return fd


@dataclass
class Folder:
    """An open folder below a docroot, and what its walk knew."""
    fd: int
    path: str
    owner: int  # the docroot's owner
    tree: str  # the deploy tree
    made: list[str] = field(default_factory=list)  # the folders its walk created, outermost first

    def close(self) -> None:
        os.close(self.fd)


def open_folder(docroot: str, below: list[str], *, create: int | None = None) -> Folder | None:
    """The folder ``docroot/below...``; None when missing.

    Every refusal (see the module's rules) raises before anything is created, except the
    missing folders themselves when ``create`` gives their mode.
    """
    if not docroot.startswith("/"):
        docroot = _join(os.getcwd(), docroot)
    walk = _Walk(os.open("/", _DIR), "/", None, None)
    try:
        if not walk.down(docroot.split("/"), lexical=True):
            raise ApacheMaintError("document root does not exist", docroot)
        st = os.fstat(walk.fd)
        walk.owner = st.st_uid
        if st.st_mode & stat.S_IWOTH:
            raise UnsafeFolder("refused: writable by every user", walk.path)
        if walk.tree is None:
            walk.tree = walk.path
        for name in below:
            if not walk.down([name], create=create):
                walk.close()
                return None
    except BaseException:
        walk.close()
        raise
    return Folder(walk.fd, walk.path, walk.owner, walk.tree, walk.made)


def child(parent: Folder, name: str, *, create: int | None = None) -> Folder | None:
    """A folder inside ``parent``, under the same rules, kept inside ``parent``; None when
    missing and not created."""
    walk = _Walk(os.dup(parent.fd), parent.path, parent.path, parent.owner)
    try:
        if not walk.down([name], create=create):
            walk.close()
            return None
    except BaseException:
        walk.close()
        raise
    return Folder(walk.fd, walk.path, parent.owner, parent.tree, walk.made)


def lock(fd: int, path: str, wait: float = LOCK_WAIT) -> None:
    """One apachemaint at a time per page folder; bounded, so a stuck holder is reported."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise ApacheMaintError(f"another apachemaint has held this folder for {wait:.0f} s", path) from None
            time.sleep(0.05)


def entry(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def read(fd: int, name: str, path: str) -> bytes | None:
    """A regular file's bytes (never through a link); None when missing."""
    try:
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ApacheMaintError(f"cannot read: {exc.strerror}", path) from None
    try:
        if not stat.S_ISREG(os.fstat(f).st_mode):
            raise ApacheMaintError("not a regular file", path)
        return os.read(f, MAX_READ)
    finally:
        os.close(f)


@dataclass
class Staged:
    fd: int
    temp: str
    name: str
    path: str
    ident: str  # the file as it will be once switched (see `identity`)


def identity(st: os.stat_result) -> str:
    """Which file this is, as a record keeps it: an inode number is reused once its file is
    gone, and a file rewritten in place keeps it, so its modification time goes with it."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}"


def stage(fd: int, name: str, data: bytes, mode: int, path: str) -> Staged:
    """A durable temp file beside ``name`` in folder ``fd``, with the mode and owner of the
    file it will replace, set-id bits dropped (``mode`` when new, or when the name is one of
    several links to its file).  Nothing visible changes until `switch`."""
    old = entry(fd, name)
    if old is not None and not stat.S_ISREG(old.st_mode):
        what = "a symlink" if stat.S_ISLNK(old.st_mode) else "not a regular file"
        raise UnsafeFolder(f"refused: {what}, not written through", path)
    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    if old is not None and old.st_nlink > 1:
        old = None  # a name linked to another file (anyone's: root's tool, a neighbour's) lends it nothing
    if old is not None:
        mode = old.st_mode & 0o777  # never a set-id or sticky bit from whatever was there
    try:
        f = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
    except OSError as exc:
        raise ApacheMaintError(f"cannot write: {exc.strerror}", path) from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(f, view):]
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            os.fchown(f, old.st_uid, old.st_gid)
        os.fchmod(f, mode)
        os.fsync(f)
        st = os.fstat(f)
    except OSError as exc:
        os.close(f)
        _unlink(fd, temp)
        raise ApacheMaintError(f"cannot write: {exc.strerror}", path) from None
    os.close(f)
    return Staged(fd, temp, name, path, identity(st))


def switch(s: Staged) -> None:
    try:
        os.rename(s.temp, s.name, src_dir_fd=s.fd, dst_dir_fd=s.fd)
    except OSError as exc:
        raise ApacheMaintError(f"cannot write: {exc.strerror}", s.path) from None


def discard(staged: list[Staged]) -> None:
    for s in staged:
        _unlink(s.fd, s.temp)


def _unlink(fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass


def remove(fd: int, name: str, path: str) -> bool:
    """Remove one name from folder ``fd`` (a link itself, never what it points to)."""
    try:
        os.unlink(name, dir_fd=fd)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ApacheMaintError(f"cannot remove: {exc.strerror}", path) from None


def empty(fd: int, path: str) -> None:
    """Remove every file in folder ``fd`` (bypass tokens); folders in it are left alone."""
    for name in os.listdir(fd):
        st = entry(fd, name)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            remove(fd, name, _join(path, name))


def sync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        pass  # a folder fsync is refused on some filesystems; the renames are done either way
