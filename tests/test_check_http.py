"""The linter's behaviour claims, proven on a real Apache: for each rule that predicts what
happens during maintenance, its firing fixture really fails to answer 503 while the page
(the flag) is present, and its ``_fp`` twin really answers 503 with the page.

Managed blocks in the fixtures are re-rendered with the current template first, so these
tests follow the block as it evolves."""
from __future__ import annotations

from pathlib import Path

import pytest
from http_client import get
from test_rules import RULES, codes_for, fixture_modules

from apachemaint import block, reader, vhosts
from apachemaint.httpd import DEFAULT_MODULES

pytestmark = pytest.mark.apache

PAGE = b"<!doctype html><title>Down for maintenance</title><h1>Back soon</h1>\n"


def current_blocks(text: str) -> str:
    cf = reader.parse(text)
    edits = []
    for vh in vhosts.find(cf):
        for found in block.find_managed(cf, vh.section):
            indent = cf.line_indent(found.start)
            edits.append((found.start, found.end, block.render(found.marker.options, indent)))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def serve(name: str, apache_factory, backend, tmp: Path):
    src = RULES / name
    docroot = tmp / "www"
    (docroot / "assets").mkdir(parents=True)
    (docroot / "assets" / "app.css").write_text("body{}\n")
    (docroot / "index.html").write_text("home\n")
    (docroot / "system").mkdir()
    page = docroot / "system" / "maintenance.html"
    page.write_bytes(PAGE)
    page.chmod(0o644)
    conf = tmp / name
    conf.write_text(current_blocks(src.read_text()))
    modules = fixture_modules(src) or DEFAULT_MODULES
    return apache_factory([conf], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)},
                          modules=modules)


def host_of(name: str) -> str:
    for line in (RULES / name).read_text().splitlines():
        if line.strip().lower().startswith("servername"):
            return line.split()[1]
    raise AssertionError(f"{name} names no ServerName")


# rule -> a path the app serves (proxied unless it is a file on disk)
BEHAVIOUR = {"AM004": "/orders/1", "AM005": "/orders/1", "AM007": "/orders/1", "AM008": "/orders/1"}


@pytest.mark.parametrize("code", sorted(BEHAVIOUR))
def test_firing_fixture_really_stays_up_during_maintenance(code, apache_factory, backend, served_tmp_path):
    name = f"{code}.vhost"
    assert code in codes_for(RULES / name)
    apache = serve(name, apache_factory, backend, served_tmp_path)
    resp = get(apache.url(BEHAVIOUR[code]), headers={"Host": host_of(name)})
    assert resp.status != 503, f"{code} predicts the site stays up, but Apache answered 503"
    assert resp.status == 200


@pytest.mark.parametrize("code", sorted(BEHAVIOUR))
def test_fixed_fixture_really_answers_503_with_the_page(code, apache_factory, backend, served_tmp_path):
    name = f"{code}_fp.vhost"
    assert code not in codes_for(RULES / name)
    apache = serve(name, apache_factory, backend, served_tmp_path)
    seen = len(backend.log)
    resp = get(apache.url(BEHAVIOUR[code]), headers={"Host": host_of(name)})
    assert (resp.status, resp.body) == (503, PAGE)
    assert len(backend.log) == seen


def test_alias_and_redirect_before_the_block_do_not_defeat_it(apache_factory, backend, served_tmp_path):
    """Why AM005 must not fire on mod_alias: the 503 wins for their URLs too."""
    apache = serve("AM005_fp.vhost", apache_factory, backend, served_tmp_path)
    host = {"Host": host_of("AM005_fp.vhost")}
    for path in ("/old-shop", "/old-shop/cart", "/files/", "/index.php"):
        resp = get(apache.url(path), headers=host)
        assert (resp.status, resp.body) == (503, PAGE), path
    (served_tmp_path / "www" / "system" / "maintenance.html").unlink()
    assert get(apache.url("/old-shop"), headers=host).status == 302
    assert get(apache.url("/files/app.css"), headers=host).text == "body{}\n"
