"""The one write helper: atomic, keeps mode and owner, refuses unexpected symlinks."""
from __future__ import annotations

import ctypes
import errno
import itertools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from apachemaint import safewrite, server
from apachemaint.errors import UnsafeWrite
from apachemaint.safewrite import PartialWrite, resolve_link, write_atomic, write_many


def test_replaces_content_and_keeps_mode_and_owner(tmp_path: Path):
    target = tmp_path / "site.conf"
    target.write_bytes(b"old\n")
    target.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(target, 33, 33)  # www-data on Debian
    before = os.stat(target)
    write_atomic(target, b"new\n")
    after = os.stat(target)
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino, "written beside and renamed, not rewritten in place"
    assert [p.name for p in tmp_path.iterdir()] == ["site.conf"], "no temp file left behind"


def test_new_file_gets_the_requested_mode(tmp_path: Path):
    write_atomic(tmp_path / "page.html", b"x", mode=0o644)
    assert stat.S_IMODE(os.stat(tmp_path / "page.html").st_mode) == 0o644


def test_refuses_to_write_through_a_symlink(tmp_path: Path):
    real = tmp_path / "real.conf"
    real.write_bytes(b"keep\n")
    link = tmp_path / "link.conf"
    link.symlink_to(real)
    with pytest.raises(UnsafeWrite, match="symlink"):
        write_atomic(link, b"new\n")
    assert real.read_bytes() == b"keep\n" and link.is_symlink()


def test_real_path_is_realpath_with_each_folder_resolved_once(tmp_path: Path, monkeypatch):
    t = str(tmp_path)
    for folder in ("sites-available", "sites-enabled", "other", "etc/apache2"):
        os.makedirs(f"{t}/{folder}")
    Path(t, "sites-available", "a.conf").write_text("x")
    os.symlink("../sites-available/a.conf", f"{t}/sites-enabled/a.conf")  # a2ensite's relative link
    os.symlink(f"{t}/sites-available/a.conf", f"{t}/sites-enabled/abs.conf")
    os.symlink("a.conf", f"{t}/sites-enabled/chain.conf")  # a link to a link
    os.symlink("../sites-available/gone.conf", f"{t}/sites-enabled/dangling.conf")
    os.symlink("loop2.conf", f"{t}/sites-enabled/loop1.conf")
    os.symlink("loop1.conf", f"{t}/sites-enabled/loop2.conf")
    os.symlink(f"{t}/sites-enabled", f"{t}/etc/apache2/enabled")  # a linked folder on the way
    os.symlink("../other/..", f"{t}/other/up")  # '..' after a link
    names = ["sites-enabled/a.conf", "sites-enabled/abs.conf", "sites-enabled/chain.conf",
             "sites-enabled/dangling.conf", "sites-enabled/loop1.conf", "etc/apache2/enabled/a.conf",
             "etc/apache2/enabled/../a.conf", "other/up", "other/up/sites-available/a.conf",
             "sites-available/a.conf", "sites-available/missing.conf", "sites-enabled/", "sites-enabled/."]
    folders: dict[str, str] = {}
    for name in names * 2:  # the second time from the folders found the first
        assert server.real_path(f"{t}/{name}", folders) == os.path.realpath(f"{t}/{name}"), name
    realpath_calls = []
    monkeypatch.setattr(os.path, "realpath", lambda p, *a, **k: realpath_calls.append(p))
    server.real_path(f"{t}/sites-enabled/abs.conf", folders)
    assert realpath_calls == [], "a folder already resolved is not resolved again"


def test_resolving_a_link_is_explicit(tmp_path: Path):
    real = tmp_path / "sites-available" / "a.conf"
    real.parent.mkdir()
    real.write_text("x")
    link = tmp_path / "a.conf"
    link.symlink_to(Path("sites-available") / "a.conf")
    assert resolve_link(link) == (real, True)
    assert resolve_link(real) == (real, False)
    (tmp_path / "dangling.conf").symlink_to(tmp_path / "nowhere.conf")
    with pytest.raises(UnsafeWrite, match="does not exist"):
        resolve_link(tmp_path / "dangling.conf")


def test_unwritable_folder_is_a_clear_error(tmp_path: Path):
    missing = tmp_path / "no-such-folder" / "x.conf"
    with pytest.raises(UnsafeWrite) as err:
        write_atomic(missing, b"x")
    assert err.value.file == str(missing)


# --- batches: write_many ------------------------------------------------------------------

