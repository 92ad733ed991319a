"""`python -m bench` (`make bench`): every benchmark, one table each, baselines in the same run.

    python -m bench                      # config 1k,10k; certbot peer 1k,3k,10k; requests; start-up
    python -m bench --sizes 1000,10000,100000 --rounds 5
    python -m bench --only requests --explain
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone

from . import certbot_peer, config_scale, requests, startup


def _machine() -> str:
    with open("/proc/cpuinfo") as fh:
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?")
    apache = subprocess.run(["apache2", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    load = os.getloadavg()
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} x {cpu}; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}; {apache}; "
            f"load average at start {load[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="config,peer,requests,startup",
                    help="comma list of config, peer (certbot-apache's parser), requests, startup")
    ap.add_argument("--sizes", default="1000,10000", help="vhost counts for the config bench (100000 takes minutes)")
    ap.add_argument("--peer-sizes", default="1000,3000,10000", help="vhost counts for the certbot peer")
    ap.add_argument("--check-only", action="store_true",
                    help="config bench: only check --config and apache2 -t (a 100k point in minutes)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are over these (>= 5)")
    ap.add_argument("--seconds", type=int, default=3, help="length of one wrk run")
    ap.add_argument("--explain", action="store_true", help="also time the block's parts, to see where the cost goes")
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"machine: {_machine()}")
    print(f"rounds: {args.rounds}, interleaved; figures are medians, ratios against the baseline of the same run;"
          " noise = half the min-max range over the median\n")
    started = time.monotonic()
    if "config" in only:
        print("## config scale (whole processes)\n")
        commands = config_scale.COMMANDS[:2] if args.check_only else config_scale.COMMANDS
        print(config_scale.main([int(s) for s in args.sizes.split(",")], args.rounds, commands), "\n", flush=True)
    if "peer" in only:
        print("## certbot-apache's parser and vhost discovery against check --config (whole processes)\n")
        print(certbot_peer.main([int(s) for s in args.peer_sizes.split(",")], args.rounds), "\n", flush=True)
    if "requests" in only:
        print("## request cost (wrk on 127.0.0.1, 1 thread, 16 connections)\n")
        print(requests.main(args.rounds, args.seconds, args.explain), "\n", flush=True)
    if "startup" in only:
        print("## start-up (whole process)\n")
        print(startup.main(max(args.rounds, 10)), "\n", flush=True)
    print(f"done in {time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
