"""A window's record belongs to the very page `down` wrote: one rewritten in place since (same
inode, by hand or by another tool's upload) is another page, whose reason and bypass tokens are
not this window's."""
from __future__ import annotations

import json
import os

from run_cli import apachemaint

from apachemaint import block


def test_a_page_rewritten_in_place_is_not_the_recorded_window(tmp_path):
    docroot, state = tmp_path / "www", tmp_path / "state"
    docroot.mkdir()
    done = apachemaint("down", "--docroot", docroot, "--reason", "db upgrade", "--bypass", state=state)
    assert done.returncode == 0, done.stderr
    page = docroot / "system" / "maintenance.html"
    shown = json.loads(apachemaint("status", "--docroot", docroot, "--json", state=state).stdout)
    assert shown["reason"] == "db upgrade"
    before = os.stat(page)
    with open(page, "r+b") as f:  # another tool writes its own page over ours, in place, a second later
        f.truncate(0)
        f.write(b"<p>Back soon</p>\n")
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    assert os.stat(page).st_ino == before.st_ino
    shown = json.loads(apachemaint("status", "--docroot", docroot, "--json", state=state).stdout)
    assert shown["maintenance"] is True and shown.get("reason") is None
    # A `down` now opens a new window: the last one's bypass tokens are dead.
    bypass = page.parent / block.STATE_DIR / block.BYPASS_DIR
    tokens = set(os.listdir(bypass))
    assert tokens
    assert apachemaint("down", "--docroot", docroot, "--reason", "again", state=state).returncode == 0
    assert not tokens & set(os.listdir(bypass))


def test_a_window_recorded_before_page_ids_had_a_time_stays_the_same_window(tmp_path):
    # An upgrade of apachemaint during a window: the record's dev:ino still names the page.
    docroot, state = tmp_path / "www", tmp_path / "state"
    docroot.mkdir()
    assert apachemaint("down", "--docroot", docroot, "--reason", "db upgrade", state=state).returncode == 0
    record_file = docroot / "system" / block.STATE_DIR / block.STATE_FILE
    record = json.loads(record_file.read_text())
    record["page_id"] = record["page_id"].rsplit(":", 1)[0]
    record_file.write_text(json.dumps(record))
    shown = json.loads(apachemaint("status", "--docroot", docroot, "--json", state=state).stdout)
    assert shown["reason"] == "db upgrade"
