"""The state folder and its checkpoints are untrusted input: as root, `restore` must write
only the files patch wrote, and read nothing another user planted."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from run_cli import apachemaint

PROXY = """<VirtualHost *:80>
    ServerName shop.example.com
    DocumentRoot /srv/shop/public
    ProxyPass / http://127.0.0.1:3000/
</VirtualHost>
"""

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as another uid")


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "shop.conf"
    path.write_text(PROXY)
    return path


def _patched(conf: Path, state: Path) -> Path:
    result = apachemaint("patch", "--no-configtest", conf, state=state)
    assert result.returncode == 0, result.stderr
    (cp,) = (state / "checkpoints").iterdir()
    return cp


def test_first_use_under_umask_000_makes_a_private_state_folder(conf, tmp_path):
    state = tmp_path / "state"
    old = os.umask(0)
    try:
        _patched(conf, state)
    finally:
        os.umask(old)
    assert (state.stat().st_mode & 0o777, (state / "checkpoints").stat().st_mode & 0o777) == (0o700, 0o700)


@root_only
def test_a_squatted_state_folder_is_refused(conf, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    os.chown(state, 65534, 65534)
    result = apachemaint("patch", "--no-configtest", conf, state=state)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{state}: state folder is owned by uid 65534, not by uid 0; refusing to use it"
    assert conf.read_text() == PROXY and list(state.iterdir()) == []


def test_a_state_folder_writable_by_others_is_refused(conf, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    result = apachemaint("patch", "--no-configtest", conf, state=state)
    assert result.returncode == 2
    assert "writable by group or others (mode 777); refusing to use it" in result.stderr
    assert conf.read_text() == PROXY


def test_restore_refuses_a_target_outside_what_patch_wrote(conf, tmp_path):
    state = tmp_path / "state"
    cp = _patched(conf, state)
    victim = tmp_path / "etc" / "x"
    victim.parent.mkdir()
    victim.write_text("root's\n")
    manifest = json.loads((cp / "manifest.json").read_text())
    manifest["files"][0]["path"] = str(conf.parent / "a" / ".." / "etc" / "x")
    (cp / "manifest.json").write_text(json.dumps(manifest))
    result = apachemaint("restore", "--force", state=state)
    assert result.returncode == 2 and "not an absolute normalised path" in result.stderr
    assert "Traceback" not in result.stderr and victim.read_text() == "root's\n"


def test_restore_refuses_a_backup_that_is_a_link_to_a_secret(conf, tmp_path):
    state = tmp_path / "state"
    cp = _patched(conf, state)
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret\n")
    manifest = json.loads((cp / "manifest.json").read_text())
    backup = cp / manifest["files"][0]["backup"]
    backup.unlink()
    backup.symlink_to(secret)
    import hashlib
    manifest["files"][0]["sha256_before"] = hashlib.sha256(secret.read_bytes()).hexdigest()
    (cp / "manifest.json").write_text(json.dumps(manifest))
    before = conf.read_bytes()
    result = apachemaint("restore", "--force", state=state)
    assert result.returncode == 2 and "cannot read backup" in result.stderr
    assert conf.read_bytes() == before


def test_restore_refuses_a_backup_named_outside_its_folder(conf, tmp_path):
    state = tmp_path / "state"
    cp = _patched(conf, state)
    manifest = json.loads((cp / "manifest.json").read_text())
    manifest["files"][0]["backup"] = "../../shadow"
    (cp / "manifest.json").write_text(json.dumps(manifest))
    result = apachemaint("restore", state=state)
    assert result.returncode == 2 and "not a file of its own folder" in result.stderr


def test_restore_takes_only_folders_inside_the_state_folder(conf, tmp_path):
    state = tmp_path / "state"
    cp = _patched(conf, state)
    own = tmp_path / "mine"
    own.mkdir()
    for f in cp.iterdir():
        (own / f.name).write_bytes(f.read_bytes())
    result = apachemaint("restore", own, state=state)
    assert result.returncode == 2 and "not a checkpoint of this state folder" in result.stderr
    assert conf.read_text() != PROXY  # still patched


def test_restore_of_a_patched_file_still_works(conf, tmp_path):
    state = tmp_path / "state"
    cp = _patched(conf, state)
    result = apachemaint("restore", cp, state=state)
    assert result.returncode == 0, result.stderr
    assert conf.read_text() == PROXY


@pytest.mark.parametrize("field", ["command", "files", "new"])
def test_restore_list_shows_a_manifest_with_wrong_types_without_a_traceback(conf, tmp_path, field):
    state = tmp_path / "state"
    cp = _patched(conf, state)
    manifest = json.loads((cp / "manifest.json").read_text())
    for wrong in (True, 7, "x", ["x", 1], {"a": 1}, [{"path": 1}]):
        (cp / "manifest.json").write_text(json.dumps({**manifest, field: wrong}))
        for args in ((), ("--json",)):
            out = apachemaint("restore", "--list", *args, state=state)
            assert out.returncode == 0 and "Traceback" not in out.stderr, (wrong, out.stderr)
            assert cp.name in out.stdout
