"""Where the page lives (apachemaint/location.py): the last DocumentRoot, the reasons `down`
refuses (the same ones `check` reports as AM013/AM015), a page of its own for vhosts
without a DocumentRoot, pages kept out of deploy releases, and a legacy recipe's page kept.

The trees here are real folders and links in a temp dir; what Apache makes of them is in
tests/test_location_http.py."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from corpus import FIXTURES
from run_cli import apachemaint

from apachemaint import block, location, reader, vhosts
from apachemaint import patch as patching
from apachemaint.block import BlockOptions
from apachemaint.check import check_config, check_files
from apachemaint.errors import ApacheMaintError
from apachemaint.layouts import DEBIAN_BUILTIN
from apachemaint.rules import ServerContext

BLOCK = block.render(BlockOptions(), indent="    ")


def vhost_file(tmp: Path, body: str, name: str = "site.conf", page: str | None = None) -> Path:
    b = BLOCK if page is None else block.render(BlockOptions(page=page), indent="    ")
    conf = tmp / name
    conf.write_text(f"<VirtualHost *:80>\n{b}    ServerName site.test\n{body}</VirtualHost>\n")
    return conf


def codes(conf: Path, ctx: ServerContext | None = None) -> set[str]:
    cf = reader.read(conf)
    return {f.code for f in (check_config(cf, ctx) if ctx else check_config(cf))}


def tree_snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


# --- item 2: the last DocumentRoot, and down refuses what check reports -----------------------

def test_down_writes_below_the_last_documentroot_as_apache_reads_it(tmp_path):
    first, last = tmp_path / "releases-41", tmp_path / "public"
    first.mkdir(), last.mkdir()
    conf = vhost_file(tmp_path, f"    DocumentRoot {first}\n    DocumentRoot {last}\n")
    done = apachemaint("down", "--vhost", conf, state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert (last / "system" / "maintenance.html").is_file()
    assert not (first / "system").exists()
    assert "AM013" not in codes(conf)  # both agree: nothing to report


@pytest.mark.parametrize("body, says", [
    ("    DocumentRoot {root}\n    <IfDefine STAGING>\n        DocumentRoot {root}-staging\n    </IfDefine>\n",
     "disagree"),
    ("    DocumentRoot srv/public\n", "relative"),
    ("    DocumentRoot ${{APACHEMAINT_TEST_UNSET}}/public\n", "APACHEMAINT_TEST_UNSET"),
])
def test_down_refuses_what_check_reports_as_am013(tmp_path, body, says, monkeypatch):
    monkeypatch.delenv("APACHEMAINT_TEST_UNSET", raising=False)
    root = tmp_path / "public"
    root.mkdir()
    (tmp_path / "public-staging").mkdir()
    conf = vhost_file(tmp_path, body.format(root=root))
    before = tree_snapshot(tmp_path)
    defined = {"APACHEMAINT_TEST_UNSET": str(tmp_path)}
    server = ServerContext(modules=set(DEBIAN_BUILTIN) | {"rewrite", "headers", "setenvif"}, defines=set(),
                           variables=defined, defined=defined)
    assert "AM013" in codes(conf, server)
    for command in ("down", "status", "up"):
        done = apachemaint(command, "--vhost", conf, state=tmp_path / "state")
        assert done.returncode == 2, (command, done.stdout)
        assert done.stderr.startswith(f"{conf}:") and says in done.stderr and "Traceback" not in done.stderr
    assert tree_snapshot(tmp_path) == before


def test_check_without_a_server_says_nothing_of_a_variable_but_down_still_refuses(tmp_path, monkeypatch):
    monkeypatch.delenv("APACHEMAINT_TEST_UNSET", raising=False)
    conf = vhost_file(tmp_path, "    DocumentRoot ${APACHEMAINT_TEST_UNSET}/public\n")
    assert "AM013" not in codes(conf)
    assert apachemaint("down", "--vhost", conf, state=tmp_path / "state").returncode == 2


def test_a_documentroot_in_a_conditional_that_holds_counts_with_the_server_known(tmp_path):
    conf = vhost_file(tmp_path, "    DocumentRoot /srv/a\n    <IfModule mod_rewrite.c>\n"
                                "        DocumentRoot /srv/b\n    </IfModule>\n")
    vh = vhosts.find(reader.read(conf))[0]
    holds = ServerContext(modules=set(DEBIAN_BUILTIN) | {"rewrite"}, defines=set())
    assert location.for_apache(vh, block.DEFAULT_PAGE, holds).page == "/srv/b/system/maintenance.html"
    gone = ServerContext(modules=set(DEBIAN_BUILTIN), defines=set())
    assert location.for_apache(vh, block.DEFAULT_PAGE, gone).page == "/srv/a/system/maintenance.html"
    assert location.for_down(vh, block.DEFAULT_PAGE).code == "AM013"


# --- item 3: a page of its own for a vhost without a DocumentRoot -----------------------------

@pytest.mark.parametrize("fixture, name", [("django-wsgi.conf", "journal.example.org"),
                                           ("proxy-location.conf", "grafana.example.com")])
def test_a_vhost_without_documentroot_gets_a_page_of_its_own(tmp_path, fixture, name):
    conf = tmp_path / fixture
    conf.write_bytes((FIXTURES / "vhosts" / fixture).read_bytes())
    pages = tmp_path / "pages"
    pages.mkdir()
    state = tmp_path / "state"
    done = apachemaint("patch", "--no-configtest", "--site-pages", pages, conf, state=state)
    assert done.returncode == 0, done.stderr
    page = pages / name / "maintenance.html"
    assert f"page {page}" in done.stdout
    assert f"page={page} " in conf.read_text()
    assert f'<Directory "{page.parent}">' in conf.read_text()  # the block grants it
    again = apachemaint("patch", "--no-configtest", "--site-pages", pages, conf, state=state)
    assert "already current" in again.stdout and "nothing to change" in again.stdout
    assert not {"AM013", "AM015"} & codes(conf)
    assert apachemaint("down", "--vhost", conf, "--reason", "moving", state=state).returncode == 0
    assert b"moving" in page.read_bytes()
    status = apachemaint("status", "--vhost", conf, state=state)
    assert status.returncode == 3 and f"DOWN: {page}" in status.stdout
    assert apachemaint("up", "--vhost", conf, state=state).returncode == 0
    assert not page.exists()
    assert apachemaint("status", "--vhost", conf, state=state).returncode == 0


def test_an_old_block_on_a_vhost_without_documentroot_is_moved_by_patching_again(tmp_path):
    conf = vhost_file(tmp_path, "    ProxyPass / http://127.0.0.1:9/\n")
    assert "AM015" in codes(conf)
    assert apachemaint("down", "--vhost", conf, state=tmp_path / "state").returncode == 2
    plan = patching.plan(conf, {}, str(tmp_path / "pages"))
    assert plan.results[0].action is patching.Action.RECONFIGURED
    assert f"page moved to {tmp_path}/pages/site.test/maintenance.html" in plan.results[0].detail


def test_the_site_pages_folder_is_the_layouts(tmp_path):
    conf = vhost_file(tmp_path, "    ProxyPass / http://127.0.0.1:9/\n")
    cf = reader.read(conf)
    vh = vhosts.find(cf)[0]
    assert location.own_page(vh) == f"{location.site_pages()}/site.test/maintenance.html"
    from apachemaint import layouts

    pages = {lay.name: str(lay.site_pages) for lay in layouts.LAYOUTS}
    assert pages["debian"] == pages["rhel"] == "/var/www/apachemaint"
    assert pages["httpd-image"] == "/usr/local/apache2/apachemaint"
    assert pages["homebrew-arm"] == "/opt/homebrew/var/www/apachemaint"


# --- item 6: Capistrano-style releases ----------------------------------------------------------

def capistrano(root: Path, releases: int = 2, linked_system: bool = False) -> Path:
    """deploy_to with releases/1..N (each with public/), shared/public, and current -> the last."""
    for n in range(1, releases + 1):
        (root / "releases" / str(n) / "public").mkdir(parents=True)
    (root / "shared" / "public" / "system").mkdir(parents=True)
    if linked_system:
        for n in range(1, releases + 1):
            (root / "releases" / str(n) / "public" / "system").symlink_to(root / "shared" / "public" / "system")
    (root / "current").symlink_to(root / "releases" / str(releases))
    return root


def test_release_detection_needs_the_link_the_releases_and_shared(tmp_path):
    app = capistrano(tmp_path / "app")
    rel = location.release_of(app / "current" / "public")
    assert rel and rel.link == app / "current" and rel.shared == app / "shared" and str(rel.inside) == "public"
    plain = tmp_path / "plain" / "current" / "public"
    plain.mkdir(parents=True)
    assert location.release_of(plain) is None
    assert location.inside_release(str(plain / "system" / "maintenance.html")) is None


@pytest.mark.parametrize("linked", [False, True])
def test_patch_keeps_the_page_out_of_the_release(tmp_path, linked):
    app = capistrano(tmp_path / "app", linked_system=linked)
    conf = tmp_path / "site.conf"
    conf.write_text(f"<VirtualHost *:80>\n    ServerName shop.test\n    DocumentRoot {app}/current/public\n"
                    "</VirtualHost>\n")
    plan = patching.plan(conf, {})
    cf = reader.parse(plan.new_bytes)
    page = block.find_managed(cf, vhosts.find(cf)[0].section)[0].marker.options.page
    if linked:  # public/system already links into shared/: Apache follows it, nothing to move
        assert page == block.DEFAULT_PAGE
    else:
        assert page == f"{app}/shared/public/system/maintenance.html"
    patching.apply([plan], configtest=False)
    assert not patching.plan(conf, {}).changed
    assert "AM017" not in codes(conf)
    [target] = location.from_docroot(app / "current" / "public")
    assert str(target.page) in (page, f"{app}/current/public/system/maintenance.html")
    assert os.path.realpath(target.page.parent) == str(app / "shared" / "public" / "system")


def test_check_reports_a_page_inside_a_release_on_disk(tmp_path):
    app = capistrano(tmp_path / "app")
    conf = vhost_file(tmp_path, f"    DocumentRoot {app}/current/public\n")
    assert "AM017" in codes(conf)
    linked = capistrano(tmp_path / "linked", linked_system=True)
    assert "AM017" not in codes(vhost_file(tmp_path, f"    DocumentRoot {linked}/current/public\n", "l.conf"))
    plain = tmp_path / "plain" / "current" / "public"
    plain.mkdir(parents=True)
    assert "AM017" not in codes(vhost_file(tmp_path, f"    DocumentRoot {plain}\n", "p.conf"))


def test_down_docroot_in_a_release_writes_where_the_patched_block_looks(tmp_path):
    app = capistrano(tmp_path / "app")
    state = tmp_path / "state"
    done = apachemaint("down", "--docroot", app / "current" / "public", state=state)
    assert done.returncode == 0, done.stderr
    assert (app / "shared" / "public" / "system" / "maintenance.html").is_file()
    assert not (app / "releases" / "2" / "public" / "system").exists()
    assert apachemaint("up", "--docroot", app / "current" / "public", state=state).returncode == 0
    assert not (app / "shared" / "public" / "system" / "maintenance.html").exists()


def test_a_docroot_less_wsgi_app_in_a_release_gets_its_page_in_shared(tmp_path):
    app = capistrano(tmp_path / "app")
    conf = tmp_path / "wsgi.conf"
    conf.write_text(f"<VirtualHost *:80>\n    ServerName api.test\n    WSGIScriptAlias / {app}/current/wsgi.py\n"
                    "</VirtualHost>\n")
    plan = patching.plan(conf, {})
    assert f"page={app}/shared/public/system/maintenance.html " in plan.new_text


# --- item 5: a legacy recipe's page is kept -----------------------------------------------------

# The Apache snippet capistrano-maintenance's README recommends (its page: shared/public/system).
GEM_SNIPPET = """\
    Alias "/error" "{shared}/public/system/"
    ErrorDocument 503 /error/maintenance.html
    RewriteEngine On
    RewriteCond {shared}/public/system/maintenance.html -f
    RewriteRule !^/error/maintenance.html - [L,R=503]
