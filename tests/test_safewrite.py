"""The one write helper: atomic, keeps mode and owner, refuses unexpected symlinks."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from apachemaint.errors import UnsafeWrite
from apachemaint.safewrite import resolve_link, write_atomic


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
