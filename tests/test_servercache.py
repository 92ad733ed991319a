"""servercache: a one-file check remembers that the installed server does not include the
file, and never uses that record once anything it was worked out from has changed.

The installed server is a copy of fixtures/layouts/debian under APACHEMAINT_ROOT, its
times set an hour back (a record is kept only for inputs that have settled); the cache
folder is each test's own (conftest.own_cache_dir)."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from apachemaint import check, server, servercache
from tests.run_cli import apachemaint

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "layouts" / "debian"
LONE = "<VirtualHost *:80>\n    ServerName lone.test\n    DocumentRoot /srv/lone\n</VirtualHost>\n"


def _settle(root: Path) -> None:
    old = time.time() - 3600
    for dirpath, dirs, names in os.walk(root):
        for name in dirs + names:
            os.utime(os.path.join(dirpath, name), (old, old), follow_symlinks=False)
    os.utime(root, (old, old))


@pytest.fixture
def installed(tmp_path, monkeypatch) -> Path:
    """A Debian machine's / with apache2 installed; returns its /etc/apache2."""
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root, symlinks=True)
    _settle(root)
    monkeypatch.setenv("APACHEMAINT_ROOT", str(root))
    return root / "etc" / "apache2"


@pytest.fixture
def lone(tmp_path) -> Path:
    path = tmp_path / "project" / "lone.conf"
    path.parent.mkdir()
    path.write_text(LONE)
    return path


def _record(cache: Path) -> Path:
    return cache / servercache.NAME


def test_findings_are_the_same_with_and_without_the_record(installed, lone, own_cache_dir, monkeypatch):
    shop = installed / "sites-enabled" / "shop.example.com.conf"
    paths = [lone, shop]
    monkeypatch.setenv("APACHEMAINT_CACHE_DIR", "")  # no cache at all
    without = check.check_files(paths, detect=True)
    monkeypatch.setenv("APACHEMAINT_CACHE_DIR", str(own_cache_dir))
    cold = check.check_files(paths, detect=True)
    assert _record(own_cache_dir).is_file()
    assert servercache.none_includes([lone])
    assert not servercache.none_includes([shop])  # included: its rules need the whole server
    warm = check.check_files(paths, detect=True)
    lone_only = check.check_files([lone], detect=True)
    assert cold == warm == without
    assert lone_only == [f for f in without if f.file == str(lone)]
    assert server.detect([lone]) == {}
    assert list(server.detect([shop])) == [shop]


def test_the_command_line_gives_the_same_report_from_the_record(installed, lone, own_cache_dir):
    runs = [apachemaint("check", lone) for _ in range(2)]
    assert _record(own_cache_dir).is_file()
    off = apachemaint("check", lone, env={"APACHEMAINT_CACHE_DIR": ""})
    assert [(r.returncode, r.stdout, r.stderr) for r in runs] == [(off.returncode, off.stdout, off.stderr)] * 2
    assert off.returncode == 1 and "AM001" in off.stdout


def _link_it(installed: Path, lone: Path, monkeypatch) -> None:
    (installed / "sites-enabled" / "zz-lone.conf").symlink_to(lone)


def _include_it(installed: Path, lone: Path, monkeypatch) -> None:
    with open(installed / "apache2.conf", "a") as f:
        f.write(f"Include {lone}\n")


def _retarget_a_link(installed: Path, lone: Path, monkeypatch) -> None:
    link = installed / "sites-enabled" / "shop.example.com.conf"
    link.unlink()
    link.symlink_to(lone)


def _name_it_in_the_environment(installed: Path, lone: Path, monkeypatch) -> None:
    monkeypatch.setenv("LONE_SITE", str(lone))


def _a_new_file_in_an_included_folder(installed: Path, lone: Path, monkeypatch) -> None:
    (installed / "conf-enabled" / "zz.conf").write_text(f"Include {lone}\n")


