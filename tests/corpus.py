"""Where the test suite finds config files to read: the project's own fixtures, and the
shared corpus of real-world configs when it is present (it is in CI, not in a user's clone)."""
from __future__ import annotations

import os
import re
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


def copy_tree(src: Path, dest: Path) -> Path:
    """A private copy of a fixture tree, links kept.  An sdist cannot hold links (setuptools
    stores each as a copy of its target), so a `*-enabled/NAME` that is a plain file with the
    same bytes as `../*-available/NAME` is made the link a2ensite makes again: every link in
    the fixtures is one of those (tests/test_packaging.py checks it)."""
    shutil.copytree(src, dest, symlinks=True)
    for enabled in dest.rglob("*-enabled"):
        available = enabled.with_name(enabled.name[:-len("enabled")] + "available")
        for copy in enabled.iterdir():
            target = available / copy.name
            if (copy.is_file() and not copy.is_symlink() and target.is_file()
                    and copy.read_bytes() == target.read_bytes()):
                copy.unlink()
                copy.symlink_to(Path("..") / available.name / copy.name)
    return dest


def debian_tree(dest: Path, variant: str = "etc-apache2") -> Path:
    """A private copy of one of the fixture Debian trees (links kept), safe to patch."""
    return copy_tree(FIXTURES / "debian" / variant, dest / variant)


def layout_root(dest: Path, platform: str) -> Path:
    """A private copy of fixtures/layouts/PLATFORM, a machine's ``/`` in miniature, for
    APACHEMAINT_ROOT.  The configs in it name absolute paths as that platform does; here
    the ones under the platform's config folder and ServerRoot are moved under the copy,
    as a chroot would see them, so following their Includes reads the copy."""
    from apachemaint import layouts

    root = copy_tree(FIXTURES / "layouts" / platform, dest / platform)
    record = layouts.by_name(platform)
    prefixes = sorted({str(record.base), str(record.server_root)}, key=len, reverse=True)
    moved = re.compile(r'(?<=[\s"])(?:' + "|".join(map(re.escape, prefixes)) + r')(?=[/"\s])')
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.suffix in (".conf", ".include"):
            text = path.read_text()
            text = moved.sub(lambda m: str(root) + m.group(0), text)
            path.write_text(text)
    return root
