"""`down`, `up`, `status` and `run` as root below folders that deploy users control: no write,
chmod or removal through a link or in a folder someone else can change, one command per
page folder at a time, and bypass tokens that die with their window.

The tests run as root and make the hostile user with os.chown / os.lchown."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_cli import apachemaint

from apachemaint import maintenance
from apachemaint.errors import ApacheMaintError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it plays root among deploy users")

DEPLOY = 12345  # a deploy user
OTHER = 65534  # someone else


def snapshot(folder: Path) -> dict:
    """Everything about a folder tree that a stray write or chmod would change."""
    out = {}
    for p in sorted([folder, *folder.rglob("*")]):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (st.st_mode, st.st_uid, p.read_bytes() if p.is_file() else None)
    return out


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(tmp_path / "state"))
    www = tmp_path / "www"
    www.mkdir(mode=0o755)
    victim = tmp_path / "victim"  # root's own folder, which no link may make us touch
    victim.mkdir(mode=0o700)
    (victim / "keep").write_text("root's file\n")
    (victim / "page.html").write_text("root's page.html\n")
    (victim / "state.json").write_text("{}\n")
    return tmp_path, www, victim


def link(path: Path, to: str | Path, uid: int) -> None:
    path.symlink_to(to)
    os.lchown(path, uid, uid)


def refused(*args, state) -> str:
    result = apachemaint(*args, state=state)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "refused" in result.stderr
    return result.stderr


@pytest.mark.parametrize("uid", [DEPLOY, 0])
def test_a_linked_system_folder_is_refused_and_its_target_untouched(env, uid):
    tmp, www, victim = env
    link(www / "system", victim, uid)
    before = snapshot(victim)
    err = refused("down", "--docroot", www, state=tmp / "state")
    assert str(www / "system") in err
    assert snapshot(victim) == before


@pytest.mark.parametrize("inside", [".apachemaint", ".apachemaint/bypass"])
def test_a_linked_state_or_bypass_folder_is_refused(env, inside):
    tmp, www, victim = env
    (www / "system").mkdir(mode=0o755)
    if inside == ".apachemaint/bypass":
        (www / "system" / ".apachemaint").mkdir(mode=0o755)
    link(www / "system" / inside, victim, DEPLOY)
    before, page = snapshot(victim), www / "system" / "maintenance.html"
    refused("down", "--docroot", www, "--bypass", state=tmp / "state")
    assert snapshot(victim) == before and not page.exists()
    page.write_text("down by hand\n")
    refused("up", "--docroot", www, state=tmp / "state")
    assert snapshot(victim) == before and page.exists(), "nothing removed, not even the flag"


def test_a_docroot_through_a_foreign_link_into_roots_folder_is_refused(env):
    """`current` belongs to a deploy user but points into a folder only root controls."""
    tmp, _, victim = env
    (victim / "public").mkdir(mode=0o755)
    app = tmp / "app"
    app.mkdir()
    os.chown(app, DEPLOY, DEPLOY)
    link(app / "current", victim, DEPLOY)
    before = snapshot(victim)
    err = refused("down", "--docroot", app / "current" / "public", state=tmp / "state")
    assert str(app / "current") in err
    assert snapshot(victim) == before


@pytest.mark.parametrize("owner, mode", [(OTHER, 0o755), (0, 0o777), (0, 0o775)])
def test_a_page_folder_others_can_write_is_refused(env, owner, mode):
    tmp, www, _ = env
    system = www / "system"
    system.mkdir()
    os.chown(system, owner, OTHER)
    system.chmod(mode)
    refused("down", "--docroot", www, state=tmp / "state")
    assert list(system.iterdir()) == [] and stat.S_IMODE(system.stat().st_mode) == mode


def test_an_existing_folder_keeps_its_mode(env):
    """Only folders apachemaint has just made get its mode."""
    tmp, www, _ = env
    (www / "system").mkdir()
    (www / "system").chmod(0o750)
    assert apachemaint("down", "--docroot", www, state=tmp / "state").returncode == 0
    assert stat.S_IMODE((www / "system").stat().st_mode) == 0o750
    assert stat.S_IMODE((www / "system" / ".apachemaint").stat().st_mode) == 0o755


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_capistrano_shared_system_link_keeps_working(env, how):
    """current -> releases/R, and the release's public/system -> shared/public/system,
    all the deploy user's own."""
    tmp, _, _ = env
    app = tmp / "app"
    public = app / "releases" / "20261203" / "public"
    shared = app / "shared" / "public" / "system"
    public.mkdir(parents=True)
    shared.mkdir(parents=True)
    for p in [app, *app.rglob("*")]:
        os.chown(p, DEPLOY, DEPLOY)
    link(app / "current", "releases/20261203", DEPLOY)
    link(public / "system", shared if how == "absolute" else "../../../shared/public/system", DEPLOY)
    docroot = app / "current" / "public"
    result = apachemaint("down", "--docroot", docroot, "--reason", "deploy", "--bypass", state=tmp / "state")
    assert result.returncode == 0, result.stderr
    assert (shared / "maintenance.html").is_file() and (shared / ".apachemaint" / "page.json").is_file()
    status = apachemaint("status", "--docroot", docroot, "--json", state=tmp / "state")
    assert status.returncode == 3 and json.loads(status.stdout)["reason"] == "deploy"
    assert apachemaint("up", "--docroot", docroot, state=tmp / "state").returncode == 0
    assert sorted(p.name for p in shared.iterdir()) == []


