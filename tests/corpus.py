"""Where the test suite finds config files to read: the project's own fixtures, and the
shared corpus of real-world configs when it is present (it is in CI, not in a user's clone)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED_CORPUS = Path(os.environ.get("APACHEMAINT_CORPUS", ROOT.parent / "shared" / "corpus"))


def _conf_files(top: Path) -> list[Path]:
    if not top.is_dir():
        return []
    return sorted(p for p in top.rglob("*") if p.is_file() and not p.is_symlink()
                  and p.suffix in (".conf", ".in", ".load", ".include") and "malformed" not in p.parts)


def fixture_files() -> list[Path]:
    return _conf_files(FIXTURES)


def corpus_files() -> list[Path]:
    return _conf_files(SHARED_CORPUS)


def corpus_params() -> list:
    files = corpus_files()
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"shared corpus not found at {SHARED_CORPUS} (only in the team checkout and CI)"))]
    return [pytest.param(p, id=str(p.relative_to(SHARED_CORPUS))) for p in files]


def fixture_params() -> list:
    return [pytest.param(p, id=str(p.relative_to(FIXTURES))) for p in fixture_files()]


def debian_tree(dest: Path, variant: str = "etc-apache2") -> Path:
    """A private copy of one of the fixture Debian trees (links kept), safe to patch."""
    tree = dest / variant
    shutil.copytree(FIXTURES / "debian" / variant, tree, symlinks=True)
    return tree
