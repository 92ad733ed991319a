"""The request benches put their variants down with a state folder of their own: a bench run
must not write the machine's audit log or checkpoints (/var/lib/apachemaint for root)."""
from __future__ import annotations

from apachemaint import audit
from bench import requests as rq


def test_a_bench_window_keeps_its_record_in_its_own_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("APACHEMAINT_STATE_DIR")  # as `make bench` runs: no test sets one
    variant = rq.Variant("block, on", tmp_path, "static.conf", None, True, {})
    variant.window(True)
    variant.window(False)
    log = variant.state / audit.LOG
    assert [line.count('"event"') for line in log.read_text().splitlines()] == [1, 1]
