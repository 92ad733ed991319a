"""`make fixtures`: re-render the managed block in every fixture file that embeds one, from the
options its marker records, so fixtures follow the template (tests/test_fixtures_current.py
fails when one has drifted), the rendered block README.md shows, and apachemaint/known_digests.py's
table (the digests a check knows without rendering).  Prints the files it changed."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from apachemaint import block, known_digests, reader
from apachemaint.block import BlockOptions

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


# The options a check meets most: the defaults `patch` writes, and the health path the
# README's examples and `new` use.
COMMON = (BlockOptions(), BlockOptions(allow_paths=("/up",)))


def write_known_digests() -> bool:
    """Rewrite known_digests.py's SOURCES and DIGESTS from rendering; True if it changed."""
    path = Path(known_digests.__file__)
    text = path.read_text()
    head, _, rest = text.partition("SOURCES = ")
    _, _, tail = rest.partition("\n_current")
    table = "".join(f"    {repr(o)!r}: {block.digest(block.body_lines(o))!r},  # noqa: E501\n" for o in COMMON)
    new = (f"{head}SOURCES = {known_digests.sources_digest()!r}  # digest of the template and block.py the "
           "table was rendered from\n"
           f"DIGESTS: dict[str, str] = {{  # repr(BlockOptions) -> the body's digest\n{table}}}\n\n_current{tail}")
    if new != text:
        path.write_text(new)
        return True
    return False


def main() -> int:
    if write_known_digests():
        print(Path(known_digests.__file__).relative_to(ROOT))
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
