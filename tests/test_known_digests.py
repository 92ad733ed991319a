"""The block digests a check knows without rendering: right whenever they are used, unused
as soon as the template or block.py has changed since `make fixtures` wrote them."""
from __future__ import annotations

import subprocess
import sys

import pytest
from corpus import FIXTURES

from apachemaint import block, known_digests
from apachemaint.block import BlockOptions


def _current() -> bool:
    return known_digests.sources_digest() == known_digests.SOURCES


def test_every_known_digest_is_what_rendering_gives_or_is_not_used():
    assert known_digests.DIGESTS, "make fixtures writes the table"
    for key in known_digests.DIGESTS:
        options = eval(key, {"BlockOptions": BlockOptions})  # the table's keys are reprs
        rendered = block.digest(block.body_lines(options))
        assert known_digests.known(options) == (rendered if _current() else None)


def test_a_changed_source_leaves_the_table_unused(monkeypatch):
    monkeypatch.setattr(known_digests, "_current", ["not the sources the table was made from"])
    assert known_digests.known(BlockOptions()) is None
    assert known_digests.known(BlockOptions(retry_after=77)) is None  # and options it never had


@pytest.mark.parametrize("fixture", ["AM009.vhost"])  # a patched vhost with the default options
def test_a_patched_file_is_checked_without_jinja2_while_the_table_is_current(tmp_path, fixture):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "apachemaint", "check",
                           str(FIXTURES / "rules" / fixture)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert "AM009" in done.stdout and "AM001" not in done.stdout and "AM003" not in done.stdout
    imported = {ln.rsplit("|", 1)[-1].strip().split(".")[0] for ln in done.stderr.splitlines() if "|" in ln}
    assert ("jinja2" in imported) is not _current()
