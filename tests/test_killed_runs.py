"""A killed run (issue 15.5): a checkpoint is valid only once its run finished or rolled
back, `restore` puts back what a killed `patch` wrote (and says which files it had not got
to), and no temp file is ever where `Include folder/` would load it, nor left behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_cli import apachemaint

from apachemaint import checkpoint, safewrite
from apachemaint.httpd import LoopbackApache

FILES = 2000  # from here the checkpoint is made in a second process while the files are written
VHOST = "<VirtualHost 127.0.21.2:80>\n    ServerName s{n}.example.com\n    DocumentRoot /srv/s{n}\n</VirtualHost>\n"


@pytest.fixture
def sites(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "sites"
    folder.mkdir()
    files = []
    for n in range(FILES):
        path = folder / f"s{n:04d}.conf"
        path.write_text(VHOST.format(n=n))
        files.append(path)
    return files


def _temps(tmp_path: Path) -> list[Path]:
    return list(tmp_path.rglob("*apachemaint-tmp*"))


def _kill_patch_when(sites: list[Path], state: Path, ready) -> int:
    """Start `patch` on ``sites``, kill -9 its process group once ``ready()`` holds (polled
    every millisecond, at most 60 s); the run's return code."""
    proc = subprocess.Popen([sys.executable, "-m", "apachemaint", "patch", "--no-configtest", *map(str, sites)],
                            env={**os.environ, "APACHEMAINT_STATE_DIR": str(state)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline and not ready():
            time.sleep(0.001)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    return proc.returncode


def _marker(state: Path) -> bool:
    return any((state / "checkpoints").glob(f"*/{checkpoint.MARKER}"))


def _manifest(state: Path) -> bool:
    return any((state / "checkpoints").glob("*/manifest.json"))


def _temps_written(sites: list[Path]) -> bool:
    tmp = sites[0].parent.parent / safewrite.TEMP_DIR
    try:
        return len(os.listdir(tmp)) > FILES // 2
    except OSError:
        return False


def _renaming(sites: list[Path]) -> bool:
    return os.stat(sites[FILES // 4]).st_size != len(VHOST.format(n=FILES // 4))


@pytest.mark.apache
@pytest.mark.parametrize("when", ["checkpoint begun", "temp files written", "checkpoint complete",
                                  "files renamed"])
def test_a_killed_patch_is_restored_and_leaves_nothing_httpd_loads(sites, tmp_path, when):
    state = tmp_path / "state"
    original = {p: p.read_bytes() for p in sites}
    ready = {"checkpoint begun": lambda: _marker(state), "temp files written": lambda: _temps_written(sites),
             "checkpoint complete": lambda: _manifest(state), "files renamed": lambda: _renaming(sites)}[when]
    code = _kill_patch_when(sites, state, ready)
    if code == 0:
        pytest.skip(f"the patch finished before it could be killed at {when!r}")  # too fast a machine
    assert code == -signal.SIGKILL
    written = [p for p in sites if p.read_bytes() != original[p]]
    result = apachemaint("restore", state=state)
    if _manifest(state) or written:
        assert result.returncode == 0, result.stderr
        assert result.stdout.count(": restored\n") == len(written), "restored is said only of what is put back"
        assert "INTERRUPTED" in result.stdout.splitlines()[0]
    else:  # killed before its checkpoint was complete: it renamed nothing, and its folder is gone
        assert result.returncode == 2 and "no checkpoint to restore" in result.stderr
        assert not list((state / "checkpoints").iterdir())
    assert all(p.read_bytes() == original[p] for p in sites)
    assert not _temps(tmp_path), "no temp file of the killed run is left"
    apache = LoopbackApache(tmp_path / "server", [sites[0].parent], host="127.0.21.2")
    ok, out = apache.configtest()  # Include sites/: every file in the folder
    assert ok, out


def test_an_interrupted_checkpoint_is_listed_as_such_and_a_running_one_is_not_restored(tmp_path):
    site = tmp_path / "sites" / "a.conf"
    site.parent.mkdir()
    site.write_text(VHOST.format(n=1))
    folder = checkpoint.begin([site])
    checkpoint.create([checkpoint.Change(site, site.read_bytes(), b"# new\n")], folder=folder)
    with pytest.raises(Exception, match=r"in progress: its run \(pid \d+\) has not finished"):
        checkpoint.put_back(folder)
    marker = json.loads((folder / checkpoint.MARKER).read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    marker["pid"] = int(dead.stdout)  # a process that has ended
    (folder / checkpoint.MARKER).write_text(json.dumps(marker))
    listed = apachemaint("restore", "--list")
    assert f"[INTERRUPTED, pid {marker['pid']}]" in listed.stdout
    result = apachemaint("restore")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{folder}: INTERRUPTED: its run (pid {marker['pid']}) was killed before it finished; "
        "putting back what it wrote", f"{site}: already the original; left as it is"]


def test_temp_files_go_to_a_private_folder_beside_the_target_folder(tmp_path, monkeypatch):
    site = tmp_path / "conf.d" / "a.conf"
    site.parent.mkdir()
    site.write_bytes(b"old\n")
    seen = []
    real = os.replace

    def replace(src, dst):
        seen.append((src, os.stat(os.path.dirname(src))))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    safewrite.write_atomic(site, b"new\n")
    [(src, folder)] = seen
    assert os.path.dirname(src) == str(tmp_path / safewrite.TEMP_DIR)
    assert (folder.st_mode & 0o777, folder.st_uid) == (0o700, os.geteuid())
    assert site.read_bytes() == b"new\n" and not _temps(tmp_path), "the empty temp folder goes too"


def test_a_temp_folder_that_is_a_link_or_someone_elses_is_refused(tmp_path):
    site = tmp_path / "conf.d" / "a.conf"
    site.parent.mkdir()
    site.write_bytes(b"old\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / safewrite.TEMP_DIR).symlink_to(elsewhere)
    with pytest.raises(safewrite.UnsafeWrite, match="is a link or not a folder"):
        safewrite.write_atomic(site, b"new\n")
    assert site.read_bytes() == b"old\n" and not list(elsewhere.iterdir())
    if os.geteuid() == 0:
        (tmp_path / safewrite.TEMP_DIR).unlink()
        (tmp_path / safewrite.TEMP_DIR).mkdir(mode=0o700)
        os.chown(tmp_path / safewrite.TEMP_DIR, 65534, 65534)
        with pytest.raises(safewrite.UnsafeWrite, match="is owned by uid 65534"):
            safewrite.write_atomic(site, b"new\n")
        assert site.read_bytes() == b"old\n"


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775])
def test_no_temp_folder_in_a_parent_others_may_write_in(tmp_path, monkeypatch, mode):
    # The temp folder is checked, then used by name: in a parent someone else may write in,
    # they could swap it for a link between the two and have root create files through it.
    # There the temp file goes beside the target, in a folder only we write in.
    parent = tmp_path / "shared"
    site = parent / "conf.d" / "a.conf"
    site.parent.mkdir(parents=True)
    site.write_bytes(b"old\n")
    parent.chmod(mode)
    renamed_from = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed_from.append(os.path.dirname(src)),
                                                         real(src, dst)))
    safewrite.write_atomic(site, b"new\n")
    assert site.read_bytes() == b"new\n" and renamed_from == [str(site.parent)]
    assert not (parent / safewrite.TEMP_DIR).exists() and sorted(os.listdir(site.parent)) == ["a.conf"]
    if os.geteuid() == 0:
        parent.chmod(0o755)
        os.chown(parent, 65534, 65534)
        safewrite.write_atomic(site, b"newer\n")
        assert site.read_bytes() == b"newer\n" and renamed_from[-1] == str(site.parent)


def test_the_next_write_removes_temp_files_of_dead_runs_only(tmp_path):
    site = tmp_path / "conf.d" / "a.conf"
    site.parent.mkdir()
    site.write_bytes(b"old\n")
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    beside_dead = site.parent / f".a.conf.{dead}-3.apachemaint-tmp"  # as older versions made them
    beside_live = site.parent / f".a.conf.{os.getppid()}-3.apachemaint-tmp"
    (tmp_path / safewrite.TEMP_DIR).mkdir(mode=0o700)
    parked_dead = tmp_path / safewrite.TEMP_DIR / f"{dead}-9.a.conf"
    for p in (beside_dead, beside_live, parked_dead):
        p.write_bytes(b"<VirtualHost *:80>\n")
    safewrite.write_atomic(site, b"new\n")
    assert not beside_dead.exists() and not parked_dead.exists()
    assert beside_live.exists(), "a running process's temp file is left alone"
