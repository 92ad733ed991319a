"""Regenerate README.md's rule table from the rules' docstrings (``make docs``);
``--check`` exits 1 when README.md is out of date instead of writing it."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apachemaint import ruledoc  # noqa: E402
from apachemaint.safewrite import write_atomic  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = ruledoc.splice(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md's rule table is out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        write_atomic(README, wanted.encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
