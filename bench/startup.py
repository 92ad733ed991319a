"""Start-up: whole-process time of short commands, against the bare interpreter's start
measured in the same rounds (`python -c pass`), so the ratio shows what apachemaint adds.

The package's bytecode is compiled first, as `pip install` does for a user: a source tree
run with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every changed module on
every start (cli.py alone is 30 ms)."""
from __future__ import annotations

import compileall
import os
import sys
import tempfile
from pathlib import Path

import apachemaint

from . import measure

ONE_VHOST = "<VirtualHost *:80>\n    ServerName one.test\n    DocumentRoot /srv/one\n</VirtualHost>\n"


def main(rounds: int) -> str:
    compileall.compile_dir(Path(apachemaint.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="apachemaint-startup-") as tmp:
        conf = Path(tmp) / "one.conf"
        conf.write_text(ONE_VHOST)
        env = {**os.environ, "APACHEMAINT_STATE_DIR": str(Path(tmp) / "state")}
        py, am = [sys.executable], [sys.executable, "-m", "apachemaint"]
        cmds = {
            "python -c pass": py + ["-c", "pass"],
            "apachemaint --help": am + ["--help"],
            "apachemaint status --docroot D": am + ["status", "--docroot", tmp],
            "apachemaint check ONE.conf": am + ["check", str(conf)],
        }
        runs = measure.interleaved({k: (lambda c=c: measure.run(c, env=env)) for k, c in cmds.items()}, rounds)
    base = measure.median([r.wall for r in runs["python -c pass"]])
    rows = []
    for name, rs in runs.items():
        wall = measure.median([r.wall for r in rs])
        rows.append([name, f"{wall * 1000:.0f}", f"{measure.median([r.cpu for r in rs]) * 1000:.0f}",
                     f"{measure.median([r.rss_mib for r in rs]):.0f}", f"{wall / base:.2f}x",
                     f"±{measure.spread([r.wall for r in rs]):.0%}"])
    return measure.table(("command", "wall ms", "cpu ms", "peak MiB", "ratio to python -c pass", "noise"), rows)