def _tree(tmp_path: Path, count: int) -> list[Path]:
    """``count`` files over two folders, with different modes (and owners, as root)."""
    files = []
    for i in range(count):
        folder = tmp_path / ("a" if i % 2 else "b")
        folder.mkdir(exist_ok=True)
        f = folder / f"site{i:03d}.conf"
        f.write_bytes(f"old {i}\r\n".encode())
        f.chmod((0o640, 0o644, 0o600)[i % 3])
        if os.geteuid() == 0:
            os.chown(f, (0, 1000, 65534)[i % 3], (0, 1000, 65534)[(i + 1) % 3])
        files.append(f)
    return files


def _snapshot(tmp_path: Path) -> dict[str, tuple]:
    """Every entry under ``tmp_path``: its bytes (or link target), mode, owner and inode."""
    out = {}
    for p in sorted(tmp_path.rglob("*")):
        st = os.lstat(p)
        body = os.readlink(p) if p.is_symlink() else p.read_bytes() if stat.S_ISREG(st.st_mode) else None
        out[str(p.relative_to(tmp_path))] = (body, st.st_mode, st.st_uid, st.st_gid, st.st_ino)
    return out


@pytest.fixture
def syncfs_calls(monkeypatch) -> list[int]:
    """Count the real syncfs calls of write_many (the fd each was called on)."""
    real = safewrite._syncfs()
    if real is None:
        pytest.skip("no syncfs here (not Linux 5.8 or later)")
    calls: list[int] = []

    def spy(fd):
        calls.append(fd)
        return real(fd)

    monkeypatch.setattr(safewrite, "_SYNCFS", [spy])
    return calls


@pytest.mark.parametrize("count", [3, safewrite.SYNCFS_FROM + 5])
def test_a_batch_replaces_every_target_and_keeps_modes_and_owners(tmp_path, count, syncfs_calls):
    files = _tree(tmp_path, count)
    before = {f: os.stat(f) for f in files}
    write_many([(f, f"new {f.name}\n".encode()) for f in files])
    for f in files:
        after = os.stat(f)
        assert f.read_bytes() == f"new {f.name}\n".encode()
        assert stat.S_IMODE(after.st_mode) == stat.S_IMODE(before[f].st_mode)
        assert (after.st_uid, after.st_gid) == (before[f].st_uid, before[f].st_gid)
        assert after.st_ino != before[f].st_ino, "written beside and renamed"
    assert not list(tmp_path.rglob("*apachemaint-tmp*")), "no temp file, no temp folder left"
    # A small batch fsyncs each file; a large one syncs its filesystem once for the data
    # and once for the two folders it renamed in (fewer than SYNCFS_FROM: fsynced).
    assert len(syncfs_calls) == (0 if count < safewrite.SYNCFS_FROM else 1)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to other users")
def test_a_batch_keeps_other_users_as_owners(tmp_path):
    files = _tree(tmp_path, 6)
    owners = [(os.stat(f).st_uid, os.stat(f).st_gid) for f in files]
    assert {1000, 65534} <= {uid for uid, _ in owners}, "the test gives files to other users"
    write_many([(f, b"x\n") for f in files])
    assert [(os.stat(f).st_uid, os.stat(f).st_gid) for f in files] == owners


