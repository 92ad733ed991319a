"""How the benchmarks time things: one child process at a time, its own wall time, CPU time
and peak memory (from wait4, so one child's numbers never mix with another's), and medians
of interleaved rounds so that slow drift on a shared machine hits every contender alike."""
from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and the children it waited for
    rss_mib: float  # peak resident set of the largest process in the tree
    code: int


def run(cmd: Sequence[str], *, env: dict | None = None, timeout: float = 600.0) -> Run:
    """Run ``cmd`` to its end; stdout and stderr are discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.002)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    # ru_maxrss is in KiB on Linux.
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)


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
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)
