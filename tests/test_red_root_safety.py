"""Red team, part 2: `down`/`up` as root below a docroot a deploy user owns, attacked with
what test_page_safety does not try: hard links planted where apachemaint writes, a folder
swapped for a link while commands run, FIFOs and huge files in its own state folder, and
names with control characters.  What must hold: exit 0 or 2 (one line naming the file, no
traceback), nothing outside the docroot written, no file of another user changed, no
root-owned set-id file left in the deploy user's tree."""
from __future__ import annotations

import contextlib
import ctypes
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_cli import apachemaint
from test_page_safety import DEPLOY, OTHER, link, snapshot

from apachemaint import cli
from apachemaint.errors import ApacheMaintError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it plays root among deploy users")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """(state folder, the deploy user's docroot with system/, root's own victim folder)."""
    state = tmp_path / "state"
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(state))
    www = tmp_path / "www"
    (www / "system").mkdir(parents=True)
    for p in (www, www / "system"):
        p.chmod(0o755)
        os.chown(p, DEPLOY, DEPLOY)
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    return state, www, victim


_libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def exchange(a: Path, b: Path) -> None:
    """Swap two names in one step (renameat2 RENAME_EXCHANGE), as an attacker racing us would."""
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))


def one_line_or_ok(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 2, 3), (result.returncode, result.stderr)  # 3: status, down
    if result.returncode == 2:
        assert result.stderr.count("\n") == 1, result.stderr


def _deploy_tree_safe(www: Path) -> list[str]:
    """Files in the deploy user's tree that a root run must never leave: set-id files, and
    files owned by someone who is neither root nor the deploy user."""
    bad = []
    for p in [www, *www.rglob("*")]:
        st = p.lstat()
        if st.st_mode & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISDIR(st.st_mode):
            bad.append(f"{p}: set-id {oct(st.st_mode)} uid {st.st_uid}")
        if st.st_uid not in (0, DEPLOY):
            bad.append(f"{p}: owned by uid {st.st_uid}")
    return bad


@pytest.mark.parametrize("name", ["maintenance.html", ".apachemaint/retry-after", ".apachemaint/page.html"])
@pytest.mark.parametrize("victim_uid, victim_mode", [(0, 0o4755), (OTHER, 0o2755), (OTHER, 0o644)])
def test_a_hard_link_planted_where_down_writes_leaves_no_foreign_or_set_id_file(site, name, victim_uid,
                                                                                victim_mode):
    """A deploy user links another user's file (root's set-uid tool, a neighbour's file) at
    a name down replaces.  The rename leaves the linked file's bytes alone, but the new file
    must not become root's set-uid file, or the neighbour's file, in the deploy's tree."""
    state, www, victim = site
    tool = victim / "tool"
    tool.write_text("#!/bin/sh\necho tool\n")
    os.chown(tool, victim_uid, victim_uid)
    tool.chmod(victim_mode)
    planted = www / "system" / name
    if planted.parent != www / "system":
        planted.parent.mkdir(mode=0o755)
        os.chown(planted.parent, DEPLOY, DEPLOY)
    os.link(tool, planted)
    before = snapshot(victim)
    result = apachemaint("down", "--docroot", www, "--until", "2099-01-01T00:00:00Z", state=state)
    one_line_or_ok(result)
    if result.returncode == 2:
        assert str(planted) in result.stderr
    assert snapshot(victim) == before
    assert _deploy_tree_safe(www) == []


FLIPPER = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b, seconds = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(1000):
        libc.renameat2(-100, a, -100, b, 2)  # RENAME_EXCHANGE
