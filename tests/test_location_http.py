"""Where the page lives, on a real Apache: vhosts without a DocumentRoot (ProxyPass /,
<Location /> ProxyPass, WSGIScriptAlias /) put down with `down --vhost`, a Capistrano-style
release switch and rollback while down, and a capistrano-maintenance snippet migrated.

Every command is the real CLI in a child process; the app is a recording backend (or a WSGI
app that logs each request), so each test counts what reached it while the page was up."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from http_client import get
from run_cli import apachemaint
from test_new import require_modules

from apachemaint.httpd import DEFAULT_MODULES

pytestmark = pytest.mark.apache

HOST = "site.test"


def fetch(apache, path: str = "/"):
    return get(apache.url(path), headers={"Host": HOST})


def write_vhost(path: Path, body: str) -> Path:
    path.write_text(f"<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>\n    ServerName {HOST}\n{body}</VirtualHost>\n")
    return path


def patch(conf: Path, state: Path, *extra) -> str:
    done = apachemaint("patch", "--no-configtest", *extra, conf, state=state)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_down(apache, page: Path, hits, paths=("/", "/orders/42", "/system/maintenance.html")) -> None:
    body = page.read_bytes()
    before = hits()
    for path in paths:
        resp = fetch(apache, path)
        assert (resp.status, resp.body) == (503, body), path
        assert resp.headers.get_all("Cache-Control") == ["no-store"]
    assert hits() == before, "no request may reach the app while the page is there"


SHAPES = {
    "ProxyPass /": "    ProxyPass / http://127.0.0.1:{port}/\n    ProxyPassReverse / http://127.0.0.1:{port}/\n",
    "<Location /> ProxyPass": ("    <Location />\n        ProxyPass http://127.0.0.1:{port}/\n"
                               "        ProxyPassReverse http://127.0.0.1:{port}/\n"
                               "        Require all granted\n    </Location>\n"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_proxy_vhost_without_documentroot_goes_down_and_up(shape, apache_factory, backend, served_tmp_path):
    state, pages = served_tmp_path / "state", served_tmp_path / "pages"
    pages.mkdir(mode=0o755)
    conf = write_vhost(served_tmp_path / "proxy.conf", SHAPES[shape].format(port=backend.port))
    out = patch(conf, state, "--site-pages", pages)
    page = pages / HOST / "maintenance.html"
    assert f"page {page}" in out
    apache = apache_factory([conf])
    assert fetch(apache, "/orders/42").text == "backend:/orders/42"
    assert apachemaint("down", "--vhost", conf, "--reason", "a move", state=state).returncode == 0
    assert_down(apache, page, lambda: len(backend.log))
    assert b"a move" in page.read_bytes()
    status = apachemaint("status", "--vhost", conf, state=state)
    assert status.returncode == 3 and f"DOWN: {page}" in status.stdout
    assert apachemaint("up", "--vhost", conf, state=state).returncode == 0
    seen = len(backend.log)
    assert fetch(apache, "/orders/42").text == "backend:/orders/42" and len(backend.log) == seen + 1


WSGI_APP = '''\
import os

HITS = os.path.join(os.path.dirname(__file__), "hits.log")


def application(environ, start_response):
    with open(HITS, "a") as log:
        log.write(environ["PATH_INFO"] + "\\n")
    body = ("wsgi:" + environ["PATH_INFO"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def test_a_wsgi_vhost_without_documentroot_goes_down_and_up(apache_factory, served_tmp_path):
    require_modules(["wsgi"])
    state, pages, app = served_tmp_path / "state", served_tmp_path / "pages", served_tmp_path / "app"
    pages.mkdir(mode=0o755)
    app.mkdir(mode=0o755)
    (app / "wsgi.py").write_text(WSGI_APP)
    hits = app / "hits.log"
    hits.touch()
    hits.chmod(0o666)  # the app runs as Apache's user
    conf = write_vhost(served_tmp_path / "wsgi.conf", (
        "    WSGIDaemonProcess sitetest processes=1 threads=2\n    WSGIProcessGroup sitetest\n"
        f"    WSGIScriptAlias / {app}/wsgi.py\n    <Directory {app}>\n        <Files wsgi.py>\n"
        "            Require all granted\n        </Files>\n    </Directory>\n"))
    patch(conf, state, "--site-pages", pages)
    page = pages / HOST / "maintenance.html"
    apache = apache_factory([conf], modules=DEFAULT_MODULES + ("wsgi",))

    def count() -> int:
        return len(hits.read_text().splitlines())

    assert fetch(apache, "/orders/42").text == "wsgi:/orders/42"
    assert apachemaint("down", "--vhost", conf, state=state).returncode == 0
    assert_down(apache, page, count)
    assert apachemaint("up", "--vhost", conf, state=state).returncode == 0
    assert fetch(apache, "/orders/42").text == "wsgi:/orders/42"


# --- a Capistrano-style tree: the page survives a release switch and a rollback ---------------

def release(app: Path, n: int) -> None:
    public = app / "releases" / str(n) / "public"
    public.mkdir(parents=True)
    for d in (app / "releases", app / "releases" / str(n), public):
        d.chmod(0o755)
    (public / "release.txt").write_text(f"release {n}\n")


def switch(app: Path, n: int) -> None:
    """What Capistrano's deploy:symlink:release does: a new link, renamed over current."""
    subprocess.run(["ln", "-s", str(app / "releases" / str(n)), str(app / "releases" / "current")], check=True)
    subprocess.run(["mv", "-T", str(app / "releases" / "current"), str(app / "current")], check=True)


