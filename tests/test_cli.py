"""The command line as a deploy script sees it: exit codes, one-line errors, no writes
where none were asked for."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import FIXTURES
from run_cli import apachemaint

from apachemaint import __version__

PROXY = "<VirtualHost *:80>\n    ServerName a\n    ProxyPass / http://127.0.0.1:3000/\n</VirtualHost>\n"


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    p = tmp_path / "app.conf"
    p.write_text(PROXY)
    return p


def test_version_and_help():
    assert apachemaint("--version").stdout.strip() == f"apachemaint {__version__}"
    out = apachemaint("--help").stdout
    assert "patch" in out and "check" in out


def test_diff_and_check_write_nothing(conf, tmp_path):
    before = conf.read_bytes()
    diff = apachemaint("patch", "--diff", conf, state=tmp_path / "s")
    assert diff.returncode == 0 and "+    # BEGIN apachemaint v2" in diff.stdout
    check = apachemaint("patch", "--check", conf, state=tmp_path / "s")
    assert check.returncode == 1 and f"{conf}: would change" in check.stderr
    assert conf.read_bytes() == before and not (tmp_path / "s").exists()


def test_patch_then_check_then_patch_again(conf, tmp_path):
    assert apachemaint("check", conf).returncode == 1
    first = apachemaint("patch", "--allow-path", "/up", conf, state=tmp_path / "s")
    assert first.returncode == 0, first.stderr
    assert "block added" in first.stdout and "not included by any server config" in first.stdout
    once = conf.read_bytes()
    again = apachemaint("patch", conf, state=tmp_path / "s")
    assert again.returncode == 0 and "already current" in again.stdout and conf.read_bytes() == once
    assert apachemaint("patch", "--check", conf).returncode == 0
    assert apachemaint("check", conf).returncode == 0


def test_check_reports_file_and_line_and_keeps_going(tmp_path):
    bad = tmp_path / "bad.conf"
    shutil.copy(FIXTURES / "malformed" / "unclosed-vhost.conf", bad)
    good = tmp_path / "good.conf"
    good.write_text("# x\n" + PROXY)
    result = apachemaint("check", bad, good)
    assert result.returncode == 2
    assert f"{bad}:2:1: AM000" in result.stdout
    assert f"{good}:2:1: AM001" in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--allow-ip", "10.0.0.1/8"], "--allow-ip '10.0.0.1/8'"),
    (["--allow-path", "/up (x)"], "--allow-path '/up (x)'"),
    (["--page", "maintenance.html"], "--page 'maintenance.html'"),
])
def test_bad_values_exit_2_with_one_line_and_nothing_written(conf, tmp_path, args, words):
    before = conf.read_bytes()
    result = apachemaint("patch", *args, conf, state=tmp_path / "s")
    assert result.returncode == 2
    assert result.stderr.startswith(words) and result.stderr.count("\n") == 1
    assert conf.read_bytes() == before


def test_missing_file_is_one_line(tmp_path):
    result = apachemaint("patch", tmp_path / "nope.conf")
    assert (result.returncode, result.stderr) == (2, f"{tmp_path / 'nope.conf'}: no such file\n")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to take away root's right to write anywhere")
def test_unwritable_folder_exits_2_and_leaves_the_file(conf, tmp_path):
    # The folder belongs to someone else; root without CAP_DAC_OVERRIDE may read, not write.
    tmp_path.chmod(0o755)
    shutil.chown(tmp_path, "nobody")
    result = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", sys.executable, "-m",
         "apachemaint", "patch", "--no-configtest", str(conf)],
        capture_output=True, text=True, env={**os.environ, "APACHEMAINT_STATE_DIR": str(tmp_path.parent / "s2")})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"{conf}: cannot write in {tmp_path}")
    assert conf.read_text() == PROXY


def test_restore_puts_the_original_back(conf, tmp_path):
    state = tmp_path / "s"
    assert apachemaint("patch", conf, state=state).returncode == 0
    assert conf.read_text() != PROXY
    listed = apachemaint("restore", "--list", state=state).stdout.splitlines()
    assert len(listed) == 1 and listed[0].endswith(f"1 file(s)  apachemaint patch {conf}")
    result = apachemaint("restore", state=state)
    assert result.returncode == 0 and f"{conf}: restored" in result.stdout
    assert conf.read_text() == PROXY


def test_restore_list_never_prints_terminal_escapes(tmp_path):
    # The command a checkpoint records is whoever ran it (a sudo caller's own argv): listing it
    # must not let those bytes drive root's terminal, as `log` and `status` already ensure.
    conf = tmp_path / "a\x1b]0;owned\x07\x1b[2J.conf"
    conf.write_text(PROXY)
    state = tmp_path / "s"
    assert apachemaint("patch", "--no-configtest", conf, state=state).returncode == 0
    listed = apachemaint("restore", "--list", state=state)
    assert listed.returncode == 0 and "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "a]0;owned[2J.conf" in listed.stdout
    as_json = apachemaint("restore", "--list", "--json", state=state)
    assert str(conf) in json.loads(as_json.stdout)["checkpoints"][0]["command"]


def test_restore_refuses_a_file_changed_since(conf, tmp_path):
    state = tmp_path / "s"
    apachemaint("patch", conf, state=state)
    conf.write_text(conf.read_text() + "# edited later\n")
    result = apachemaint("restore", state=state)
    assert result.returncode == 2 and "changed since" in result.stderr
    assert conf.read_text().endswith("# edited later\n")
