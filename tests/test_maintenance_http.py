"""What a browser or load balancer sees from a real Apache before and after `patch`, with the
flag (the page file) absent and present, and how many requests reach the backend.

Each scenario is a vhost under fixtures/served/, run by a real apache2 on 127.0.0.1 in
front of a pytest-httpserver backend.  Apache is never reloaded between flag on and off.
"""
from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import FIXTURES
from http_client import Response, get

from apachemaint import patch as patching
from apachemaint.block import PAGE_COPY, STATE_DIR

pytestmark = pytest.mark.apache

PAGE = b"<!doctype html><title>Down for maintenance</title><h1>Back soon</h1>\n"
# Headers that differ between any two responses, patched or not.
VOLATILE = {"date", "connection", "keep-alive"}


@dataclass
class Site:
    conf: Path
    docroot: Path  # where the flag/page lives for the host under test
    host: str
    static: bool = False  # answered from disk, not the backend

    def get(self, apache, path: str, **kw) -> Response:
        headers = {"Host": self.host, **kw.pop("headers", {})}
        return get(apache.url(path), headers=headers, **kw)

    def flag_on(self) -> None:
        (self.docroot / "system").mkdir(exist_ok=True)
        page = self.docroot / "system" / "maintenance.html"
        page.write_bytes(PAGE)
        page.chmod(0o644)

    def flag_off(self) -> None:
        (self.docroot / "system" / "maintenance.html").unlink()


SCENARIOS = {
    "static": ("static.conf", "", "static.test", True),
    "proxy": ("proxy.conf", "", "proxy.test", False),
    "rewrite-P": ("rewrite-proxy.conf", "", "rewrite.test", False),
    "location": ("location-proxy.conf", "", "location.test", False),
    "two-sites": ("two-sites.conf", "one", "one.test", False),
    "legacy": ("legacy-capistrano.conf", "", "legacy.test", False),
}


def make_site(tmp: Path, name: str) -> Site:
    conf_name, sub, host, static = SCENARIOS[name]
    docroot = tmp / "www"
    for d in (docroot, docroot / "one", docroot / "two"):
        (d / "assets").mkdir(parents=True)
        (d / "assets" / "app.css").write_text("body{}\n")
        (d / "assets" / "LOGO.PNG").write_bytes(b"\x89PNG fake\n")
        (d / "index.html").write_text(f"home of {d.name}\n")
        (d / "up").write_text("ok\n")
    conf = tmp / "sites" / conf_name
    conf.parent.mkdir()
    shutil.copy(FIXTURES / "served" / conf_name, conf)
    return Site(conf, docroot / sub if sub else docroot, host, static)


def snapshot(resp: Response) -> tuple:
    headers = sorted((k.lower(), v) for k, v in resp.headers.items() if k.lower() not in VOLATILE)
    return resp.status, headers, resp.body


PATHS = ("/", "/index.html", "/orders/42", "/assets/app.css", "/missing.txt")


def do_patch(conf: Path, **given) -> None:
    plans = [patching.plan(conf, given)]
    patching.apply(plans, configtest=False)