def capistrano_site(root: Path, backend_port: int) -> tuple[Path, Path]:
    app = root / "app"
    (app / "shared" / "public").mkdir(parents=True)
    for d in (app, app / "shared", app / "shared" / "public"):
        d.chmod(0o755)
    release(app, 1)
    release(app, 2)
    switch(app, 1)
    conf = write_vhost(root / "app.conf", (
        f"    DocumentRoot {app}/current/public\n    <Directory {app}>\n        Require all granted\n"
        f"    </Directory>\n    ProxyPass /release.txt !\n    ProxyPass / http://127.0.0.1:{backend_port}/\n"))
    return app, conf


@pytest.mark.parametrize("how", ["--vhost", "--docroot"])
def test_maintenance_survives_a_release_switch_and_a_rollback(how, apache_factory, backend, served_tmp_path):
    state = served_tmp_path / "state"
    app, conf = capistrano_site(served_tmp_path, backend.port)
    out = patch(conf, state)
    page = app / "shared" / "public" / "system" / "maintenance.html"
    assert f"page {page}" in out
    apache = apache_factory([conf])
    assert fetch(apache, "/release.txt").text == "release 1\n"
    where = conf if how == "--vhost" else app / "current" / "public"
    assert apachemaint("down", how, where, state=state).returncode == 0
    assert_down(apache, page, lambda: len(backend.log))
    switch(app, 2)  # a deploy while down
    assert_down(apache, page, lambda: len(backend.log))
    switch(app, 1)  # and a rollback
    assert_down(apache, page, lambda: len(backend.log))
    assert not list((app / "releases").glob("*/public/system"))  # nothing left inside a release
    switch(app, 2)
    assert apachemaint("up", how, where, state=state).returncode == 0
    assert fetch(apache, "/release.txt").text == "release 2\n"
    switch(app, 1)  # a rollback after maintenance brings no old page back
    assert fetch(apache, "/release.txt").text == "release 1\n"
    assert fetch(apache, "/orders/1").text == "backend:/orders/1"


# --- capistrano-maintenance: its snippet replaced, its tasks still work -----------------------

# The snippet capistrano-maintenance's README recommends for Apache, paths made this tree's.
GEM_SNIPPET = """\
    Alias "/error" "{shared}/public/system/"
    ErrorDocument 503 /error/maintenance.html
    RewriteEngine On
    RewriteCond {shared}/public/system/maintenance.html -f
    RewriteRule !^/error/maintenance.html - [L,R=503]
"""
GEM_PAGE = b"<!DOCTYPE html>\n<html><body><h1>Maintenance</h1><p>The system is down for a hardware upgrade.</p>" \
           b"</body></html>\n"


def gem_enable(shared: Path) -> Path:
    """`cap maintenance:enable`, as lib/capistrano/tasks/maintenance.rake does it on a server:
    mkdir -pv the maintenance_dirname (default shared_path/public/system) when missing,
    upload the rendered template as maintenance.html, chmod 644 it.  (The gem cannot be
    installed here: no rubygems registry, and Debian packages capistrano but not the gem.)"""
    folder = shared / "public" / "system"
    if subprocess.run(["test", "!", "-d", str(folder)]).returncode == 0:
        subprocess.run(["mkdir", "-pv", str(folder)], check=True, capture_output=True)
    page = folder / "maintenance.html"
    page.write_bytes(GEM_PAGE)
    subprocess.run(["chmod", "644", str(page)], check=True)
    return page


def gem_disable(shared: Path) -> None:
    """`cap maintenance:disable`: rm -f maintenance_dirname/maintenance_basename.html."""
    subprocess.run(f"rm -f {shared}/public/system/maintenance.html", shell=True, check=True)


def test_a_capistrano_maintenance_snippet_is_replaced_and_the_gems_tasks_keep_working(
        apache_factory, backend, served_tmp_path):
    state = served_tmp_path / "state"
    app, conf = capistrano_site(served_tmp_path, backend.port)
    text = conf.read_text().replace("    ProxyPass /release.txt", GEM_SNIPPET.format(shared=app / "shared")
                                    + "    ProxyPass /release.txt")
    conf.write_text(text)
    out = patch(conf, state)
    assert "classic Capistrano block replaced" in out
    assert f"page={app}/shared/public/system/maintenance.html " in conf.read_text()
    apache = apache_factory([conf])
    assert fetch(apache, "/orders/1").text == "backend:/orders/1"
    gem_enable(app / "shared")
    resp = fetch(apache, "/orders/1")
    assert (resp.status, resp.body) == (503, GEM_PAGE)
    assert_down(apache, app / "shared" / "public" / "system" / "maintenance.html", lambda: len(backend.log))
    switch(app, 2)  # cap deploy while down
    assert fetch(apache, "/orders/1").status == 503
    gem_disable(app / "shared")
    assert fetch(apache, "/orders/1").text == "backend:/orders/1"
