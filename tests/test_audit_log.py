"""The audit log of windows (issue 16.5): `down` and `up` append, `apachemaint log` reads."""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from run_cli import apachemaint


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    return root


def _events(state: Path) -> list[dict]:
    result = apachemaint("log", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["version"] == 1 and doc["log"] == str(state / "windows.log")
    return doc["events"]


def test_down_and_up_are_logged_and_kept_after_up(docroot, own_state_dir):
    assert _events(own_state_dir) == []
    assert apachemaint("down", "--docroot", docroot, "--reason", "db upgrade", "--until", "30m").returncode == 0
    assert apachemaint("up", "--docroot", docroot).returncode == 0
    assert apachemaint("up", "--docroot", docroot).returncode == 0  # already up: nothing happened, nothing logged
    page = str(docroot / "system" / "maintenance.html")
    down, up = _events(own_state_dir)
    assert (down["event"], up["event"]) == ("down", "up")
    assert down["pages"] == up["pages"] == [page]
    assert down["reason"] == "db upgrade" and down["until"].endswith(" UTC")  # as the page shows it
    window = datetime.fromisoformat(down["until_iso"]) - datetime.fromisoformat(down["at"])
    assert 1799 <= window.total_seconds() < 1801  # "at" is in whole seconds
    assert down["by"] and down["by"] == up["by"] and down["at"] <= up["at"]
    text = apachemaint("log").stdout.splitlines()
    assert len(text) == 2 and " DOWN by " in text[0] and "reason db upgrade" in text[0] and " UP by " in text[1]
    assert os.stat(own_state_dir / "windows.log").st_mode & 0o777 == 0o600


def test_the_log_is_only_appended_to(docroot, own_state_dir):
    assert apachemaint("down", "--docroot", docroot).returncode == 0
    first = (own_state_dir / "windows.log").read_bytes()
    assert apachemaint("up", "--docroot", docroot).returncode == 0
    assert apachemaint("down", "--docroot", docroot, "--reason", "again").returncode == 0
    after = (own_state_dir / "windows.log").read_bytes()
    assert after.startswith(first) and after.count(b"\n") == 3


def test_a_line_that_is_no_record_is_one_error_with_its_line(docroot, own_state_dir):
    assert apachemaint("down", "--docroot", docroot).returncode == 0
    with open(own_state_dir / "windows.log", "ab") as f:
        f.write(b"not json\n")
    result = apachemaint("log")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == f"{own_state_dir / 'windows.log'}:2: not an audit record (one JSON object a line)\n"


def test_a_log_that_is_a_link_is_refused_and_down_changes_nothing(docroot, own_state_dir, tmp_path):
    own_state_dir.mkdir(mode=0o700, exist_ok=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"keep")
    (own_state_dir / "windows.log").symlink_to(elsewhere)
    result = apachemaint("down", "--docroot", docroot)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "windows.log" in result.stderr
    assert elsewhere.read_bytes() == b"keep"
    assert not (docroot / "system" / "maintenance.html").exists()
    assert apachemaint("log").returncode == 2


def test_a_record_with_fields_of_other_types_is_shown_without_a_traceback(docroot, own_state_dir):
    assert apachemaint("down", "--docroot", docroot).returncode == 0
    with open(own_state_dir / "windows.log", "ab") as f:
        f.write(b'{"event": 1, "pages": 7, "by": [], "until": {"a": 1}}\n')
    result = apachemaint("log")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    # Shown as missing, as restore --list shows a manifest's fields of another type (no Python reprs).
    assert result.stdout.splitlines()[-1] == "- 1 by -"
