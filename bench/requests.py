"""Request cost of the managed block: wrk against real Apaches on 127.0.0.1.

One Apache per variant, all started up front with the same modules and MPM settings, each
with its own DocumentRoot; then rounds of bounded wrk runs, one per variant per round, in
a rotated order, same threads and connections.  Requests/s are reported as medians and as
ratios to the unpatched vhost measured in the same rounds.

Variants for the small static file (fixtures/served/static.conf):
  plain            the vhost as the user wrote it (the baseline)
  plain, again     the very same vhost in a second Apache: its "cost" is the bench's own noise
  block, off       the current managed block, no flag: the cost every production request pays
  block, on        maintenance on (`down`): every request a 503 with the page
  apache 503       Apache's own cheapest 503 (the yardstick for "block, on"): `RewriteRule ^ -
                   [R=503]` and `ErrorDocument 503` of a static copy of the page, same bytes
  static page 200  the page itself served as a static 200 (what a 503 costs over a 200)
and the same vhost again with every request sent ``Connection: close`` (plain, block off,
block on, apache 503): a new TCP connection per request, as clients that do not keep
connections alive pay it.  A 503 makes Apache drop keep-alive anyway (it closes the
connection after every 503), so "block, on" and "apache 503" pay a connection per request in
both tables, and only the 200s differ between them;
and, with ``explain``, the block taken apart, to see where the cost goes:
  flag test        the block's SetEnvIfExpr alone (the one stat() of the flag per request)
  <If> part        the block's <If> alone (walked per request, its expression a table lookup)
  engine only      just `RewriteEngine On`, as a vhost with rewrite rules of its own has it
  rules, engine on the block's rewrite rules behind `RewriteEngine On`: against "engine only",
                   what the block costs such a vhost (its guard rule skips the others)
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from apachemaint import block, maintenance
from apachemaint.httpd import LoopbackApache

from . import measure

ROOT = Path(__file__).resolve().parent.parent
SERVED = ROOT / "fixtures" / "served"
SMALL = b"<!doctype html><title>ok</title><p>a small static file</p>\n"


def _with_block(conf_text: str, body: str) -> str:
    """``conf_text`` with ``body`` right after its <VirtualHost ...> line, indented."""
    lines = conf_text.splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if ln.lstrip().lower().startswith("<virtualhost"))
    inserted = "".join(f"    {ln}\n" for ln in body.splitlines())
    return "".join(lines[:at + 1]) + inserted + "".join(lines[at + 1:])


# The cheapest way Apache itself answers every request with a 503 and a page: one rule, and
# a condition that keeps the ErrorDocument's own internal request out of it (without it the
# ErrorDocument would 503 too, and Apache sends its bare body).
APACHE_503 = ("RewriteEngine On\nRewriteCond %{ENV:REDIRECT_STATUS} ^$\nRewriteRule ^ - [R=503]\n"
              "ErrorDocument 503 /apache503.html\n")


def _parts() -> dict[str, str]:
    full = block.render(block.BlockOptions())
    body = full.splitlines()[1:-1]
    at_if = next(i for i, ln in enumerate(body) if ln.startswith("<If"))
    after_if = next(i for i, ln in enumerate(body) if ln.startswith("</If>")) + 1
    at_rules = next(i for i, ln in enumerate(body) if ln.startswith("Rewrite") and i >= after_if)
    return {
        "block": full,
        "flag test": "\n".join(body[:at_if]) + "\n",
        "<If> part": "\n".join(body[at_if:after_if]) + "\n",
        "engine only": "RewriteEngine On\n",
        "rules, engine on": "RewriteEngine On\n" + "\n".join(body[at_rules:]) + "\n",
    }


class Variant:
    def __init__(self, name: str, work: Path, fixture: str, body: str | None, on: bool, defines: dict,
                 page_as: str | None = None):
        self.name = name
        self.page_as = page_as  # where a copy of the maintenance page goes, and the path asked for
        top = work / re.sub(r"\W+", "-", name).strip("-")
        self.docroot = top / "www"
        self.state = top / "state"
        (self.docroot / "assets").mkdir(parents=True)
        (self.docroot / "index.html").write_bytes(SMALL)
        text = (SERVED / fixture).read_text()
        conf = top / "site.conf"
        conf.write_text(_with_block(text, body) if body else text)
        for p in [top, self.docroot, *self.docroot.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        self.apache = LoopbackApache(top / "apache", [conf], defines={**defines, "DOCROOT": str(self.docroot)})
        self.on = on

    def start(self) -> None:
        # Started pinned, so that every process and thread it ever makes inherits the pin
        # (pinning after the start raced with the first workers' fork: one unpinned worker
        # gave its variant a second CPU and 1.39x the requests/s).
        mine = os.sched_getaffinity(0)
        os.sched_setaffinity(0, APACHE_CPUS)
        try:
            self.apache.start()
        finally:
            os.sched_setaffinity(0, mine)
        if self.on:
            self.window(True)

    def stop(self) -> None:
        if self.on:
            self.window(False)
        self.apache.stop()

    def window(self, on: bool) -> None:
        """Put the variant down (or up) with a state folder of its own: the bench's windows
        are not the machine's, and its audit log in /var/lib/apachemaint would say they were."""
        os.environ["APACHEMAINT_STATE_DIR"] = str(self.state)
        targets = maintenance.from_docroot(self.docroot)
        if on:
            maintenance.down(targets, reason="bench")
        else:
            maintenance.up(targets, grace=0)


