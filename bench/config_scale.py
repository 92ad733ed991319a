"""Config scale: `apachemaint check --config MAIN` and `apachemaint patch` over N generated
vhost files, next to `apache2 -t -f MAIN` on the same tree, whole processes, interleaved.

`patch` is timed twice: with `--config MAIN` (what a user runs: it runs Apache's config test
before and after writing, so it contains two `apache2 -t` runs, the second on the larger
patched tree) and with `--no-configtest` (apachemaint's own share).  Every patch run starts
from a fresh copy of the unpatched files (the copy is not timed).

A second tree of the same size is patched and laid out as Debian does (sites-available,
links in sites-enabled, a stock install's server-level lines): `check --config` on it is
what CI runs every day, timed against `apache2 -t` on that very tree."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from apachemaint.httpd import find_binary

from . import measure, tree

COMMANDS = ("apache2 -t", "check --config", "patch --config", "patch --no-configtest", "patch --check")


def bench(count: int, rounds: int, workdir: Path, commands: tuple[str, ...] = COMMANDS) -> list[list[object]]:
    root = workdir / f"tree-{count}"
    main = tree.build(root, count)
    sites, pristine = root / "sites", root / "sites.orig"
    shutil.copytree(sites, pristine)
    state = root / "state"
    env = {**os.environ, "APACHEMAINT_STATE_DIR": str(state), "NO_COLOR": "1"}
    apache2 = find_binary()
    am = [sys.executable, "-m", "apachemaint"]
    # Relative names, run from sites/: 100k absolute paths would not fit in ARG_MAX.
    names = sorted(p.name for p in sites.iterdir())
    dirty, used = False, root / "used"
    used.mkdir()

    def fresh(name: str) -> None:
        # Patched files and checkpoints are moved aside, not deleted, until the end: ext4
        # scans recently freed inodes when it creates files, and 20,000 deletions right
        # before a patch made its file creation ~40 % slower, a cost no user run pays.
        nonlocal dirty
        if dirty:
            sites.rename(used / f"sites-{len(list(used.iterdir()))}")
            shutil.copytree(pristine, sites)
            dirty = False
        if state.exists():
            state.rename(used / f"state-{len(list(used.iterdir()))}")
        if name.startswith("patch") and name != "patch --check":
            dirty = True

    def in_sites(cmd: list[str]):
        return lambda: _run_in(cmd, sites, env)

    contenders = {
        "apache2 -t": lambda: measure.run([apache2, "-t", "-f", str(main)], env=env),
        "check --config": lambda: measure.run(am + ["check", "--config", str(main)], env=env),
        "patch --config": in_sites(am + ["patch", "--config", str(main), *names]),
        "patch --no-configtest": in_sites(am + ["patch", "--no-configtest", *names]),
        "patch --check": in_sites(am + ["patch", "--check", *names]),  # the plan alone: nothing written
    }
    contenders = {name: fn for name, fn in contenders.items() if name in commands}
    runs = measure.interleaved(contenders, rounds, prepare=fresh)
    fresh("")
    _sanity(runs, count)
    shutil.rmtree(root)
    return _rows(count, runs, commands)


def bench_patched(count: int, rounds: int, workdir: Path) -> list[list[object]]:
    """`check --config` and `apache2 -t` on a patched, Debian-layout tree of ``count`` vhosts."""
    root = workdir / f"patched-{count}"
    main = tree.build(root, count, debian=True, patched=True)
    env = {**os.environ, "APACHEMAINT_STATE_DIR": str(root / "state"), "NO_COLOR": "1"}
    contenders = {
        "apache2 -t": lambda: measure.run([find_binary(), "-t", "-f", str(main)], env=env),
        "check --config": lambda: measure.run([sys.executable, "-m", "apachemaint", "check", "--config",
                                               str(main)], env=env),
    }
    runs = measure.interleaved(contenders, rounds)
    _sanity(runs, count)
    shutil.rmtree(root)
    return _rows(count, runs, tuple(contenders), " (patched, Debian layout)")


def _rows(count: int, runs: dict[str, list[measure.Run]], commands: tuple[str, ...],
          tree_note: str = "") -> list[list[object]]:
    base = measure.median([r.wall for r in runs["apache2 -t"]])
    base_cpu = measure.median([r.cpu for r in runs["apache2 -t"]])
    base_rss = measure.median([r.rss_mib for r in runs["apache2 -t"]])
    rows = []
    for name in commands:
        rs = runs[name]
        wall, cpu = measure.median([r.wall for r in rs]), measure.median([r.cpu for r in rs])
        rss = measure.median([r.rss_mib for r in rs])
        rows.append([count, name + tree_note, wall, cpu, rss, f"{wall / base:.2f}x", f"{cpu / base_cpu:.2f}x",
                     f"{rss / base_rss:.2f}x", f"±{measure.spread([r.wall for r in rs]):.0%}"])
    return rows


def _run_in(cmd: list[str], cwd: Path, env: dict) -> measure.Run:
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return measure.run(cmd, env=env)
    finally:
        os.chdir(here)


def _sanity(runs: dict[str, list[measure.Run]], count: int) -> None:
    # check exits 1 (every vhost lacks the block); the others 0.  Anything else is a broken bench.
    expected = {"apache2 -t": {0}, "check --config": {0, 1}, "patch --config": {0}, "patch --no-configtest": {0},
                "patch --check": {1}}
    for name, rs in runs.items():
        codes = {r.code for r in rs}
        if not codes <= expected[name]:
            raise SystemExit(f"bench: {name} at {count} vhosts exited {sorted(codes)}")


HEADERS = ("vhosts", "command", "wall s", "cpu s", "peak MiB", "wall/apache2 -t", "cpu/apache2 -t", "mem/apache2 -t",
           "noise")


def main(sizes: list[int], rounds: int, commands: tuple[str, ...] = COMMANDS) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="apachemaint-bench-") as tmp:
        for n in sizes:
            print(f"  config scale: {n} vhosts x {rounds} rounds ...", file=sys.stderr, flush=True)
            rows += bench(n, rounds, Path(tmp), commands)
            print(f"  config scale: {n} vhosts, patched Debian tree x {rounds} rounds ...", file=sys.stderr, flush=True)
            rows += bench_patched(n, rounds, Path(tmp))
    return measure.table(HEADERS, rows)
