"""`down --langs` at the edges of content negotiation (F6): requests that mod_negotiation
would answer with its own 406 text, or by the shortest variant, get the default
language's page, still a 503 and still without reaching the backend."""
from __future__ import annotations

import pytest
from http_client import request
from run_cli import apachemaint
from test_langs_http import ENGLISH, GERMAN, _site, text

from apachemaint.httpd import DEFAULT_MODULES

pytestmark = pytest.mark.apache


@pytest.fixture
def site(apache_factory, backend, served_tmp_path, monkeypatch):
    return _site(apache_factory, backend, served_tmp_path, monkeypatch, DEFAULT_MODULES + ("negotiation",))

# Each refuses every variant of one dimension, alone or beside the usual browser headers.
REFUSING = [
    {"Accept": "text/html;q=0"},
    {"Accept": "text/html; q=0.0, application/json;q=0"},
    {"Accept": "*/*;q=0"},
    {"Accept": "text/html;level=1;q=0"},
    {"Accept-Encoding": "identity;q=0"},
    {"Accept-Encoding": "gzip, deflate, br, identity;q=0.000"},
    {"Accept-Encoding": "*;q=0"},
    {"Accept-Charset": "utf-8;q=0"},
    {"Accept-Charset": "*;q=0"},
]


@pytest.mark.parametrize("headers", REFUSING, ids=lambda h: repr(h))
def test_a_client_refusing_every_variant_gets_the_default_page_not_a_406(site, backend, headers):
    docroot, apache = site
    assert apachemaint("down", "--docroot", docroot, "--langs", "de,en").returncode == 0
    resp = request("GET", apache.url("/orders/7"), headers={"Host": "proxy.test", "Accept-Language": "en", **headers})
    assert resp.status == 503, headers
    assert GERMAN in text(resp), (headers, text(resp)[:300])
    assert "Not Acceptable" not in text(resp)
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Retry-After"]
    assert len(backend.log) == 0


@pytest.mark.parametrize("accept_language", ["*", "*;q=0.5", " * ", "en;q=0, de;q=0"])
def test_any_language_or_none_gets_the_default_one(site, backend, accept_language):
    docroot, apache = site
    assert apachemaint("down", "--docroot", docroot, "--langs", "de,en,fr,es").returncode == 0
    resp = request("GET", apache.url("/orders/7"), headers={"Host": "proxy.test", "Accept-Language": accept_language})
    assert resp.status == 503 and GERMAN in text(resp), (accept_language, text(resp)[:300])
    assert len(backend.log) == 0


def test_the_usual_headers_still_pick_the_language(site, backend):
    docroot, apache = site
    assert apachemaint("down", "--docroot", docroot, "--langs", "de,en").returncode == 0
    browser = {"Host": "proxy.test", "Accept-Language": "en-GB,en;q=0.9,de;q=0.8",
               "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
               "Accept-Encoding": "gzip, deflate, br, zstd"}
    resp = request("GET", apache.url("/orders/7"), headers=browser)
    assert resp.status == 503 and ENGLISH in text(resp).lower()
    assert "accept-language" in resp.headers.get("Vary", "").lower()
    assert len(backend.log) == 0
