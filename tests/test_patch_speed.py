"""patch at scale: planning in two processes gives the plans planning one by one gives, and
what travels between the processes is the plan without its parse tree; a checkpoint made in
a second process while the files are written is the same checkpoint, with the same errors."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from apachemaint import checkpoint, forked, safewrite
from apachemaint import patch as patching
from apachemaint.errors import ConfigSyntaxError, UnsafeWrite

PROXY = "<VirtualHost *:80>\n    ServerName {n}\n    ProxyPass / http://127.0.0.1:3000/\n</VirtualHost>\n"
REDIRECT = "<VirtualHost *:80>\n  ServerName {n}\n  Redirect permanent / https://{n}/\n</VirtualHost>\n"


def _fields(p: patching.FilePlan) -> tuple:
    """Everything a plan says, less the parse tree (kept only where it was planned)."""
    return p.path, p.real, p.followed_link, p.old_bytes, p.new_bytes, p.results, p.seen


@pytest.fixture
def sites(tmp_path: Path, monkeypatch) -> list[Path]:
    """Twelve vhost files of several kinds, one reached through a symlink; forking forced on."""
    monkeypatch.setattr(forked, "MIN_ITEMS", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    folder = tmp_path / "sites"
    folder.mkdir()
    files = []
    for i in range(12):
        body = (REDIRECT if i % 3 == 0 else PROXY).format(n=f"site{i}")
        f = folder / f"{i:02d}.conf"
        f.write_bytes((body.replace("\n", "\r\n") if i % 4 == 1 else body).encode())
        files.append(f)
    patching.apply([patching.plan(files[2], {"retry_after": 60})], configtest=False)  # already patched
    (folder / "linked.conf").symlink_to(files[11])
    files[11] = folder / "linked.conf"
    return files


def test_plan_all_gives_the_plans_of_planning_one_by_one(sites):
    given = {"allow_paths": ("/up",)}
    one_by_one = [patching.plan(f, given) for f in sites]
    both = patching.plan_all(sites, given)
    assert [_fields(p) for p in both] == [_fields(p) for p in one_by_one]
    assert [p.cf is None for p in both] == [False] * 6 + [True] * 6, "the second half came from the child"
    assert both[-1].followed_link and both[2].changed and not both[0].changed


def test_a_plan_travels_without_its_parse_tree(sites):
    plan = patching.plan(sites[1])
    copy = pickle.loads(pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy.cf is None and plan.cf is not None
    assert _fields(copy) == _fields(plan)
    assert copy.diff() == plan.diff() != ""
    vhost = copy.results[0].vhost
    assert (vhost.line, vhost.tag, vhost.close_line) == (1, "<VirtualHost *:80>", 4)


def test_plans_travel_with_one_copy_of_the_block_they_share(tmp_path):
    # Vhosts with a DocumentRoot each get the same block: their plans pickled hold it once (in
    # the edits they share), not once per new file, and come back with the same new bytes.
    files = []
    for i in range(5):
        (tmp_path / f"www{i}").mkdir()
        f = tmp_path / f"{i}.conf"
        f.write_text(f"<VirtualHost *:80>\n    ServerName s{i}\n    DocumentRoot {tmp_path}/www{i}\n</VirtualHost>\n")
        files.append(f)
    plans = [patching.plan(f) for f in files]
    assert all(p.changed for p in plans)
    sent = pickle.dumps(plans, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(sent) < sum(len(p.old_bytes) for p in plans) + 2 * max(len(p.new_bytes) for p in plans)
    assert [_fields(p) for p in pickle.loads(sent)] == [_fields(p) for p in plans]


@pytest.mark.parametrize("where", [0, 11])
def test_an_error_in_either_half_is_raised_as_planning_one_by_one_raises_it(sites, where):
    bad = sites[where].resolve()
    bad.write_text("<VirtualHost *:80>\n  ServerName broken\n")
    with pytest.raises(ConfigSyntaxError) as one:
        [patching.plan(f) for f in sites]
    with pytest.raises(ConfigSyntaxError) as both:
        patching.plan_all(sites)
    assert (both.value.file, both.value.line, both.value.message) == (one.value.file, one.value.line, one.value.message)


def test_plans_from_both_processes_apply_and_report_alike(sites, tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(tmp_path / "state"))
    before = {f: f.read_bytes() for f in sites}
    plans = patching.plan_all(sites)
    report = patching.apply(plans, configtest=False)
    assert report.checkpoint is not None
    for p in plans:
        assert Path(p.path).read_bytes() == p.new_bytes
        assert p.old_bytes == before[Path(p.path)]


# --- the checkpoint of a big batch is made in a second process while the files are written ---

@pytest.fixture
def recorded(sites, tmp_path, monkeypatch):
    """checkpoint.create, run through ``recorded.then(pid)`` first (in whichever process)."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(tmp_path / "state"))
    create = checkpoint.create

    class Recorder:
        pids_file = tmp_path / "pids"

        @staticmethod
        def then(pid: int) -> None:
            pass

    def recording(changes, *args, **kw):
        with open(Recorder.pids_file, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        Recorder.then(os.getpid())
        return create(changes, *args, **kw)

    monkeypatch.setattr(checkpoint, "create", recording)
    return Recorder


def _state(files: list[Path]) -> list[bytes]:
    return [f.read_bytes() for f in files]


def _leftovers(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "state" / "checkpoints").glob("*")) + list(tmp_path.rglob("*apachemaint-tmp*"))


