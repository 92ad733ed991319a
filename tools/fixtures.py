"""`make fixtures`: re-render the managed block in every fixture file that embeds one, from the
options its marker records, so fixtures follow the template (tests/test_fixtures_current.py
fails when one has drifted), and the rendered block README.md shows.  Prints the files it
changed."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from apachemaint import block, reader

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("fixtures",)
README = ROOT / "README.md"
# The README's example block: a fenced apache snippet holding just the block.
_SHOWN = re.compile(r"(```apache\n)(# BEGIN apachemaint .*?\n# END apachemaint[^\n]*\n)(```)", re.S)
_FRAME = ("<VirtualHost *:80>\n", "</VirtualHost>\n")


def fixture_files() -> list[Path]:
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not path.is_symlink() and block.BEGIN.encode() in path.read_bytes():
                found.append(path)
    return found


def readme(text: str) -> str:
    """README's text with its example block as the template renders it today."""
    def again(m: re.Match) -> str:
        framed = block.refresh(reader.parse(_FRAME[0] + m.group(2) + _FRAME[1]))
        return m.group(1) + framed[len(_FRAME[0]):-len(_FRAME[1])] + m.group(3)

    return _SHOWN.sub(again, text)


def main() -> int:
    for path in fixture_files():
        cf = reader.read(path)
        new = cf.to_bytes(block.refresh(cf))
        if new != path.read_bytes():
            path.write_bytes(new)
            print(path.relative_to(ROOT))
    text = README.read_text(encoding="utf-8")
    if readme(text) != text:
        README.write_text(readme(text), encoding="utf-8")
        print(README.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
