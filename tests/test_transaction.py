"""One transaction for every change (apachemaint/transaction.py): what it creates is undone
as surely as what it edits, its checkpoints say who ran which command when, and old ones
are pruned by count and age, the newest never."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from corpus import layout_root
from run_cli import apachemaint

from apachemaint import checkpoint, layouts, settings
from apachemaint import patch as patching
from apachemaint.errors import ConfigTestFailed
from apachemaint.httpd import LoopbackApache
from apachemaint.transaction import Transaction

NEW = ("proxy", "--server-name", "app.example.com", "--backend", "http://127.0.0.1:3000",
       "--docroot", "/srv/app/public", "--enable")
PLAIN = "<VirtualHost *:80>\n    ServerName shop.example.com\n    DocumentRoot /srv/shop\n</VirtualHost>\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "sites" / "shop.conf"
    path.parent.mkdir()
    path.write_text(PLAIN)
    return path


def _tree(tmp_path: Path, platform: str):
    root = layout_root(tmp_path, platform)
    return root, layouts.recognise(root)


def _snapshot(folder: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirs, names in os.walk(folder):
        for name in dirs + names:
            p = Path(dirpath) / name
            out[str(p)] = ("link", os.readlink(p)) if p.is_symlink() else \
                ("dir",) if p.is_dir() else ("file", p.read_bytes())
    return out


# --- new --enable: a checkpoint of what it creates, and restore takes it away ---

@pytest.mark.parametrize("platform", ["debian", "httpd-image"])
def test_new_enable_makes_a_checkpoint_that_restore_undoes(tmp_path, platform):
    root, lay = _tree(tmp_path, platform)
    env = {"APACHEMAINT_ROOT": str(root)}
    state = tmp_path / "state"
    if lay.enable_by == "include":  # a first site: the image ships no folder for them
        shutil.rmtree(lay.sites_folder())
    before = _snapshot(root)
    done = apachemaint("new", *NEW, "--config", lay.main, "--no-configtest", env=env, state=state)
    assert done.returncode == 0, done.stderr
    assert "undo: apachemaint restore" in done.stdout
    written = lay.sites_folder() / "app.example.com.conf"
    manifest = json.loads(next((state / "checkpoints").glob("*/manifest.json")).read_text())
    made = {e["path"]: e["kind"] for e in manifest["new"]}
    assert made[str(written)] == "file"
    if lay.enable_by == "link":  # Debian: the file and a link in sites-enabled
        assert made[str(lay.enabled_folder() / "app.example.com.conf")] == "link"
        assert manifest["files"] == []
    else:  # the httpd image: a sites folder it had not, the file, an Include line in the main config
        assert made[str(lay.sites_folder())] == "folder"
        assert [e["path"] for e in manifest["files"]] == [str(lay.main)]
    back = apachemaint("restore", env=env, state=state)
    assert back.returncode == 0, back.stderr
    assert f"{written}: removed (created by that run)" in back.stdout
    assert _snapshot(root) == before, "every created file, link and folder gone, every edit undone"


def test_restore_leaves_a_created_file_edited_since_unless_forced(tmp_path):
    root, lay = _tree(tmp_path, "debian")
    env, state = {"APACHEMAINT_ROOT": str(root)}, tmp_path / "state"
    assert apachemaint("new", *NEW, "--config", lay.main, "--no-configtest", env=env, state=state).returncode == 0
    written = lay.sites_folder() / "app.example.com.conf"
    written.write_text(written.read_text() + "# the admin's own line\n")
    back = apachemaint("restore", env=env, state=state)
    assert back.returncode == 2 and "changed since apachemaint created it" in back.stderr
    assert written.is_file() and (lay.enabled_folder() / "app.example.com.conf").is_symlink(), "nothing removed"
    assert apachemaint("restore", "--force", env=env, state=state).returncode == 0
    assert not written.exists() and not os.path.lexists(lay.enabled_folder() / "app.example.com.conf")


def test_restore_leaves_a_created_link_pointed_elsewhere_since_unless_forced(tmp_path):
    root, lay = _tree(tmp_path, "debian")
    env, state = {"APACHEMAINT_ROOT": str(root)}, tmp_path / "state"
    assert apachemaint("new", *NEW, "--config", lay.main, "--no-configtest", env=env, state=state).returncode == 0
    link = lay.enabled_folder() / "app.example.com.conf"
    link.unlink()
    link.symlink_to("../sites-available/000-default.conf")
    back = apachemaint("restore", env=env, state=state)
    assert back.returncode == 2 and "points to ../sites-available/000-default.conf now" in back.stderr
    assert link.is_symlink() and (lay.sites_folder() / "app.example.com.conf").is_file(), "nothing removed"


# --- the transaction itself: a failure takes back what it created ---

@pytest.mark.apache
def test_a_failed_test_after_the_change_takes_every_created_thing_away(tmp_path, site):
    apache = LoopbackApache(tmp_path / "server", [site.parent])  # Include sites/: every file below it
    apache.main = apache.conf
    before = _snapshot(site.parent)
    folder = site.parent / "more"
    with pytest.raises(ConfigTestFailed, match="rolled back: .*Invalid command 'NoSuchDirective'"):
        with Transaction(servers=[apache]) as tx:
            tx.folder(folder)
            tx.create(folder / "a.conf", b"NoSuchDirective on\n")
            tx.link(site.parent / "a-link.conf", "more/a.conf")
            tx.edit(site, site.read_bytes(), site.read_bytes().replace(b"/srv/shop", b"/srv/shop2"))
    assert _snapshot(site.parent) == before, "the folder, file and link gone, the edit undone"
    assert checkpoint.all_checkpoints() == [], "the checkpoint of a rolled-back change goes"


def test_a_transaction_refuses_to_create_a_file_that_exists(tmp_path, site):
    with pytest.raises(Exception, match="exists; not overwritten"):
        with Transaction() as tx:
            tx.create(site, b"# mine\n")
    assert site.read_text() == PLAIN and checkpoint.all_checkpoints() == []


# --- who, which command, when ---

def test_a_checkpoint_records_who_ran_which_command_when(site, tmp_path):
    state = tmp_path / "state"
    done = apachemaint("patch", site, "--no-configtest", state=state)
    assert done.returncode == 0, done.stderr
    listed = apachemaint("restore", "--list", "--json", state=state)
    assert listed.returncode == 0, listed.stderr
    [cp] = json.loads(listed.stdout)["checkpoints"]
    import pwd

    assert cp["who"] == pwd.getpwuid(os.getuid()).pw_name
    assert cp["command"] == ["apachemaint", "patch", str(site), "--no-configtest"]
    assert cp["files"] == [str(site)] and cp["when"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    text = apachemaint("restore", "--list", state=state).stdout
    assert text == f"{cp['id']}  {cp['when']}  {cp['who']}  1 file(s)  apachemaint patch {site} --no-configtest\n"
    assert apachemaint("restore", cp["id"], state=state).returncode == 0, "restore takes the id --list shows"
    assert site.read_text() == PLAIN


def test_a_checkpoint_from_before_who_and_command_lists_and_restores(site, own_state_dir):
    original = site.read_bytes()
    patching.apply([patching.plan(site)], configtest=False)
    old = own_state_dir / "checkpoints" / "20200101T000000Z-1"
    old.mkdir(mode=0o700)
    (old / "0001-shop.conf").write_bytes(original)
    (old / "manifest.json").write_text(json.dumps({"created": "2020-01-01T00:00:00Z", "files": [{
        "path": str(site), "backup": "0001-shop.conf", "sha256_before": checkpoint.sha(original),
        "sha256_after": checkpoint.sha(site.read_bytes())}]}))
    described = checkpoint.describe(old)
    assert (described["who"], described["command"], described["files"]) == (None, None, [str(site)])
    assert checkpoint.restore(old) == [site] and site.read_bytes() == original


# --- pruning ---

def _checkpoints(n: int, site: Path, days_apart: float = 0) -> list[Path]:
    """``n`` real checkpoints of ``site``, their folders named ``days_apart`` days apart, oldest first."""
    made = []
    for i in range(n):
        folder = checkpoint.create([checkpoint.Change(site, site.read_bytes(), b"# %d\n" % i)])
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - (n - i) * days_apart * 86400))
        named = folder.with_name(f"{stamp}-{i + 1}")
        folder.rename(named)
        made.append(named)
    return made


def test_prune_keeps_a_count_and_an_age_and_never_the_newest(site):
    made = _checkpoints(6, site, days_apart=10)  # 60, 50, ... 10 days old
    assert checkpoint.prune(keep=4, max_age_days=1000) == made[:2]
    assert checkpoint.all_checkpoints() == made[2:]
    assert checkpoint.prune(keep=20, max_age_days=25) == made[2:4]
    assert checkpoint.prune(keep=0, max_age_days=0) == [made[4]]
    assert checkpoint.all_checkpoints() == [made[5]], "the newest is never pruned"


def test_a_patch_prunes_by_the_settings_file_and_restore_still_works(site, tmp_path):
    state = tmp_path / "state"
    (tmp_path / ".apachemaint.toml").write_text("checkpoint-keep = 2\n")
    for i in range(4):
        site.write_text(PLAIN.replace("shop", f"shop{i}"))
        done = apachemaint("patch", site, "--no-configtest", state=state, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert len(list((state / "checkpoints").iterdir())) == 2
    back = apachemaint("restore", state=state, cwd=tmp_path)
    assert back.returncode == 0 and site.read_text() == PLAIN.replace("shop", "shop3")


def test_restore_prune_takes_keep_and_age_from_the_command_line(site, tmp_path, own_state_dir):
    made = _checkpoints(5, site, days_apart=1)
    done = apachemaint("restore", "--prune", "--keep", "3", state=own_state_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"{p}: pruned\n" for p in made[:2])
    done = apachemaint("restore", "--prune", "--max-age-days", "0", state=own_state_dir, cwd=tmp_path,
                       env={"APACHEMAINT_CHECKPOINT_KEEP": "10"})
    assert done.returncode == 0 and checkpoint.all_checkpoints() == [made[-1]]


def test_checkpoint_settings_resolve_cli_then_file_then_environment_then_default(tmp_path):
    file = settings.from_table({"checkpoint-keep": 5}, tmp_path / ".apachemaint.toml")
    env = {"APACHEMAINT_CHECKPOINT_KEEP": "7", "APACHEMAINT_CHECKPOINT_MAX_AGE_DAYS": "30"}
    got = settings.resolve(settings.Settings(), file, env)
    assert (got.checkpoint_keep, got.checkpoint_max_age_days) == (5, 30)
    got = settings.resolve(settings.Settings(checkpoint_keep=3), file, env)
    assert got.checkpoint_keep == 3
    got = settings.resolve(settings.Settings(), None, {})
    assert (got.checkpoint_keep, got.checkpoint_max_age_days) == (20, 90)
    with pytest.raises(settings.SettingsError, match="checkpoint-keep must be a whole number"):
        settings.from_table({"checkpoint-keep": "many"}, tmp_path / ".apachemaint.toml")


def test_a_bad_checkpoint_setting_stops_the_patch_before_any_write(site, tmp_path):
    (tmp_path / ".apachemaint.toml").write_text("checkpoint-max-age-days = -1\n")
    done = apachemaint("patch", site, "--no-configtest", state=tmp_path / "state", cwd=tmp_path)
    assert done.returncode == 2 and "checkpoint-max-age-days must be a whole number" in done.stderr
    assert site.read_text() == PLAIN


def test_a_checkpoint_made_after_pruning_in_the_same_second_sorts_last(site):
    made = _checkpoints(3, site)  # all named within this second: -1, -2, -3
    checkpoint.discard(made[0])
    newest = checkpoint.create([checkpoint.Change(site, site.read_bytes(), b"# newest\n")])
    assert checkpoint.all_checkpoints()[-1] == newest, "not the freed -1 again"


def test_check_fix_goes_through_the_transaction_and_restore_undoes_it(site, tmp_path):
    state = tmp_path / "state"
    done = apachemaint("check", site, "--fix", "--no-configtest", state=state, cwd=tmp_path)
    assert site.read_text() != PLAIN, done.stderr
    [cp] = json.loads(apachemaint("restore", "--list", "--json", state=state).stdout)["checkpoints"]
    assert cp["command"][:2] == ["apachemaint", "check"] and cp["files"] == [str(site)]
    assert apachemaint("restore", state=state).returncode == 0 and site.read_text() == PLAIN


@pytest.mark.skipif(os.geteuid() != 0, reason="the sudo caller counts only behind root")
def test_a_checkpoint_made_through_sudo_names_the_sudo_caller(site, tmp_path):
    import pwd

    nobody = pwd.getpwnam("nobody")
    state = tmp_path / "state"
    done = apachemaint("patch", site, "--no-configtest", state=state,
                       env={"SUDO_USER": "nobody", "SUDO_UID": str(nobody.pw_uid), "SUDO_GID": str(nobody.pw_gid)})
    assert done.returncode == 0, done.stderr
    [cp] = json.loads(apachemaint("restore", "--list", "--json", state=state).stdout)["checkpoints"]
    assert cp["who"] == "nobody"
