"""How the benchmarks time things: one process at a time, its own wall time, CPU time and
peak memory (from wait4, so one process's numbers never mix with another's), and medians
of interleaved rounds so that slow drift on a shared machine hits every contender alike."""
from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and the children it waited for
    rss_mib: float  # peak resident set of the largest process in the tree
    code: int


# The command runs as the grandchild of this process, started by a bare interpreter that
# reports its wait4() figures: Linux counts the memory of the process a program replaces
# (exec) in its peak, and a child of this benchmark would start from the benchmark's own
# peak (hundreds of MiB after the config scale) instead of from the launcher's (~8 MiB,
# the smallest figure this can report).
_LAUNCHER = """
import os, sys, time
deadline = float(sys.argv[1])
null = os.open(os.devnull, os.O_RDWR)
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ, file_actions=[
    (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
while True:
    got, status, usage = os.wait4(pid, os.WNOHANG)
    if got:
        break
    if time.perf_counter() - start > deadline:
        os.kill(pid, 9)
        got, status, usage = os.wait4(pid, 0)
        break
    time.sleep(0.002)
wall = time.perf_counter() - start
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run(cmd: Sequence[str], *, env: dict | None = None, timeout: float = 600.0) -> Run:
    """Run ``cmd`` to its end (killed after ``timeout``); its output is discarded."""
    done = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(timeout), *cmd], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
    wall, cpu, rss_kib, code = done.stdout.split()
    return Run(float(wall), float(cpu), int(rss_kib) / 1024, int(code))  # ru_maxrss is KiB on Linux


def interleaved(contenders: dict[str, Callable[[], Run]], rounds: int,
                prepare: Callable[[str], None] | None = None) -> dict[str, list[Run]]:
    """``rounds`` rounds; in each, every contender once, in an order rotated per round."""
    names = list(contenders)
    out: dict[str, list[Run]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if prepare:
                prepare(name)
            out[name].append(contenders[name]())
    return out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> float:
    """Half the min-max range relative to the median: a plain noise figure for the table."""
    m = statistics.median(values)
    return (max(values) - min(values)) / 2 / m if m else 0.0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)