"""


@contextlib.contextmanager
def flipping(real: Path, other: Path, seconds: float = 60):
    """Another process swaps ``real`` and ``other`` in one step (renameat2 RENAME_EXCHANGE),
    as fast as it can, for at most ``seconds``: an attacker racing us on the other core."""
    proc = subprocess.Popen([sys.executable, "-c", FLIPPER, str(real), str(other), str(seconds)])
    try:
        yield
    finally:
        proc.kill()
        proc.wait(10)
    if real.is_symlink():
        exchange(real, other)


@pytest.mark.parametrize("swapped", ["system", "system/.apachemaint"])
def test_a_folder_flipping_to_a_link_while_down_and_up_run_never_writes_through_it(site, swapped):
    """system/ (or the state folder in it) is swapped for a deploy-owned link to root's
    folder and back while finding the page (in this process, many times) and down, status
    and up (as commands) run: each either works on the real folder or is one line of
    refusal; root's folder is never written."""
    state, www, victim = site
    (victim / "keep").write_text("root's\n")
    before = snapshot(victim)
    real, other = www / swapped, www / f"{swapped}.link"
    if not real.exists():
        real.mkdir(mode=0o755)
        os.chown(real, DEPLOY, DEPLOY)
    link(other, victim, DEPLOY)
    with flipping(real, other):
        end = time.monotonic() + 4
        while time.monotonic() < end:
            try:
                cli._targets(www, None, down=True)
            except ApacheMaintError:
                pass
        results = [apachemaint(*command, "--docroot", www, state=state) for _ in range(3)
                   for command in (("down", "--bypass"), ("status",), ("up",))]
    for result in results:
        one_line_or_ok(result)
    assert snapshot(victim) == before
    assert _deploy_tree_safe(www) == []


@pytest.mark.parametrize("name", [".apachemaint/state.json", ".apachemaint/page.html", "maintenance.html"])
@pytest.mark.parametrize("plant", ["fifo", "huge"])
def test_a_fifo_or_a_huge_file_planted_is_one_line_not_a_hang(site, plant, name):
    """The page, or a file in .apachemaint/ (a folder the deploy user can swap for their
    own): a FIFO must not hang status/down/up, a sparse 4 GiB file must not be read whole."""
    state, www, _victim = site
    own = www / "system" / ".apachemaint"
    own.mkdir(mode=0o755)
    os.chown(own, DEPLOY, DEPLOY)
    record = www / "system" / name
    if plant == "fifo":
        os.mkfifo(record, 0o644)
    else:
        with open(record, "wb") as f:
            f.truncate(4 << 30)
    os.chown(record, DEPLOY, DEPLOY)
    if name != "maintenance.html":
        (www / "system" / "maintenance.html").write_text("down by hand\n")
    for command in ("status", "down", "up"):
        result = apachemaint(command, "--docroot", www, state=state)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert result.returncode in (0, 2, 3), (command, result.returncode, result.stderr)


@pytest.mark.parametrize("name", ["www\nmaintenance on: x", "www\x1b[2Jcleared", "www\r"])
def test_a_docroot_named_with_control_characters_is_reported_on_one_line(site, name):
    state, www, _victim = site
    odd = www.parent / name
    os.rename(www, odd)
    for args in (("down", "--reason", "x"), ("status",), ("up",)):
        result = apachemaint(*args, "--docroot", odd, state=state)
        assert "Traceback" not in result.stderr
        for stream in (result.stdout, result.stderr):
            assert "\x1b" not in stream and "\r" not in stream, (args, stream)
            assert "\nmaintenance on: x" not in stream, (args, stream)


@pytest.mark.parametrize("sticky", ["docroot", "system"])
def test_a_sticky_world_writable_folder_of_another_user_is_refused(site, sticky):
    """A docroot under /tmp, or a shared uploads system/, made 1777 by its user: anyone may
    create names in it, so nothing is written there."""
    state, www, victim = site
    folder = www if sticky == "docroot" else www / "system"
    os.chown(folder, OTHER, OTHER)
    folder.chmod(0o1777)
    before = snapshot(www)
    result = apachemaint("down", "--docroot", www, state=state)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "refused" in result.stderr
    assert str(folder) in result.stderr and "Traceback" not in result.stderr
    assert snapshot(www) == before
