"""`make bench`: apachemaint check over a tree of N vhost files, against `apache2 -t` on the
very same tree (the issue's yardstick).  Median of a few interleaved runs each.

    python bench/check_scale.py [N] [RUNS]
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from apachemaint import block, check
from apachemaint.block import BlockOptions
from apachemaint.httpd import LoopbackApache, find_binary


def make_tree(root: Path, n: int) -> Path:
    sites, www = root / "sites", root / "www"
    sites.mkdir(parents=True)
    www.mkdir()
    blk = block.render(BlockOptions(allow_paths=("/up",)), indent="    ")
    for i in range(n):
        (sites / f"site{i:05}.conf").write_text(
            f"<VirtualHost *:80>\n{blk}    ServerName s{i}.example.com\n    DocumentRoot {www}\n"
            f"    <Directory {www}>\n        Require all granted\n    </Directory>\n"
            f"    ProxyPass / http://127.0.0.1:{3000 + i % 1000}/\n</VirtualHost>\n")
    return LoopbackApache(root / "server", [sites / "*.conf"]).write_config()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    binary = find_binary()
    with tempfile.TemporaryDirectory(prefix="apachemaint-bench-") as tmp:
        conf = make_tree(Path(tmp), n)

        def lint() -> None:
            found = check.check_server(conf)
            assert not found, found[:3]

        def apache_t() -> None:
            done = subprocess.run([binary, "-t", "-f", str(conf)], capture_output=True, check=False)
            assert done.returncode == 0, done.stderr.decode()

        ours, theirs = [], []
        for _ in range(runs):  # interleaved, so both see the same machine load
            ours.append(timed(lint))
            if binary:
                theirs.append(timed(apache_t))
    print(f"{n} vhost files, median of {runs} runs")
    mine = statistics.median(ours)
    print(f"  apachemaint check --config : {mine:6.2f} s  ({n / mine:,.0f} files/s)")
    if theirs:
        t = statistics.median(theirs)
        print(f"  apache2 -t                 : {t:6.2f} s  (check / apache2 -t = {statistics.median(ours) / t:.2f})")
    else:
        print("  apache2 -t                 : not installed")


if __name__ == "__main__":
    main()
