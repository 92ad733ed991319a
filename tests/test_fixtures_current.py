"""Fixture files that embed a rendered block hold what the template renders today for the
options their marker records (`make fixtures` re-renders them)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from apachemaint import block, reader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import fixtures as regen  # noqa: E402

FILES = regen.fixture_files()


def test_there_are_fixtures_with_a_block():
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(regen.ROOT)))
def test_fixture_block_matches_the_template(path: Path):
    cf = reader.read(path)
    assert block.refresh(cf) == cf.text, f"{path} drifted from the template: run `make fixtures`"


def test_the_readme_shows_the_block_the_template_renders():
    text = regen.README.read_text(encoding="utf-8")
    assert regen._SHOWN.search(text), "README has no example block"
    assert regen.readme(text) == text, "README's example block drifted from the template: run `make fixtures`"
