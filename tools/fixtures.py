"""`make fixtures`: re-render the managed block in every fixture file that embeds one, from the
options its marker records, so fixtures follow the template (tests/test_fixtures_current.py
fails when one has drifted).  Prints the files it changed."""
from __future__ import annotations

import sys
from pathlib import Path

from apachemaint import block, reader

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("fixtures",)


def fixture_files() -> list[Path]:
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not path.is_symlink() and block.BEGIN.encode() in path.read_bytes():
                found.append(path)
    return found


def main() -> int:
    for path in fixture_files():
        cf = reader.read(path)
        new = cf.to_bytes(block.refresh(cf))
        if new != path.read_bytes():
            path.write_bytes(new)
            print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
