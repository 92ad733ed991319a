"""Instructions and system calls per request, for the variants of bench/requests.py.

    python -m bench.instructions [--requests 1000] [--strace]

Each variant's Apache runs alone as ``apache2 -X`` (one process, prefork: the counts repeat
to about +-30 instructions) under ``valgrind --tool=callgrind`` (or ``strace -f``), as the
user its workers would be, and gets ``--requests`` curl requests after 200 of warm-up; the
figure is (total - total after the warm-up alone) / requests, so start-up and the first
requests' file opening cancel out.  User-space instructions are what the block adds; wrk's
requests/s on a shared VM is too noisy to see a few percent.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import measure
from . import requests as rq

WARM_UP = 200
USER = "www-data"


def _variants() -> list[tuple]:
    block = rq._parts()["block"]
    return [("plain", None, False), ("block, off", block, False), ("block, on", block, True),
            ("apache 503", rq.APACHE_503, False, "apache503.html")]


def _run(v: rq.Variant, n: int, out: Path, strace: bool) -> None:
    conf = v.apache.write_config()
    # As the workers' user: callgrind's output file, opened before Apache drops root,
    # could not be written after.
    as_user = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups"]
    tool = ["strace", "-f", "-o", str(out)] if strace else ["valgrind", "--tool=callgrind",
                                                             f"--callgrind-out-file={out}"]
    cmd = (tool + as_user if strace else as_user + tool) + [v.apache.binary, "-X", "-f", str(conf)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection((v.apache.host, v.apache.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{v.name}: Apache did not start under {cmd[0]}") from None
                time.sleep(0.2)
        url = v.apache.url(rq._path(v, "/index.html")) + f"?[1-{n}]"
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Host: static.test", url], check=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)


def _instructions(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def _syscalls(out: Path) -> Counter:
    return Counter(m.group(1) for m in re.finditer(r"^\d+\s+(\w+)\(", out.read_text(), re.M))


def main(requests: int, strace: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="apachemaint-cg-") as tmp:
        work = Path(tmp)
        vs = [rq.Variant(name, work, "static.conf", body, on, {}, *rest) for name, body, on, *rest in _variants()]
        for v in vs:
            v.apache.modules = tuple("mpm_prefork" if m == "mpm_event" else m for m in v.apache.modules)
            v.apache.write_config()
            if v.on:
                v.window(True)
        rq._copy_page(vs)
        subprocess.run(["chown", "-R", f"{USER}:{USER}", str(work)], check=True)
        rows = []
        for v in vs:
            counts = []
            for n in (WARM_UP, WARM_UP + requests):
                out = work / f"out-{len(rows)}-{n}"
                _run(v, n, out, strace)
                counts.append(_syscalls(out) if strace else _instructions(out))
            if strace:
                per = {k: (counts[1][k] - counts[0][k]) / requests for k in counts[1]}
                rows.append([v.name, ", ".join(f"{k} {x:.1f}" for k, x in sorted(per.items()) if x >= 0.05)])
            else:
                rows.append([v.name, f"{(counts[1] - counts[0]) / requests:,.0f}"])
        for v in vs:
            if v.on:
                v.window(False)
    return measure.table(("variant", "system calls / request" if strace else "instructions / request"), rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--strace", action="store_true", help="count system calls instead of instructions")
    args = ap.parse_args()
    print(main(args.requests, args.strace))
