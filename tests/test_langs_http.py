"""`down --langs`: a page per language, chosen by a real Apache from Accept-Language (with
Vary), the HTML page and the JSON twin alike, in front of a proxied backend that no
maintenance request reaches; and what a server without mod_negotiation answers."""
from __future__ import annotations

import json

import pytest
from conftest import serve_patched_proxy
from http_client import request
from run_cli import apachemaint

from apachemaint import block
from apachemaint.httpd import DEFAULT_MODULES

pytestmark = pytest.mark.apache

GERMAN, FRENCH, SPANISH, ENGLISH = "Wir sind bald zurück", "Nous revenons bientôt", "Volvemos pronto", "back soon"


def _site(apache_factory, backend, root, monkeypatch, modules):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(root / "state"))

    def factory(includes, defines=None, **kw):
        return apache_factory(includes, defines, modules=modules, **kw)

    conf, docroot, apache = serve_patched_proxy(factory, backend, root)
    return docroot, apache


@pytest.fixture
def site(apache_factory, backend, served_tmp_path, monkeypatch):
    return _site(apache_factory, backend, served_tmp_path, monkeypatch, DEFAULT_MODULES + ("negotiation",))


def ask(apache, accept_language=None, *, method="GET", path="/orders/7", accept=None):
    headers = {"Host": "proxy.test"}
    if accept_language is not None:
        headers["Accept-Language"] = accept_language
    if accept:
        headers["Accept"] = accept
    return request(method, apache.url(path), headers=headers)


def text(resp) -> str:
    return resp.body.decode("utf-8")


def test_apache_picks_the_visitors_language_for_page_and_twin(site, backend):
    docroot, apache = site
    result = apachemaint("down", "--docroot", docroot, "--langs", "en,de,fr,es", "--reason", "db upgrade",
                         "--until", "30m")
    assert result.returncode == 0, result.stderr
    picks = {
        "de": GERMAN, "de-AT,de;q=0.9": GERMAN, "fr;q=0.9, de;q=0.8": FRENCH, "es-ES, es;q=0.8": SPANISH,
        "de;q=0.2, es": SPANISH, None: ENGLISH, "ja": ENGLISH, "fr;q=0, ja": ENGLISH,
    }
    for accept_language, words in picks.items():
        for method in ("GET", "POST"):
            resp = ask(apache, accept_language, method=method)
            assert resp.status == 503, (accept_language, method)
            assert words.lower() in text(resp).lower(), (accept_language, method, text(resp)[:300])
            assert "accept-language" in resp.headers.get("Vary", "").lower()
            assert resp.headers["Content-Type"].startswith("text/html")
            assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Retry-After"]
    assert '<html lang="de"' in text(ask(apache, "de"))
    # The flag page Capistrano-style tools and `status` read is the default language's.
    assert ENGLISH in (docroot / "system" / "maintenance.html").read_text().lower()
    # Where negotiation would answer 406 (an image request, a client refusing UTF-8), the
    # default language's page answers, as a window in one language would.
    for headers in ({"accept": "image/png"}, {"accept": "*/*", "accept_charset": "iso-8859-1"}):
        odd = request("GET", apache.url("/logo.png"), headers={
            "Host": "proxy.test", "Accept-Language": "de", "Accept": headers["accept"],
            **({"Accept-Charset": headers["accept_charset"]} if "accept_charset" in headers else {})})
        assert odd.status == 503 and ENGLISH in text(odd).lower()
    head = ask(apache, "fr", method="HEAD")
    assert head.status == 503 and head.body == b""

    for accept_language, lang in (("de", "de"), ("fr;q=0.9, de;q=0.8", "fr"), ("ja", "en"), (None, "en")):
        api = ask(apache, accept_language, accept="application/json")
        assert api.status == 503 and api.headers["Content-Type"].startswith("application/json")
        assert "accept-language" in api.headers.get("Vary", "").lower()
        doc = json.loads(api.body)
        assert doc["lang"] == lang and doc["reason"] == "db upgrade" and doc["status"] == 503
    assert "gewartet" in json.loads(ask(apache, "de", accept="application/json").body)["message"]
    assert len(backend.log) == 0

    # A window in one language afterwards: the maps of the last one must not answer.
    assert apachemaint("down", "--docroot", docroot, "--lang", "fr").returncode == 0
    assert FRENCH in text(ask(apache, "de")) and "Vary" not in ask(apache, "de").headers
    assert apachemaint("up", "--docroot", docroot).returncode == 0
    assert ask(apache, "de").text == "backend:/orders/7"
    assert not (docroot / "system" / block.STATE_DIR).exists()


def test_the_default_is_the_first_language_given(site, backend):
    docroot, apache = site
    assert apachemaint("down", "--docroot", docroot, "--langs", "de,en").returncode == 0
    assert GERMAN in text(ask(apache))
    assert GERMAN in text(ask(apache, "ja"))
    assert ENGLISH in text(ask(apache, "en")).lower()
    assert apachemaint("up", "--docroot", docroot).returncode == 0
    assert not (docroot / "system" / block.STATE_DIR / block.PAGE_MAP).exists()


def test_without_mod_negotiation_the_default_page_is_served_not_the_map(apache_factory, backend,
                                                                          served_tmp_path, monkeypatch):
    docroot, apache = _site(apache_factory, backend, served_tmp_path, monkeypatch, DEFAULT_MODULES)
    assert apachemaint("down", "--docroot", docroot, "--langs", "en,de").returncode == 0
    resp = ask(apache, "de")
    assert resp.status == 503 and ENGLISH in text(resp).lower()
    assert "Content-Language" not in text(resp) and "apachemaint-" not in text(resp)
    assert len(backend.log) == 0


@pytest.mark.parametrize("given, said", [
    (["--langs", "en,xx"], "no bundled translation"),
    (["--langs", "en,de", "--lang", "fr"], "give one"),
    (["--langs", "en,own.json"], ".json file goes with --lang"),
])
def test_bad_langs_are_refused_and_nothing_is_written(tmp_path, given, said):
    docroot = tmp_path / "www"
    docroot.mkdir()
    result = apachemaint("down", "--docroot", docroot, *given, state=tmp_path / "state")
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr
    assert list(docroot.iterdir()) == []