# wrk on the first CPU, every Apache on the others: left to the scheduler, the two moved
# between CPUs and the same vhost measured twice differed by up to 20 % in requests/s.
CPUS = sorted(os.sched_getaffinity(0))
WRK_CPUS, APACHE_CPUS = set(CPUS[:1]), set(CPUS[1:] or CPUS)


def apache_cpu(apache: LoopbackApache) -> float:
    """CPU seconds used so far by the Apache process group (parent and worker processes).
    Less sensitive than requests/s to other load on a shared machine."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == apache.pid:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def wrk(url: str, host: str, seconds: float, connections: int, threads: int,
        close: bool = False) -> tuple[float, int]:
    extra = ["-H", "Connection: close"] if close else []
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-H", f"Host: {host}",
                          *extra, url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, WRK_CPUS)).stdout
    m = _NON2XX.search(out)
    return float(_RPS.search(out).group(1)), int(m.group(1)) if m else 0


def bench(fixture: str, host: str, path: str, variants: list[tuple[str, str | None, bool]], *,
          rounds: int, seconds: float, connections: int, threads: int, defines: dict,
          close: bool = False) -> list[list[object]]:
    label = f"{fixture} {path}" + (", Connection: close" if close else "")
    with tempfile.TemporaryDirectory(prefix="apachemaint-wrk-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # Apache's workers run as www-data
        vs = [Variant(n, work, fixture, body, on, defines, *rest) for n, body, on, *rest in variants]
        try:
            for v in vs:
                v.start()
            _copy_page(vs)
            for v in vs:  # warm up: first requests open files, fill caches
                wrk(v.apache.url(_path(v, path)), host, 1, connections, threads, close)
            rps: dict[str, list[float]] = {v.name: [] for v in vs}
            cpu_us: dict[str, list[float]] = {v.name: [] for v in vs}
            non2xx: dict[str, int] = {v.name: 0 for v in vs}
            for r in range(rounds):
                order = vs[r % len(vs):] + vs[:r % len(vs)]
                for v in order:
                    before = apache_cpu(v.apache)
                    value, bad = wrk(v.apache.url(_path(v, path)), host, seconds, connections, threads, close)
                    used = apache_cpu(v.apache) - before
                    rps[v.name].append(value)
                    cpu_us[v.name].append(used / (value * seconds) * 1e6)
                    non2xx[v.name] += bad
                    time.sleep(0.2)
        finally:
            for v in vs:
                v.stop()
    base = measure.median(rps[vs[0].name])
    base_cpu = measure.median(cpu_us[vs[0].name])
    rows = []
    for v in vs:
        med = measure.median(rps[v.name])
        cpu = measure.median(cpu_us[v.name])
        rows.append([label, v.name, f"{med:,.0f}", f"{med / base:.3f}x",
                     f"{1 - med / base:+.1%}" if v is not vs[0] else "-",
                     f"±{measure.spread(rps[v.name]):.1%}", f"{cpu:.0f}", f"{cpu / base_cpu:.3f}x",
                     "yes" if non2xx[v.name] else "no"])
    for a, b in YARDSTICKS:  # one contender against another baseline, round by round
        if a in rps and b in rps:
            ratio = measure.median([x / y for x, y in zip(rps[a], rps[b])])
            cpu_ratio = measure.median([x / y for x, y in zip(cpu_us[a], cpu_us[b])])
            rows.append([label, f"{a} / {b}", "-", f"{ratio:.3f}x", f"{1 - ratio:+.1%}", "-", "-",
                         f"{cpu_ratio:.3f}x", "-"])
    return rows


# Ratios beside the table's (which are to "plain"): maintenance on against Apache's own 503
# and against a static 200 of the page.
YARDSTICKS = (("block, on", "apache 503"), ("block, on", "static page 200"), ("apache 503", "static page 200"))


def _path(v: Variant, path: str) -> str:
    return f"/{v.page_as}" if v.page_as == "page.html" else path


def _copy_page(vs: list[Variant]) -> None:
    """The page `down` wrote for the maintenance-on variant, copied byte for byte to the
    variants that serve it themselves (Apache's own 503, the static 200)."""
    wanting = [v for v in vs if v.page_as]
    on = next((v for v in vs if v.on), None)
    if not wanting or on is None:
        return
    page = (on.docroot / "system" / "maintenance.html").read_bytes()
    for v in wanting:
        target = v.docroot / v.page_as
        target.write_bytes(page)
        target.chmod(0o644)


HEADERS = ("vhost, path", "variant", "req/s", "req/s ratio", "cost", "noise", "Apache CPU us/req",
           "CPU ratio", "non-2xx")


def main(rounds: int, seconds: float, explain: bool, connections: int = 16, threads: int = 1) -> str:
    if shutil.which("wrk") is None:
        return "request cost: skipped (wrk not installed: apt-get install wrk)"
    parts = _parts()
    static = [("plain", None, False), ("plain, again", None, False), ("block, off", parts["block"], False),
              ("block, on", parts["block"], True), ("apache 503", APACHE_503, False, "apache503.html"),
              ("static page 200", None, False, "page.html")]
    if explain:
        static += [(name, parts[name], False)
                   for name in ("flag test", "<If> part", "engine only", "rules, engine on")]
    kw = {"rounds": rounds, "seconds": seconds, "connections": connections, "threads": threads}
    print(f"  request cost: static file, {len(static)} variants x {rounds} rounds x {seconds:g} s ...",
          file=sys.stderr, flush=True)
    rows = bench("static.conf", "static.test", "/index.html", static, defines={}, **kw)
    closing = [v for v in static if v[0] in ("plain", "block, off", "block, on", "apache 503")]
    print(f"  request cost: static file, Connection: close, {len(closing)} variants x {rounds} rounds x "
          f"{seconds:g} s ...", file=sys.stderr, flush=True)
    rows += bench("static.conf", "static.test", "/index.html", closing, defines={}, close=True, **kw)
    print(f"  request cost: proxy vhost, 3 variants x {rounds} rounds x {seconds:g} s ...", file=sys.stderr, flush=True)
    rows += _proxy(parts, **kw)
    return measure.table(HEADERS, rows)


def _proxy(parts: dict[str, str], **kw) -> list[list[object]]:
    import logging

    from pytest_httpserver import HTTPServer
    from werkzeug import Response

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    backend = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    backend.expect_request(re.compile(".*")).respond_with_handler(
        lambda request: Response(f"backend:{request.path}", content_type="text/plain"))
    backend.start()
    try:
        variants = [("plain", None, False), ("block, off", parts["block"], False), ("block, on", parts["block"], True)]
        return bench("proxy.conf", "proxy.test", "/orders/42", variants,
                     defines={"BACKEND_PORT": str(backend.port)}, **kw)
    finally:
        backend.clear()
        backend.stop()
