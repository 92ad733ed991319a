"""down / up / status / render / run end to end: the real CLI, a real Apache on loopback in
front of a recording backend, and what clients see at each step."""
from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
from conftest import serve_patched_proxy
from corpus import FIXTURES
from http_client import get
from run_cli import apachemaint

from apachemaint import maintenance

pytestmark = pytest.mark.apache


@pytest.fixture
def site(apache_factory, backend, served_tmp_path, monkeypatch):
    """A patched proxy vhost (fixtures/served/proxy.conf) served by a real Apache."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    (served_tmp_path / "www" / "assets").mkdir(parents=True)
    (served_tmp_path / "www" / "assets" / "app.css").write_text("body{}\n")
    monkeypatch.setenv("DOCROOT", str(served_tmp_path / "www"))  # `--vhost` resolves ${DOCROOT} as httpd does
    conf, docroot, apache = serve_patched_proxy(apache_factory, backend, served_tmp_path, allow_paths=("/up",))
    return type("Site", (), {"conf": conf, "docroot": docroot, "apache": apache,
                             "url": staticmethod(lambda p="/": apache.url(p))})


def test_down_status_up_with_an_escaped_reason_json_and_retry_after(site, backend):
    assert apachemaint("status", "--docroot", site.docroot).returncode == 0
    result = apachemaint("down", "--docroot", site.docroot, "--reason", "<script>alert(1)</script> upgrade",
                         "--until", "30m")
    assert result.returncode == 0, result.stderr
    seen = len(backend.log)
    resp = get(site.url("/orders"))
    assert resp.status == 503
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; upgrade" in resp.body and b"<script>alert(1)" not in resp.body
    assert resp.body == (site.docroot / "system" / "maintenance.html").read_bytes()
    # The end is a time, so clients get it as an HTTP-date: seconds counted at `down` would go stale.
    end = datetime.fromisoformat(json.loads(apachemaint("status", "--docroot", site.docroot, "--json").stdout)
                                 ["until_iso"])
    assert parsedate_to_datetime(resp.headers["Retry-After"]) == end.replace(microsecond=0)
    api = get(site.url("/api/orders"), headers={"Accept": "application/json"})
    assert api.status == 503 and api.headers["Content-Type"].startswith("application/json")
    doc = json.loads(api.body)
    assert doc["status"] == 503 and doc["reason"] == "<script>alert(1)</script> upgrade"
    assert 1790 <= doc["retry_after"] <= 1800 and doc["until"].endswith("+00:00")
    assert api.headers["Retry-After"] == resp.headers["Retry-After"]
    assert len(backend.log) == seen
    status = apachemaint("status", "--docroot", site.docroot, "--json")
    assert status.returncode == 3
    state = json.loads(status.stdout)
    assert state["maintenance"] is True and state["reason"].startswith("<script>")
    assert 0 < state["seconds_left"] <= 1800 and "@" in state["by"]
    again = apachemaint("down", "--docroot", site.docroot, "--reason", "second try")
    assert again.returncode == 0 and b"second try" in get(site.url("/")).body
    assert apachemaint("up", "--docroot", site.docroot).stdout.strip() == "maintenance off"
    assert get(site.url("/orders")).text == "backend:/orders"
    assert not (site.docroot / "system" / ".apachemaint").exists()
    assert apachemaint("up", "--docroot", site.docroot).stdout.strip() == "already up"
    assert apachemaint("status", "--docroot", site.docroot).returncode == 0


def test_page_is_readable_by_apache_and_never_written_through_a_symlink(site, tmp_path):
    system = site.docroot / "system"
    system.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (system / "maintenance.html").symlink_to(victim)
    result = apachemaint("down", "--docroot", site.docroot)
    assert result.returncode == 2 and "symlink" in result.stderr and "Traceback" not in result.stderr
    assert victim.read_text() == "keep me\n"
    (system / "maintenance.html").unlink()
    assert apachemaint("down", "--docroot", site.docroot).returncode == 0
    assert oct((system / "maintenance.html").stat().st_mode & 0o777) == "0o644"
    assert get(site.url("/x")).status == 503


def test_vhost_mode_bypass_token_works_until_up(site, backend):
    result = apachemaint("down", "--vhost", site.conf, "--bypass", "--reason", "migration")
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("bypass for this window"))
    cookie = line.rsplit(" ", 1)[1]
    name, token = cookie.split("=", 1)
    assert name == "apachemaint_bypass" and token not in (site.docroot / "system" / "maintenance.html").read_text()
    bypass_dir = site.docroot / "system" / ".apachemaint" / "bypass"
    assert oct(bypass_dir.stat().st_mode & 0o777) == "0o711"
    assert oct((bypass_dir / token).stat().st_mode & 0o777) == "0o600"
    assert get(site.url("/a"), headers={"Cookie": cookie}).text == "backend:/a"
    assert get(site.url("/a")).status == 503
    assert apachemaint("up", "--vhost", site.conf).returncode == 0
    assert apachemaint("down", "--vhost", site.conf).returncode == 0
    assert get(site.url("/a"), headers={"Cookie": cookie}).status == 503, "the old token must be dead"


def test_verify_catches_an_unpatched_vhost(apache_factory, backend, served_tmp_path):
    docroot = served_tmp_path / "www"
    docroot.mkdir()
    conf = served_tmp_path / "proxy.conf"
    shutil.copy(FIXTURES / "served" / "proxy.conf", conf)  # not patched
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)})
    result = apachemaint("down", "--docroot", docroot, "--verify-url", apache.url("/"))
    assert result.returncode == 2
    assert "maintenance is not effective: status 200, not 503" in result.stderr
    assert apachemaint("up", "--docroot", docroot, "--verify-url", apache.url("/")).returncode == 0


def test_verify_passes_on_a_patched_vhost(site):
    # `--verify URL`, as written before --verify became the whole-vhost proof, still means --verify-url.
    result = apachemaint("down", "--vhost", site.conf, "--verify", site.url("/"))
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout


PROBE = ("import sys, urllib.request, urllib.error\n"
         "try:\n    code = urllib.request.urlopen(sys.argv[1]).status\n"
         "except urllib.error.HTTPError as e:\n    code = e.code\n"
         "open(sys.argv[2], 'w').write(str(code))\nsys.exit(int(sys.argv[3]))\n")


@pytest.mark.parametrize("exit_code, policy, site_after", [(0, "keep", 200), (3, "keep", 503), (3, "lift", 200)])
def test_run_puts_the_site_down_around_the_command(site, tmp_path, exit_code, policy, site_after):
    seen = tmp_path / "seen"
    result = apachemaint("run", "--docroot", site.docroot, "--on-failure", policy, "--reason", "migrate",
                         "--", sys.executable, "-c", PROBE, site.url("/during"), seen, str(exit_code))
    assert result.returncode == exit_code, result.stderr
    assert seen.read_text() == "503", "the command runs while the site is down"
    assert get(site.url("/after")).status == site_after


def test_run_takes_the_fleet_bypass_token(site, backend, tmp_path):
    # `run` had no --bypass-token: a fleet's token could open a `down` window but not a `run` one.
    token = "run-window-token-0123456789"
    probe = ("import sys, urllib.request\n"
             "req = urllib.request.Request(sys.argv[1], headers={'Cookie': 'apachemaint_bypass=' + sys.argv[3]})\n"
             "open(sys.argv[2], 'w').write(urllib.request.urlopen(req).read().decode())\n")
    seen = tmp_path / "seen"
    result = apachemaint("run", "--docroot", site.docroot, "--bypass-token", token,
                         "--", sys.executable, "-c", probe, site.url("/during"), seen, token)
    assert result.returncode == 0, result.stderr
    assert seen.read_text() == "backend:/during", "the token opens the site for its holder while down"
    assert get(site.url("/after")).status == 200


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    assert apachemaint("down", "--docroot", tmp_path / "nope").stderr == \
        f"{tmp_path / 'nope'}: document root does not exist or is not a folder\n"
    past = apachemaint("down", "--docroot", tmp_path, "--until", "2001-01-01T00:00:00Z")
    assert past.returncode == 2 and "in the past" in past.stderr
    unpatched = tmp_path / "plain.conf"
    unpatched.write_text("<VirtualHost *:80>\n  DocumentRoot /srv/x\n</VirtualHost>\n")
    result = apachemaint("down", "--vhost", unpatched)
    assert result.returncode == 2 and "no vhost here carries an apachemaint block" in result.stderr
    bad_tpl = tmp_path / "t.html"
    bad_tpl.write_text("{% if %}")
    result = apachemaint("down", "--docroot", tmp_path, "--template", bad_tpl)
    assert result.returncode == 2 and result.stderr.startswith(f"{bad_tpl}:1: template does not render")
    assert not (tmp_path / "system").exists(), "nothing half-written"


def test_render_and_reason_from_the_environment(tmp_path):
    out = apachemaint("render", env={"REASON": "db <upgrade>", "UNTIL": "12:30 UTC"})
    assert out.returncode == 0
    assert "db &lt;upgrade&gt;" in out.stdout and "12:30 UTC" in out.stdout
    assert '<html lang="en">' in out.stdout and "http" not in out.stdout.split("<body>")[1]


@pytest.mark.slow
def test_flips_under_load_never_show_a_wrong_response(site, backend):
    """At least 50 down/up flips while clients hammer the site: every response must be the
    app's own or the complete maintenance page, never Apache's bare 503."""
    targets = maintenance.from_docroot(site.docroot)
    expected_page: list[bytes] = []
    stop = threading.Event()
    tally: Counter = Counter()
    wrong: list[tuple] = []
    deadline = time.monotonic() + 60  # bounded, whatever happens

    def client(n: int) -> None:
        for i in range(20_000):
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                resp = get(site.url(f"/load/{n}/{i}"))
            except OSError as exc:
                wrong.append(("connection", repr(exc)))
                continue
            if resp.status == 200 and resp.text == f"backend:/load/{n}/{i}":
                tally["app"] += 1
            elif resp.status == 503 and resp.body in expected_page and "Retry-After" in resp.headers:
                tally["page"] += 1
            else:
                wrong.append((resp.status, resp.body[:120]))

    result = maintenance.down(targets, reason="flip")
    expected_page.append(result.html)
    maintenance.up(targets, grace=0.05)
    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(60):
            maintenance.down(targets, reason="flip")
            time.sleep(0.03)
            maintenance.up(targets, grace=0.05)
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert tally["app"] > 100 and tally["page"] > 100, tally
    assert wrong == [], f"{len(wrong)} wrong of {sum(tally.values()) + len(wrong)}: {wrong[:5]}"
