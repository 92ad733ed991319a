"""certbot's Apache plugin as a peer: its parser (python-augeas over Augeas' httpd lens) and
its vhost discovery, on the tree `check --config` reads, as one whole process each.

Run as ``python -m bench.certbot_peer MAIN APACHE2 N``: it does what ``certbot --apache`` does before it
can name a vhost (``ApacheConfigurator.get_parser()``, which also asks ``apache2 -t -D
DUMP_RUN_CFG / DUMP_INCLUDES / DUMP_MODULES`` of that server, then ``get_virtual_hosts()``)
and prints how many vhosts it found (exit 3 unless N).  The rest of ``prepare()`` (a config test, the reverter's
recovery, its TLS options file, a lock) is left out: it is not reading.

certbot-apache is an optional bench dependency (`make bench` installs it, with libaugeas);
where it cannot be imported the row is skipped with the reason."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

from apachemaint.httpd import find_binary

from . import measure, tree

# A round at 10k takes certbot minutes (its discovery grows with the square of the vhosts):
# rounds stop once its runs at one size add up to this, after at least one.
BUDGET_S = 240.0


def _configurator() -> type:
    import augeas  # noqa: F401  (python-augeas: loads libaugeas0, fails here when it is missing)

    try:  # certbot >= 5 holds the plugin's code; certbot-apache is its entry point
        from certbot._internal.plugins.apache.configurator import ApacheConfigurator
    except ImportError:
        from certbot_apache._internal.configurator import ApacheConfigurator
    return ApacheConfigurator


def missing() -> Optional[str]:
    """Why the peer cannot run here, or None."""
    try:
        _configurator()
    except (ImportError, OSError) as exc:
        return f"certbot-apache not usable ({type(exc).__name__}: {exc}); `make bench` installs it with libaugeas"
    return None


def discover(main: Path, apache2: str) -> int:
    """certbot's vhost list for the server whose main config is ``main``; its length."""
    ApacheConfigurator = _configurator()  # noqa: N806 (a class)

    with tempfile.TemporaryDirectory(prefix="certbot-peer-") as tmp:
        # The options certbot's command line would give (``--apache-server-root`` ...); the
        # rest only name certbot's own folders, which discovery never writes.
        config = SimpleNamespace(
            apache_server_root=str(main.parent), apache_vhost_root=None, apache_ctl=apache2, apache_bin=apache2,
            apache_enmod=None, apache_dismod=None, apache_le_vhost_ext="-le-ssl.conf",
            apache_logs_root=str(main.parent / "logs"), apache_challenge_location=str(main.parent),
            apache_handle_modules=False, apache_handle_sites=False,
            config_dir=tmp, work_dir=tmp, logs_dir=tmp, backup_dir=f"{tmp}/backups",
            temp_checkpoint_dir=f"{tmp}/temp", in_progress_dir=f"{tmp}/progress", strict_permissions=False)
        conf = ApacheConfigurator(config, name="apache", version=(2, 4))
        conf._prepare_options()
        # certbot finds the main config by name under the server root; its ``-D DUMP_*`` runs
        # must read that same file, not the distribution's.
        base = [apache2, "-f", str(main), "-t", "-D"]
        conf.options.get_defines_cmd = base + ["DUMP_RUN_CFG"]
        conf.options.get_includes_cmd = base + ["DUMP_INCLUDES"]
        conf.options.get_modules_cmd = base + ["DUMP_MODULES"]
        conf.parser = conf.get_parser()
        conf.parser.check_parsing_errors("httpd.aug")
        return len(conf.get_virtual_hosts())


def bench(count: int, rounds: int, workdir: Path) -> list[object]:
    root = workdir / f"peer-{count}"
    main = tree.build(root, count)
    env = {**os.environ, "APACHEMAINT_STATE_DIR": str(root / "state"), "NO_COLOR": "1"}
    ours = [sys.executable, "-m", "apachemaint", "check", "--config", str(main)]
    theirs = [sys.executable, "-m", "bench.certbot_peer", str(main), find_binary(), str(count)]
    runs: dict[str, list[measure.Run]] = {"check": [], "certbot": []}
    for r in range(rounds):
        for name in (("check", "certbot") if r % 2 == 0 else ("certbot", "check")):
            runs[name].append(measure.run(ours if name == "check" else theirs, env=env, timeout=1800))
        if sum(x.wall for x in runs["certbot"]) > BUDGET_S:
            break
    bad = {r.code for r in runs["certbot"]} - {0} or {r.code for r in runs["check"]} - {0, 1}
    if bad:
        raise SystemExit(f"bench: certbot peer at {count} vhosts: a run exited {sorted(bad)}")
    shutil.rmtree(root)
    med = {k: (measure.median([x.wall for x in v]), measure.median([x.cpu for x in v]),
               measure.median([x.rss_mib for x in v])) for k, v in runs.items()}
    (cw, cc, cm), (tw, tc, tm) = med["check"], med["certbot"]
    return [count, len(runs["check"]), cw, cc, cm, tw, tc, tm, f"{tw / cw:.1f}x", f"{tc / cc:.1f}x",
            f"±{measure.spread([x.wall for x in runs['certbot']]):.0%}"]


HEADERS = ("vhosts", "rounds", "check wall s", "check cpu s", "check MiB", "certbot wall s", "certbot cpu s",
           "certbot MiB", "certbot/check wall", "certbot/check cpu", "certbot noise")


def main(sizes: list[int], rounds: int) -> str:
    why = missing()
    if why:
        return f"skipped: {why}"
    with tempfile.TemporaryDirectory(prefix="apachemaint-peer-") as tmp:
        rows = []
        for n in sizes:
            print(f"  certbot peer: {n} vhosts, up to {rounds} rounds ...", file=sys.stderr, flush=True)
            rows.append(bench(n, rounds, Path(tmp)))
    return measure.table(HEADERS, rows)


if __name__ == "__main__":
    found = discover(Path(sys.argv[1]).resolve(), sys.argv[2])
    print(found)
    sys.exit(0 if found == int(sys.argv[3]) else 3)  # not the vhosts the tree has: a broken peer