def test_a_link_out_of_the_deploy_tree_is_refused_even_to_the_users_own_folder(env):
    tmp, _, _ = env
    app, elsewhere = tmp / "app", tmp / "elsewhere"
    (app / "releases" / "1" / "public").mkdir(parents=True)
    (app / "shared").mkdir()
    elsewhere.mkdir()
    for p in [app, *app.rglob("*"), elsewhere]:
        os.chown(p, DEPLOY, DEPLOY)
    link(app / "releases" / "1" / "public" / "system", elsewhere, DEPLOY)
    err = refused("down", "--docroot", app / "releases" / "1" / "public", state=tmp / "state")
    assert "outside the deploy tree" in err
    assert list(elsewhere.iterdir()) == []


def test_up_during_its_grace_never_wipes_a_newer_window(env):
    """A `down` started while `up` waits out its grace leaves a complete window (issue 15.6)."""
    tmp, www, _ = env
    state = tmp / "state"
    files = ["maintenance.html", ".apachemaint/page.html", ".apachemaint/page.json", ".apachemaint/state.json"]
    code = ("import sys; from apachemaint import maintenance as m; "
            "m.up(m.from_docroot(sys.argv[1]), grace=1.5)")
    for _ in range(3):
        assert apachemaint("down", "--docroot", www, state=state).returncode == 0
        up = subprocess.Popen([sys.executable, "-c", code, str(www)])
        deadline = time.monotonic() + 30
        while (www / "system" / "maintenance.html").exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the flag is down: `up` is in its grace now
        down = apachemaint("down", "--docroot", www, "--reason", "newer", state=state)
        assert up.wait(timeout=60) == 0 and down.returncode == 0, down.stderr
        assert [f for f in files if not (www / "system" / f).is_file()] == []
        assert json.loads((www / "system" / ".apachemaint" / "state.json").read_text())["reason"] == "newer"
        assert apachemaint("up", "--docroot", www, state=state).returncode == 0


def test_a_down_update_that_fails_part_way_serves_the_old_page(env, monkeypatch):
    tmp, www, _ = env
    targets = maintenance.from_docroot(www)
    maintenance.down(targets, reason="first")
    system = www / "system"
    before = snapshot(system)
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls.append(fd)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(ApacheMaintError):
        maintenance.down(targets, reason="second")
    assert snapshot(system) == before, "no new copy served, no temp file left"


def test_a_token_dies_with_its_window_when_the_page_goes_by_hand(env):
    """Issue 15.7: the classic end of a window (page removed by hand, or rewritten by
    `cap deploy:web:disable`) ends its bypass tokens too."""
    tmp, www, _ = env
    targets = maintenance.from_docroot(www)
    system = www / "system"
    first = maintenance.down(targets, bypass=True).token
    same = maintenance.down(targets, bypass=True, reason="update").token
    assert (system / ".apachemaint" / "bypass" / first).exists(), "an update keeps the window"
    window = json.loads((system / ".apachemaint" / "state.json").read_text())["window"]
    (system / "maintenance.html").unlink()
    maintenance.down(targets)
    assert list((system / ".apachemaint" / "bypass").iterdir()) == []
    new = json.loads((system / ".apachemaint" / "state.json").read_text())["window"]
    assert new != window
    token = maintenance.down(targets, bypass=True).token
    (system / "maintenance.html").unlink()
    (system / "maintenance.html").write_text("cap deploy:web:disable\n")
    maintenance.down(targets)
    assert not (system / ".apachemaint" / "bypass" / token).exists() and same


def test_by_trusts_sudo_user_only_when_sudo_uid_names_it(env, monkeypatch):
    tmp, www, _ = env
    monkeypatch.setenv("SUDO_USER", "nobody")
    monkeypatch.setenv("SUDO_UID", "0")
    assert maintenance._who().split("@")[0] == "root"
    monkeypatch.setenv("SUDO_UID", str(OTHER))
    assert maintenance._who().split("@")[0] == "nobody"


def test_status_text_strips_terminal_escapes_and_json_keeps_them(env):
    tmp, www, _ = env
    reason = "db\x1b[2J\x1b]0;pwned\x07 upgrade"
    assert apachemaint("down", "--docroot", www, "--reason", reason, state=tmp / "state").returncode == 0
    text = apachemaint("status", "--docroot", www, state=tmp / "state")
    assert text.returncode == 3 and "\x1b" not in text.stdout and "\x07" not in text.stdout
    assert "db[2J]0;pwned upgrade" in text.stdout
    doc = apachemaint("status", "--docroot", www, "--json", state=tmp / "state")
    assert json.loads(doc.stdout)["reason"] == reason