@pytest.fixture
def run(apache_factory, backend, served_tmp_path):
    """Start Apache on a scenario's vhost; returns (site, apache)."""
    def start(name: str, **given):
        site = make_site(served_tmp_path, name)
        do_patch(site.conf, **given)
        apache = apache_factory([site.conf], defines={
            "DOCROOT": str(served_tmp_path / "www"), "BACKEND_PORT": str(backend.port)})
        return site, apache
    return start


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_patched_vhost_is_byte_identical_while_the_flag_is_absent(name, apache_factory, backend,
                                                                   served_tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site = make_site(served_tmp_path, name)
    defines = {"DOCROOT": str(served_tmp_path / "www"), "BACKEND_PORT": str(backend.port)}
    plain = apache_factory([site.conf], defines=defines)
    before = [snapshot(site.get(plain, p)) for p in PATHS]
    plain.stop()
    do_patch(site.conf)
    patched = apache_factory([site.conf], defines=defines)
    after = [snapshot(site.get(patched, p)) for p in PATHS]
    assert after == before
    assert any(status == 200 for status, _, _ in after)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_flag_present_answers_503_with_the_page_and_the_backend_sees_nothing(name, run, backend,
                                                                             served_tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site, apache = run(name, allow_paths=("/up",))
    pid = apache.pid
    normal = "/index.html" if site.static else "/orders/42"
    assert site.get(apache, normal).status == 200
    site.flag_on()
    seen = len(backend.log)
    for path in ("/", "/orders/42", "/index.html", "/system/maintenance.html", "/report.pdf", "/api/o.json"):
        resp = site.get(apache, path)
        assert resp.status == 503, path
        assert resp.body == PAGE, path
        assert resp.headers["Retry-After"] == "300"
        assert resp.headers.get_all("Cache-Control") == ["no-store"]
    assert len(backend.log) == seen, "no request may reach the backend during maintenance"
    # Assets (any case) and the health path keep working, without the 503's headers.
    for path in ("/assets/app.css", "/assets/LOGO.PNG", "/up"):
        resp = site.get(apache, path)
        assert resp.status == 200 and "Retry-After" not in resp.headers, path
    site.flag_off()
    resp = site.get(apache, normal)
    assert resp.status == 200 and "Retry-After" not in resp.headers
    assert apache.pid == pid, "Apache must not be restarted between flag on and off"


def test_two_vhosts_in_one_file_flip_independently(run, backend, served_tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site, apache = run("two-sites")
    site.flag_on()  # only in one.test's DocumentRoot
    assert site.get(apache, "/x").status == 503
    other = get(apache.url("/x"), headers={"Host": "two.test"})
    assert other.status == 200 and other.text == "backend:/two/x"


def test_allow_listed_client_and_bypass_token_pass(run, backend, served_tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site, apache = run("proxy", allow_ips=("127.0.0.2/32",), bypass_cookie="team_pass")
    site.flag_on()
    token = _bypass_token(site)
    bypass = site.docroot / "system" / STATE_DIR / "bypass"
    seen = len(backend.log)
    assert site.get(apache, "/a").status == 503
    assert site.get(apache, "/a", headers={"Cookie": f"x=1; team_pass={secrets.token_urlsafe(24)}"}).status == 503
    # A client address outside the list, spoofing X-Forwarded-For, stays out.
    assert site.get(apache, "/a", headers={"X-Forwarded-For": "127.0.0.2"}).status == 503
    assert len(backend.log) == seen
    assert site.get(apache, "/a", source_address="127.0.0.2").text == "backend:/a"
    assert site.get(apache, "/b", headers={"Cookie": f"x=1; team_pass={token}; y=2"}).text == "backend:/b"
    assert len(backend.log) == seen + 2
    (bypass / token).unlink()  # what `up` does: the token is worthless afterwards
    assert site.get(apache, "/b", headers={"Cookie": f"team_pass={token}"}).status == 503


def test_page_outside_the_docroot(run, backend, served_tmp_path, monkeypatch):
    """A Capistrano shared/system folder outside the release's DocumentRoot."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    shared = served_tmp_path / "shared" / "system"
    site, apache = run("proxy", page=str(shared / "maintenance.html"))
    assert site.get(apache, "/a").status == 200
    shared.mkdir(parents=True)
    (shared / "maintenance.html").write_bytes(PAGE)
    (shared / "maintenance.html").chmod(0o644)
    resp = site.get(apache, "/a")
    assert (resp.status, resp.body) == (503, PAGE)


def test_legacy_recipe_answered_200_and_the_patched_vhost_answers_503(apache_factory, backend,
                                                                      served_tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site = make_site(served_tmp_path, "legacy")
    defines = {"DOCROOT": str(served_tmp_path / "www"), "BACKEND_PORT": str(backend.port)}
    site.flag_on()
    old = apache_factory([site.conf], defines=defines)
    resp = site.get(old, "/orders")
    assert (resp.status, resp.body) == (200, PAGE), "the classic recipe serves the page as a 200"
    assert site.get(old, "/app.js").status == 200 and b"Back soon" in site.get(old, "/app.js").body
    old.stop()
    do_patch(site.conf)
    new = apache_factory([site.conf], defines=defines)
    resp = site.get(new, "/orders")
    assert (resp.status, resp.body) == (503, PAGE)


# --- one decision per request: what the flag does and does not touch -------------------------

def _bypass_token(site: Site) -> str:
    """A live token, as `down --bypass` leaves it: a token is its window's only while the armed
    copy beside it is the page in place."""
    token = secrets.token_urlsafe(24)
    system = site.docroot / "system"
    bypass = system / STATE_DIR / "bypass"
    bypass.mkdir(mode=0o711, parents=True, exist_ok=True)
    (bypass / token).touch(mode=0o600)
    (system / STATE_DIR / PAGE_COPY).write_bytes((system / "maintenance.html").read_bytes())
    return token


def test_a_backend_503_passes_through_untouched_with_the_flag_absent_or_for_let_through_requests(
        run, backend, served_tmp_path, monkeypatch):
    """The page dresses only the 503s the block itself answers: the app's own 503 goes out as
    the app sent it, with the flag absent and for an allow-listed path while it is present."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site, apache = run("proxy", allow_paths=("/busy",))

    def busy():
        backend.expect_oneshot_request("/busy").respond_with_data(
            "app is busy", status=503, headers={"Retry-After": "7"}, content_type="text/plain")
        return site.get(apache, "/busy")

    off = busy()
    assert (off.status, off.body, off.headers["Retry-After"]) == (503, b"app is busy", "7")
    assert "no-store" not in (off.headers.get("Cache-Control") or "")
    site.flag_on()
    on = busy()
    assert (on.status, on.body, on.headers.get_all("Retry-After")) == (503, b"app is busy", ["7"])
    assert "no-store" not in (on.headers.get("Cache-Control") or "")
    assert snapshot(on) == snapshot(off)
    assert (site.get(apache, "/orders/1").status, site.get(apache, "/orders/1").body) == (503, PAGE)


def test_apache_s_own_503_for_a_dead_backend(apache_factory, served_tmp_path, monkeypatch):
    """With the flag absent, Apache's own 503 (backend down) is byte-identical to the unpatched
    vhost's; with it present, a let-through request still gets Apache's own 503, not the page."""
    from apachemaint.httpd import free_port

    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site = make_site(served_tmp_path, "proxy")
    defines = {"DOCROOT": str(served_tmp_path / "www"), "BACKEND_PORT": str(free_port())}  # nobody listens
    plain = apache_factory([site.conf], defines=defines)
    before = [snapshot(site.get(plain, p)) for p in ("/orders/1", "/up")]
    plain.stop()
    assert before[0][0] == 503 and b"Service Unavailable" in before[0][2]
    do_patch(site.conf, allow_paths=("/up",))
    patched = apache_factory([site.conf], defines=defines)
    assert [snapshot(site.get(patched, p)) for p in ("/orders/1", "/up")] == before
    site.flag_on()
    down = site.get(patched, "/orders/1")
    assert (down.status, down.body, down.headers["Retry-After"]) == (503, PAGE, "300")
    let_through = site.get(patched, "/up")
    assert snapshot(let_through) == before[1], "a let-through request is not dressed as maintenance"


PER_DIRECTORY = """<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>
    ServerName perdir.test
    DocumentRoot ${DOCROOT}
    <Directory ${DOCROOT}>
        Require all granted
        RewriteEngine On
        RewriteRule ^pretty$ index.html [L]
    </Directory>
</VirtualHost>
"""


def test_let_through_requests_keep_the_vhost_s_per_directory_rewriting(apache_factory, served_tmp_path,
                                                                        monkeypatch):
    """An .htaccess-style front controller keeps working for a bypass token and an allowed
    path during maintenance (the block's <If> must not replace per-directory rewrite rules)."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    docroot = served_tmp_path / "www"
    docroot.mkdir()
    (docroot / "index.html").write_text("front controller\n")
    conf = served_tmp_path / "perdir.conf"
    conf.write_text(PER_DIRECTORY)
    do_patch(conf, allow_paths=("/pretty",))
    site = Site(conf, docroot, "perdir.test", static=True)
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot)})
    assert site.get(apache, "/pretty").text == "front controller\n"
    site.flag_on()
    token = _bypass_token(site)
    assert site.get(apache, "/pretty").text == "front controller\n"  # allowed path
    resp = site.get(apache, "/index.html", headers={"Cookie": f"apachemaint_bypass={token}"})
    assert (resp.status, resp.text) == (200, "front controller\n")
    assert site.get(apache, "/index.html").status == 503


def test_a_later_rewrite_engine_off_does_not_switch_the_block_off(apache_factory, backend, served_tmp_path,
                                                                  monkeypatch):
    """The block switches mod_rewrite on inside its <If>, which merges after the vhost's own
    `RewriteEngine Off`; with the flag absent the engine stays off as the vhost wants."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    site = make_site(served_tmp_path, "proxy")
    site.conf.write_text(site.conf.read_text().replace("ProxyPreserveHost On",
                                                       "ProxyPreserveHost On\n    RewriteEngine Off"))
    do_patch(site.conf)
    apache = apache_factory([site.conf], defines={"DOCROOT": str(served_tmp_path / "www"),
                                                  "BACKEND_PORT": str(backend.port)})
    assert site.get(apache, "/orders/1").text == "backend:/orders/1"
    site.flag_on()
    resp = site.get(apache, "/orders/1")
    assert (resp.status, resp.body) == (503, PAGE)



def test_an_apachemaint_variable_in_apache_s_own_environment_changes_nothing(run, backend, served_tmp_path,
                                                                             monkeypatch):
    """The block reads its decision with reqenv(), never from the process environment (a
    mod_rewrite %{ENV:...} lookup would fall back to getenv())."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    monkeypatch.setenv("APACHEMAINT", "down")  # inherited by the Apache started below
    monkeypatch.setenv("REDIRECT_APACHEMAINT", "down")
    site, apache = run("rewrite-P")  # a vhost with RewriteEngine On of its own
    assert site.get(apache, "/orders/42").text == "backend:/orders/42"
    site.flag_on()
    assert (site.get(apache, "/orders/42").status, site.get(apache, "/orders/42").body) == (503, PAGE)