def _an_included_file_edited(installed: Path, lone: Path, monkeypatch) -> None:
    with open(installed / "ports.conf", "a") as f:
        f.write(f"Include {lone}\n")


@pytest.mark.parametrize("change", [_link_it, _include_it, _retarget_a_link, _name_it_in_the_environment,
                                    _a_new_file_in_an_included_folder, _an_included_file_edited])
def test_a_stale_record_is_never_used(installed, lone, own_cache_dir, monkeypatch, change):
    with open(installed / "apache2.conf", "a") as f:
        f.write("IncludeOptional ${LONE_SITE}\n")
    monkeypatch.setenv("LONE_SITE", str(installed / "no-such-site.conf"))
    _settle(installed)
    assert server.detect([lone]) == {}
    assert servercache.none_includes([lone])  # the record is there, and says so
    change(installed, lone, monkeypatch)
    assert not servercache.none_includes([lone])
    found = server.detect([lone])
    assert list(found) == [lone] and found[lone].includes(lone)


def test_a_walk_of_files_changed_just_now_is_not_kept(installed, lone, own_cache_dir):
    (installed / "conf-enabled" / "fresh.conf").write_text("# written a moment ago\n")
    assert server.detect([lone]) == {}
    assert not _record(own_cache_dir).exists()  # it may have been read half-written
    _settle(installed)
    server.detect([lone])
    assert _record(own_cache_dir).is_file()


def test_the_record_is_the_users_alone(installed, lone, own_cache_dir):
    server.detect([lone])
    assert (own_cache_dir.stat().st_mode & 0o777, _record(own_cache_dir).stat().st_mode & 0o777) == (0o700, 0o600)
    json.loads(_record(own_cache_dir).read_text())  # JSON, nothing else


def _a_link_to_a_good_record(record: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    record.rename(elsewhere)
    record.symlink_to(elsewhere)


def _group_writable(record: Path, tmp_path: Path) -> None:
    record.chmod(0o620)


def _folder_group_writable(record: Path, tmp_path: Path) -> None:
    record.parent.chmod(0o770)


def _folder_a_link(record: Path, tmp_path: Path) -> None:
    real = tmp_path / "real-cache"
    record.parent.rename(real)
    record.parent.symlink_to(real)


def _someone_elses(record: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    os.chown(record, 65534, 65534)


def test_no_record_is_made_in_someone_elses_folder(installed, lone, tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    home = tmp_path / "home" / "someone"
    home.mkdir(parents=True)
    os.chown(home, 65534, 65534)  # as `sudo -E` leaves HOME: the user's, not root's
    monkeypatch.delenv("APACHEMAINT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))
    assert servercache.folder() == str(home / ".cache" / "apachemaint")
    # Without a ~/.cache of the user's, root makes none in their home either.
    assert server.detect([lone]) == {}
    assert list(home.iterdir()) == []
    (home / ".cache").mkdir()
    os.chown(home / ".cache", 65534, 65534)
    assert server.detect([lone]) == {}
    assert list((home / ".cache").iterdir()) == []


@pytest.mark.parametrize("spoil", [_a_link_to_a_good_record, _group_writable, _folder_group_writable,
                                   _folder_a_link, _someone_elses])
def test_a_record_that_is_not_the_users_alone_is_ignored(installed, lone, own_cache_dir, tmp_path, spoil):
    server.detect([lone])
    assert servercache.none_includes([lone])
    spoil(_record(own_cache_dir), tmp_path)
    assert not servercache.none_includes([lone])
    assert server.detect([lone]) == {}  # read again, the same answer


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"format": 1}', json.dumps({
    "format": 1, "version": "0", "sources": [], "root": "/", "env": [], "seen": 3, "files": 5})])
def test_a_record_that_cannot_be_followed_is_read_again(installed, lone, own_cache_dir, text):
    server.detect([lone])
    _record(own_cache_dir).write_text(text)
    assert not servercache.none_includes([lone])
    assert server.detect([lone]) == {}
    assert servercache.none_includes([lone])  # and written anew