@pytest.mark.parametrize("count", [3, safewrite.SYNCFS_FROM + 5])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_one_unsafe_target_refuses_the_whole_batch(tmp_path, count, where, kind):
    files = _tree(tmp_path, count)
    bad = tmp_path / "a" / "bad.conf"
    if kind == "symlink":
        bad.symlink_to(files[0])
    elif kind == "fifo":
        os.mkfifo(bad)
    else:
        bad.mkdir()
    items = [(f, b"new\n") for f in files]
    items.insert({"first": 0, "middle": count // 2, "last": count}[where], (bad, b"new\n"))
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeWrite, match="symlink" if kind == "symlink" else "not a regular file") as err:
        write_many(items)
    assert err.value.file == str(bad)
    assert _snapshot(tmp_path) == before, "every file byte-identical, no temp file left"


@pytest.mark.parametrize("count", [3, safewrite.SYNCFS_FROM + 5])
def test_a_missing_folder_in_the_batch_leaves_everything_untouched(tmp_path, count):
    files = _tree(tmp_path, count)
    missing = tmp_path / "gone" / "x.conf"
    items = [(f, b"new\n") for f in files]
    items.insert(count // 2, (missing, b"new\n"))
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeWrite, match="cannot write in") as err:
        write_many(items)
    assert err.value.file == str(missing)
    assert _snapshot(tmp_path) == before


@pytest.fixture
def shared_tmp() -> Path:
    """A folder another user can reach (pytest's own is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="apachemaint-test-"))
    folder.chmod(0o755)
    yield folder
    for p in folder.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
@pytest.mark.parametrize("count", [3, safewrite.SYNCFS_FROM + 5])
def test_an_unwritable_folder_leaves_everything_untouched(shared_tmp, count):
    files = []
    for i in range(count):
        folder = shared_tmp / ("ro" if i == count - 2 else "rw")
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.conf").write_bytes(b"old\n")
        files.append(folder / f"{i}.conf")
    for p in shared_tmp.rglob("*"):
        os.chown(p, 65534, 65534)
    (shared_tmp / "ro").chmod(0o555)
    before = _snapshot(shared_tmp)
    code = ("import os, sys\n"
            "from apachemaint.safewrite import _syncfs, write_many\n"
            "_syncfs()\n"  # loaded while the interpreter's own files are readable
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "try:\n"
            "    write_many([(p, b'new\\n') for p in sys.argv[1:]])\n"
            "except Exception as exc:\n"
            "    sys.exit(f'{type(exc).__name__}: {exc}')\n")
    result = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (f"UnsafeWrite: {files[-2]}: cannot write in {shared_tmp / 'ro'}: "
                                     "Permission denied")
    assert _snapshot(shared_tmp) == before


def test_a_target_changed_during_the_batch_refuses_it(tmp_path, monkeypatch):
    files = _tree(tmp_path, 4)
    real = safewrite._write_temp

    def edit_while_writing(p, *args):
        real(p, *args)
        if p.target == str(files[-1]):
            with open(files[0], "ab") as fh:  # someone appends to the first file meanwhile
                fh.write(b"# later\n")

    monkeypatch.setattr(safewrite, "_write_temp", edit_while_writing)
    with pytest.raises(UnsafeWrite, match="changed while apachemaint was writing it") as err:
        write_many([(f, b"new\n") for f in files])
    assert err.value.file == str(files[0])
    assert files[0].read_bytes() == b"old 0\r\n# later\n"
    assert [f.read_bytes() for f in files[1:]] == [f"old {i}\r\n".encode() for i in range(1, 4)]
    assert not list(tmp_path.rglob("*apachemaint-tmp*")), "no temp file, no temp folder left"


def test_a_failed_rename_reports_what_was_already_replaced(tmp_path, monkeypatch):
    files = _tree(tmp_path, 5)
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PartialWrite, match="Read-only file system") as err:
        write_many([(f, b"new\n") for f in files])
    assert err.value.file == str(files[2]) and err.value.replaced == files[:2]
    assert [f.read_bytes() for f in files] == [b"new\n"] * 2 + [f"old {i}\r\n".encode() for i in range(2, 5)]
    assert not list(tmp_path.rglob("*apachemaint-tmp*")), "no temp file, no temp folder left"


def _syncfs_failing(monkeypatch, err: int) -> None:
    """syncfs(2) as it fails with ``err``: EIO for lost writes, ENOSYS under a seccomp filter."""
    if safewrite._syncfs() is None:
        pytest.skip("no syncfs here")

    def failing(fd):
        ctypes.set_errno(err)
        return -1

    monkeypatch.setattr(safewrite, "_SYNCFS", [failing])


def test_a_syncfs_error_fails_the_batch_before_any_rename(tmp_path, monkeypatch):
    files = _tree(tmp_path, safewrite.SYNCFS_FROM)
    _syncfs_failing(monkeypatch, errno.EIO)
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeWrite, match="Input/output error"):
        write_many([(f, b"new\n") for f in files])
    assert _snapshot(tmp_path) == before


def test_a_refused_syncfs_falls_back_to_fsync_of_each_file(tmp_path, monkeypatch):
    files = _tree(tmp_path, safewrite.SYNCFS_FROM)
    _syncfs_failing(monkeypatch, errno.ENOSYS)
    real_fsync, fsynced = os.fsync, []

    def fsync(fd):
        fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_many([(f, b"new\n") for f in files])
    assert all(f.read_bytes() == b"new\n" for f in files)
    temps = [p for p in fsynced if "/.apachemaint-tmp/" in p]
    assert len(temps) == len(files), "every temp file fsynced when syncfs is refused"


def test_a_path_named_twice(tmp_path):
    f = tmp_path / "a.conf"
    f.write_bytes(b"old\n")
    write_many([(f, b"new\n"), (tmp_path / "." / "a.conf", b"new\n")])
    assert f.read_bytes() == b"new\n"
    with pytest.raises(UnsafeWrite, match="named twice"):
        write_many([(f, b"one\n"), (f, b"two\n")])
    assert f.read_bytes() == b"new\n" and [p.name for p in tmp_path.iterdir()] == ["a.conf"]


# --- a caller's stamp: what it read must still be what is renamed over -------------------

def _append(f: Path) -> None:
    with open(f, "ab") as fh:
        fh.write(b"# edited\n")


def _replace(f: Path) -> None:
    other = f.with_name("other")
    other.write_bytes(f.read_bytes())  # the same bytes, another inode
    other.chmod(stat.S_IMODE(os.stat(f).st_mode))
    os.replace(other, f)


@pytest.mark.parametrize("count", [3, safewrite.SYNCFS_FROM + 5])
@pytest.mark.parametrize("edit", [_append, _replace, lambda f: f.chmod(0o600)])
def test_a_target_changed_since_the_caller_read_it_is_refused(tmp_path, count, edit):
    files = _tree(tmp_path, count)
    for f in files:
        f.chmod(0o644)
    seen = [safewrite.Stamp.of(os.lstat(f)) for f in files]
    edit(files[count // 2])  # after the caller's read, before the write
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeWrite, match="changed since apachemaint read it; nothing written") as err:
        write_many([(f, b"new\n", s) for f, s in zip(files, seen)])
    assert err.value.file == str(files[count // 2])
    assert _snapshot(tmp_path) == before, "every file as it was, no temp file left"


def test_an_unchanged_stamp_writes_with_the_stamped_mode_and_owner(tmp_path):
    files = _tree(tmp_path, 3)
    seen = [os.lstat(f) for f in files]  # an os.stat_result does as well as a Stamp
    write_many([(f, b"new\n", s) for f, s in zip(files, seen)] + [(tmp_path / "new.conf", b"n\n", None)])
    for f, s in zip(files, seen):
        after = os.stat(f)
        assert f.read_bytes() == b"new\n" and after.st_ino != s.st_ino
        assert (after.st_mode, after.st_uid, after.st_gid) == (s.st_mode, s.st_uid, s.st_gid)
    assert (tmp_path / "new.conf").read_bytes() == b"n\n"


def test_a_stamp_of_a_symlink_refuses_the_batch(tmp_path):
    real = tmp_path / "real.conf"
    real.write_bytes(b"keep\n")
    link = tmp_path / "link.conf"
    link.symlink_to(real)
    with pytest.raises(UnsafeWrite, match="symlink"):
        write_many([(link, b"new\n", os.lstat(link))])
    assert real.read_bytes() == b"keep\n" and link.is_symlink()


# --- temp files: a name that is taken is never followed; modes survive any umask ---------

def test_a_taken_temp_name_is_skipped_not_followed(tmp_path, monkeypatch):
    (tmp_path / "sites").mkdir()
    target, victim = tmp_path / "sites" / "site.conf", tmp_path / "victim"
    target.write_bytes(b"old\n")
    victim.write_bytes(b"victim\n")
    monkeypatch.setattr(safewrite, "_TEMP_NUMBER", itertools.count(7))
    (tmp_path / ".apachemaint-tmp").mkdir(mode=0o700)
    taken = tmp_path / ".apachemaint-tmp" / f"{os.getpid()}-7.site.conf"
    taken.symlink_to(victim)  # planted where the next temp file would go
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n" and not target.is_symlink()
    assert victim.read_bytes() == b"victim\n" and os.readlink(taken) == str(victim)
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert [p.name for p in taken.parent.iterdir()] == [taken.name]


def test_no_free_temp_name_is_a_clear_error(tmp_path, monkeypatch):
    target = tmp_path / "site.conf"
    target.write_bytes(b"old\n")

    def taken(*args, **kwargs):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))

    monkeypatch.setattr(os, "open", taken)
    with pytest.raises(UnsafeWrite, match="cannot write in"):
        write_atomic(target, b"new\n")
    assert target.read_bytes() == b"old\n"


@pytest.mark.parametrize("mode", [0o664, 0o666, 0o640, 0o604])
def test_the_mode_is_kept_whatever_the_umask(tmp_path, mode):
    target = tmp_path / "site.conf"
    target.write_bytes(b"old\n")
    target.chmod(mode)
    old = os.umask(0o077)
    try:
        write_atomic(target, b"new\n")
        write_atomic(tmp_path / "page.html", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert stat.S_IMODE(os.stat(tmp_path / "page.html").st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to other users")
def test_new_bytes_are_never_readable_by_a_group_that_is_not_the_targets(tmp_path, monkeypatch):
    files = _tree(tmp_path, 6)
    for f in files:
        f.chmod(0o644)
    real_write, seen = os.write, []

    def write(fd, data):
        st = os.fstat(fd)
        seen.append((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    owners = [(os.stat(f).st_uid, os.stat(f).st_gid) for f in files]
    assert (0, 0) not in owners, "every temp file (made root:root) is given away after the write"
    write_many([(f, b"new\n") for f in files])
    assert [mode for _, _, mode in seen] == [0o600] * len(files)
    assert [(os.stat(f).st_uid, os.stat(f).st_gid, stat.S_IMODE(os.stat(f).st_mode)) for f in files] == \
        [(uid, gid, 0o644) for uid, gid in owners]
