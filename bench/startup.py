"""Start-up: whole-process time of short commands, against the bare interpreter's start
measured in the same rounds (`python -c pass`), so the ratio shows what apachemaint adds.

The package's bytecode is compiled first, as `pip install` does for a user: a source tree
run with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every changed module on
every start (cli.py alone is 30 ms).

A one-file check asks whether the installed server includes the file; ``servercache``
keeps that answer, and pre-commit's steady state is a kept one: each check runs once before
the rounds (cache in the run's temp folder), and once more per round with the cache off, to
show what reading the installed server costs."""
from __future__ import annotations

import compileall
import os
import sys
import tempfile
from pathlib import Path

import apachemaint

from . import measure, tree

ONE_VHOST = "<VirtualHost *:80>\n    ServerName one.test\n    DocumentRoot /srv/one\n</VirtualHost>\n"


def main(rounds: int) -> str:
    compileall.compile_dir(Path(apachemaint.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory(prefix="apachemaint-startup-") as tmp:
        conf, patched = Path(tmp) / "one.conf", Path(tmp) / "patched.conf"
        conf.write_text(ONE_VHOST)
        patched.write_text(tree.patched_text(ONE_VHOST, str(patched)))
        env = {**os.environ, "APACHEMAINT_STATE_DIR": str(Path(tmp) / "state"),
               "APACHEMAINT_CACHE_DIR": str(Path(tmp) / "cache")}
        no_cache = {**env, "APACHEMAINT_CACHE_DIR": ""}
        # The console script, as pre-commit runs it (`python -m` adds runpy's own imports).
        script = Path(sys.executable).with_name("apachemaint")
        py, am = [sys.executable], [str(script)] if script.is_file() else [sys.executable, "-m", "apachemaint"]
        cmds = {
            "python -c pass": (py + ["-c", "pass"], env),
            "apachemaint --help": (am + ["--help"], env),
            "apachemaint status --docroot D": (am + ["status", "--docroot", tmp], env),
            "apachemaint check ONE.conf": (am + ["check", str(conf)], env),
            "apachemaint check PATCHED.conf": (am + ["check", str(patched)], env),
            "apachemaint check ONE.conf, cache off": (am + ["check", str(conf)], no_cache),
        }
        for cmd, cmd_env in cmds.values():  # the installed server's answer kept, as after pre-commit's first run
            measure.run(cmd, env=cmd_env)
        runs = measure.interleaved({k: (lambda c=c, e=e: measure.run(c, env=e)) for k, (c, e) in cmds.items()},
                                   rounds)
    base = measure.median([r.wall for r in runs["python -c pass"]])
    rows = []
    for name, rs in runs.items():
        wall = measure.median([r.wall for r in rs])
        rows.append([name, f"{wall * 1000:.0f}", f"{measure.median([r.cpu for r in rs]) * 1000:.0f}",
                     f"{measure.median([r.rss_mib for r in rs]):.0f}", f"{wall / base:.2f}x",
                     f"±{measure.spread([r.wall for r in rs]):.0%}"])
    return measure.table(("command", "wall ms", "cpu ms", "peak MiB", "ratio to python -c pass", "noise"), rows)
