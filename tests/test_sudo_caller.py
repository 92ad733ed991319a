"""A sudoers rule that allows only `apachemaint` must not give its user root's reads and writes
(issue 15 items 3 and 9): a page template is read as the sudo caller, `render -o` writes as the
caller, and a template nobody but its root owner may read is never published.

The tests run as root and play the sudo caller with SUDO_USER/SUDO_UID = nobody, as sudo sets them."""
from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

import pytest
from run_cli import apachemaint

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plays sudo: needs root")

NOBODY = pwd.getpwnam("nobody")
SUDO_NOBODY = {"SUDO_USER": "nobody", "SUDO_UID": str(NOBODY.pw_uid), "SUDO_GID": str(NOBODY.pw_gid)}
SECRET = "root's secret 7f3a"


@pytest.fixture
def open_tmp():
    """A temp folder the sudo caller can walk into (pytest's own is root's 0700)."""
    with tempfile.TemporaryDirectory(prefix="apachemaint-sudo-") as d:
        os.chmod(d, 0o755)
        yield Path(d)


def _private(folder: Path) -> Path:
    """A world-readable template inside a folder only root may enter."""
    private = folder / "private"
    private.mkdir(mode=0o700)
    t = private / "page.html.j2"
    t.write_text(f"<p>{SECRET} {{{{ reason }}}}</p>\n")
    t.chmod(0o644)
    return t


def test_template_the_caller_cannot_read_is_refused(open_tmp, tmp_path):
    t = _private(open_tmp)
    r = apachemaint("render", "--template", t, state=tmp_path / "state", env=SUDO_NOBODY)
    assert r.returncode == 2, r.stdout + r.stderr
    assert SECRET not in r.stdout and "Traceback" not in r.stderr
    assert "Permission denied" in r.stderr and str(t) in r.stderr
    # root itself (no sudo) may use it: the refusal is the caller's, not the file's
    r = apachemaint("render", "--template", t, state=tmp_path / "state")
    assert r.returncode == 0 and SECRET in r.stdout, r.stderr


def test_down_template_the_caller_cannot_read_writes_no_page(open_tmp, tmp_path):
    t = _private(open_tmp)
    www = tmp_path / "www"
    www.mkdir()
    r = apachemaint("down", "--docroot", www, "--template", t, state=tmp_path / "state", env=SUDO_NOBODY)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert not (www / "system" / "maintenance.html").exists()


def test_render_output_is_written_as_the_caller(open_tmp, tmp_path):
    rootonly = open_tmp / "rootonly"
    rootonly.mkdir(mode=0o755)  # root's folder: nobody may not create files in it
    out = rootonly / "page.html"
    r = apachemaint("render", "-o", out, state=tmp_path / "state", env=SUDO_NOBODY)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() and os.listdir(rootonly) == []
    # into a folder the caller owns it works, and the file is the caller's
    mine = open_tmp / "mine"
    mine.mkdir()
    os.chown(mine, NOBODY.pw_uid, NOBODY.pw_gid)
    r = apachemaint("render", "-o", mine / "page.html", state=tmp_path / "state", env=SUDO_NOBODY)
    assert r.returncode == 0, r.stderr
    assert (mine / "page.html").stat().st_uid == NOBODY.pw_uid


def test_sudo_user_without_matching_uid_is_not_a_caller(open_tmp, tmp_path):
    # a plain environment's SUDO_USER names nobody: it must not change whose rights count
    t = _private(open_tmp)
    r = apachemaint("render", "--template", t, state=tmp_path / "state",
                    env={"SUDO_USER": "nobody", "SUDO_UID": "0"})
    assert r.returncode == 0 and SECRET in r.stdout, r.stderr


def test_template_not_world_readable_is_not_published(tmp_path):
    # `down --template /etc/shadow` as root: a root-only file is not a page
    t = tmp_path / "shadow"
    t.write_text(f"root:{SECRET}:19000:0:99999:7:::\n")
    t.chmod(0o640)
    www = tmp_path / "www"
    www.mkdir()
    r = apachemaint("down", "--docroot", www, "--template", t, state=tmp_path / "state")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not world-readable" in r.stderr and str(t) in r.stderr and "Traceback" not in r.stderr
    assert not (www / "system").exists() or not (www / "system" / "maintenance.html").exists()
    r = apachemaint("render", "--template", t, state=tmp_path / "state")
    assert r.returncode == 2 and SECRET not in r.stdout


def test_caller_owned_private_template_is_fine(open_tmp, tmp_path):
    t = open_tmp / "mine.html.j2"
    t.write_text("<p>mine {{ reason }}</p>\n")
    t.chmod(0o600)
    os.chown(t, NOBODY.pw_uid, NOBODY.pw_gid)
    r = apachemaint("render", "--template", t, "--reason", "x", state=tmp_path / "state", env=SUDO_NOBODY)
    assert r.returncode == 0 and "<p>mine x</p>" in r.stdout, r.stderr


def test_check_output_is_written_as_the_caller(open_tmp, tmp_path):
    rootonly = open_tmp / "rootonly"
    rootonly.mkdir(mode=0o755)
    conf = open_tmp / "site.conf"
    conf.write_text("<VirtualHost *:80>\n    ServerName a.example\n    DocumentRoot /srv/a\n</VirtualHost>\n")
    conf.chmod(0o644)
    r = apachemaint("check", "--output", rootonly / "report.txt", conf, state=tmp_path / "state", env=SUDO_NOBODY)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert os.listdir(rootonly) == []