"""


def test_the_gems_snippet_is_replaced_by_a_block_looking_at_the_same_file(tmp_path):
    app = capistrano(tmp_path / "app")
    conf = tmp_path / "site.conf"
    conf.write_text(f"<VirtualHost *:80>\n    ServerName shop.test\n    DocumentRoot {app}/current/public\n"
                    + GEM_SNIPPET.format(shared=app / "shared") + "</VirtualHost>\n")
    plan = patching.plan(conf, {})
    assert plan.results[0].action is patching.Action.LEGACY
    assert f"page={app}/shared/public/system/maintenance.html " in plan.new_text
    # The recipe's own lines are gone (the block tests the same file with a RewriteCond of its own).
    assert "RewriteRule !^/error/maintenance.html - [L,R=503]" not in plan.new_text
    assert "ErrorDocument 503 /error/maintenance.html" not in plan.new_text


@pytest.mark.parametrize("link", [False, True])
def test_a_relative_legacy_path_is_kept_only_where_dotdot_means_what_it_says(tmp_path, link):
    root = capistrano(tmp_path / "app") if link else tmp_path / "app"
    if not link:
        (root / "current" / "public").mkdir(parents=True)
        (root / "shared" / "public" / "system").mkdir(parents=True)
    conf = tmp_path / "site.conf"
    text = (f"<VirtualHost *:80>\n    DocumentRoot {root}/current/public\n    RewriteEngine On\n"
            "    RewriteCond %{DOCUMENT_ROOT}/../../shared/public/system/maintenance.html -f\n"
            "    RewriteRule ^.*$ /system/maintenance.html [L]\n</VirtualHost>\n")
    conf.write_text(text)
    if link:  # current/public/../.. is releases/, not the app folder
        with pytest.raises(ApacheMaintError, match=r"'\.\.' after a link leads to .*/releases/shared/") as err:
            patching.plan(conf, {})
        assert err.value.file == str(conf) and err.value.line == 4
        done = apachemaint("patch", "--no-configtest", conf, state=tmp_path / "state")
        assert done.returncode == 2 and done.stderr.startswith(f"{conf}:4: ")
        assert conf.read_text() == text
    else:
        plan = patching.plan(conf, {})
        assert f"page={tmp_path}/app/shared/public/system/maintenance.html " in plan.new_text


def test_a_given_page_wins_over_the_legacy_one(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("<VirtualHost *:80>\n    DocumentRoot /srv/a\n    RewriteEngine On\n"
                    "    RewriteCond %{ENV:X}/maintenance.html -f\n    RewriteRule ^ - [R=503,L]\n</VirtualHost>\n")
    with pytest.raises(ApacheMaintError, match="a variable apachemaint cannot follow"):
        patching.plan(conf, {})
    plan = patching.plan(conf, {"page": "/srv/a/down/maintenance.html"})
    assert "page=/srv/a/down/maintenance.html " in plan.new_text


def test_check_files_and_down_agree_on_every_vhost_fixture(tmp_path, monkeypatch):
    """Whatever check reports as AM013 or AM015, down --vhost refuses (and the reverse)."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(tmp_path / "state"))
    for src in sorted((FIXTURES / "rules").glob("AM01[357]*.vhost")):
        conf = tmp_path / src.name
        conf.write_bytes(src.read_bytes())
        reported = {f.code for f in check_files([conf], detect=False)} & {"AM013", "AM015"}
        try:
            location.from_vhost(conf)
            refused = False
        except ApacheMaintError:
            refused = True
        assert bool(reported) == refused, src.name


def test_down_makes_the_shared_folders_a_deploy_does_not(tmp_path):
    """Capistrano makes shared/ but, with linked_dirs empty, no shared/public/system."""
    app = capistrano(tmp_path / "app")
    shutil.rmtree(app / "shared" / "public")
    conf = tmp_path / "site.conf"
    conf.write_text(f"<VirtualHost *:80>\n    DocumentRoot {app}/current/public\n</VirtualHost>\n")
    state = tmp_path / "state"
    assert apachemaint("patch", "--no-configtest", conf, state=state).returncode == 0
    for how, where in (("--vhost", conf), ("--docroot", app / "current" / "public")):
        done = apachemaint("down", how, where, state=state)
        assert done.returncode == 0, done.stderr
        assert (app / "shared" / "public" / "system" / "maintenance.html").is_file()
        assert apachemaint("up", how, where, state=state).returncode == 0
    assert not list((app / "releases").glob("*/public/system"))