def test_the_checkpoint_is_made_in_a_second_process_and_restores(sites, recorded):
    before = _state(sites)
    report = patching.apply(patching.plan_all(sites), configtest=False)
    assert [int(pid) for pid in recorded.pids_file.read_text().split()] != [os.getpid()]
    assert len(recorded.pids_file.read_text().split()) == 1
    assert (report.checkpoint / "manifest.json").is_file()
    assert _state(sites) != before
    checkpoint.restore()
    assert _state(sites) == before


def test_a_second_process_that_dies_is_replaced_by_this_one(sites, recorded, tmp_path):
    here = os.getpid()
    recorded.then = lambda pid: pid == here or os._exit(3)
    before = _state(sites)
    report = patching.apply(patching.plan_all(sites), configtest=False)
    pids = [int(pid) for pid in recorded.pids_file.read_text().split()]
    assert len(pids) == 2 and pids[0] != here and pids[1] == here
    assert list((tmp_path / "state" / "checkpoints").iterdir()) == [report.checkpoint]
    checkpoint.restore()
    assert _state(sites) == before


def test_an_error_in_the_second_process_is_raised_here_and_nothing_is_written(sites, recorded, tmp_path):
    here = os.getpid()

    def disk_full(pid):
        if pid != here:
            raise UnsafeWrite("cannot write: No space left on device", "/state/x")

    recorded.then = disk_full
    before = _state(sites)
    with pytest.raises(UnsafeWrite, match="No space left") as err:
        patching.apply(patching.plan_all(sites), configtest=False)
    assert err.value.file == "/state/x"
    assert _state(sites) == before and not _leftovers(tmp_path)


def test_a_write_that_fails_before_any_rename_drops_the_checkpoint_made_meanwhile(sites, recorded, tmp_path,
                                                                                   monkeypatch):
    real, made = safewrite._write_temp, []

    def fail_late(p, *args):
        made.append(p)
        if len(made) == 5:
            raise UnsafeWrite("cannot write: Input/output error", p.target)
        real(p, *args)

    monkeypatch.setattr(safewrite, "_write_temp", fail_late)
    before = _state(sites)
    with pytest.raises(UnsafeWrite, match="Input/output error"):
        patching.apply(patching.plan_all(sites), configtest=False)
    assert _state(sites) == before
    assert recorded.pids_file.read_text().split() != [str(os.getpid())], "made, elsewhere, then dropped"
    assert not _leftovers(tmp_path)
