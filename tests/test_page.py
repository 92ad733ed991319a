"""The page and its JSON twin without a browser: languages, escaping, self-containment,
refresh bounds; and over HTTP, that the page and the JSON tell the same facts."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from importlib import resources

import pytest
from conftest import serve_patched_proxy
from http_client import get
from run_cli import apachemaint

from apachemaint import maintenance, page
from apachemaint.errors import InvalidOption

NOW = datetime(2030, 5, 4, 10, 0, tzinfo=timezone.utc)
PLACEHOLDERS = {"down_because": {"reason"}, "expected": {"until"}, "local": {"time", "relative"}}


def html(reason="", until=None, **kw) -> str:
    return page.render_html(reason, page.parse_until(until, NOW), NOW, **kw).decode()


class Outline(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag):
        return [attrs for t, attrs in self.tags if t == tag]


@pytest.mark.parametrize("lang", page.bundled_languages())
def test_every_bundled_language_has_every_key_and_placeholder(lang):
    english, words = page.strings("en").words, page.strings(lang).words
    raw = json.loads((resources.files("apachemaint.templates") / "page" / "strings" / f"{lang}.json")
                     .read_text("utf-8"))
    assert set(raw) == set(english), "a translation must carry every key of en.json"
    for key, value in words.items():
        if isinstance(value, dict):
            assert "other" in value and all("{n}" in form for form in value.values()), key
        else:
            assert set(re.findall(r"\{(\w+)\}", value)) == PLACEHOLDERS.get(key, set()), key


def test_at_least_the_four_languages_the_issue_names_are_bundled():
    assert {"en", "de", "fr", "es"} <= set(page.bundled_languages())


@pytest.mark.parametrize("lang", page.bundled_languages())
def test_page_structure_in_every_language(lang):
    doc = Outline(html("upgrade", "30m", lang=lang, refresh=True))
    assert doc.all("html") == [{"lang": lang}], "ltr is the default: no dir attribute"
    assert len(doc.all("h1")) == 1 and len(doc.all("title")) == 1
    assert page.strings(lang).words["title"] in doc.text


@pytest.mark.parametrize("kw", [{}, {"until": "30m"}, {"until": "tomorrow morning", "refresh": True},
                                {"until": "2h", "refresh": True, "lang": "fr"}])
def test_page_is_self_contained(kw):
    text = html("<script src='https://evil.example/x.js'></script>", **kw)
    doc = Outline(text)
    refs = [a for _, attrs in doc.tags for k, a in attrs.items() if k in ("src", "href", "action", "srcset")]
    assert refs in ([], ["data:,"]), "nothing may be fetched: not the app's assets, not a third party"
    style = text[text.index("<style>"):text.index("</style>")]
    assert "url(" not in style and "@import" not in style
    assert all("src" not in attrs for tag, attrs in doc.tags if tag == "script")


def test_reason_is_escaped_in_every_language():
    for lang in page.bundled_languages():
        text = html('<img src=x onerror="alert(1)"> & more', lang=lang)
        assert "<img" not in text and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; more" in text


def test_server_text_is_the_fallback_and_the_script_only_comes_with_a_time():
    timed = Outline(html(until="2030-05-04T12:30:00Z"))
    assert timed.all("time") == [{"id": "until", "datetime": "2030-05-04T12:30:00+00:00"}]
    assert "2030-05-04 12:30 UTC" in timed.text and timed.all("script")
    free = Outline(html(until="after lunch"))
    assert free.all("time") == [{"id": "until"}] and "after lunch" in free.text and not free.all("script")
    assert not Outline(html()).all("script")


@pytest.mark.parametrize("until, seconds", [("30s", 60), ("2m", 120), ("1h", 300), ("after lunch", 300),
                                            (None, 300)])
def test_refresh_without_scripts_is_bounded(until, seconds):
    doc = Outline(html(until=until, refresh=True))
    assert {"http-equiv": "refresh", "content": str(seconds)} in doc.all("meta")
    assert not any(m.get("http-equiv") for m in Outline(html(until=until)).all("meta"))


def test_lang_region_own_file_and_errors(tmp_path):
    rtl = tmp_path / "ar.json"
    rtl.write_text('{"dir": "rtl"}')
    assert Outline(html(lang=str(rtl))).all("html") == [{"lang": "ar", "dir": "rtl"}]
    assert page.strings("de-AT").lang == "de-AT" and page.strings("de-AT").words["title"] == "Wartungsarbeiten"
    own = tmp_path / "whatever.json"
    own.write_text(json.dumps({"lang": "pt-BR", "title": "Em manutenção"}), encoding="utf-8")
    doc = Outline(html(lang=str(own)))
    assert doc.all("html")[0]["lang"] == "pt-BR" and "Em manutenção" in doc.text
    assert "Thank you for your patience." in doc.text, "keys a file leaves out come from English"
    (tmp_path / "nl.json").write_text('{"title": "Onderhoud"}')
    assert page.strings(str(tmp_path / "nl.json")).lang == "nl"
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "it.json").write_text('{"heading": "Hi {name}"}')
    with pytest.raises(InvalidOption, match="'heading' has a bad placeholder"):
        html(lang=str(tmp_path / "it.json"))
    for bad, why in [("xx", "no bundled translation"), ("en; rm", "not a language tag"),
                     (str(tmp_path / "bad.json"), "not valid JSON"), (str(tmp_path / "gone.json"), "cannot read")]:
        with pytest.raises(InvalidOption, match=why):
            page.strings(bad)


def test_json_twin_carries_the_same_facts():
    until = page.parse_until("2030-05-04T12:30:00Z", NOW)
    doc = json.loads(page.render_json("db <upgrade>", until, 9000, since=NOW))
    assert doc == {"status": 503, "maintenance": True, "lang": "en",
                   "message": "This site is down for maintenance: db <upgrade>.", "reason": "db <upgrade>",
                   "until": "2030-05-04T12:30:00+00:00", "until_text": "2030-05-04 12:30 UTC",
                   "retry_after": 9000, "since": "2030-05-04T10:00:00+00:00"}
    free = json.loads(page.render_json("", page.parse_until("after lunch", NOW), 300))
    assert (free["until"], free["until_text"], free["reason"], free["since"]) == (None, "after lunch", None, None)
    german = json.loads(page.render_json("Umzug", None, 300, lang="de"))
    assert (german["lang"], german["message"]) == ("de", "Diese Website wird gerade gewartet: Umzug.")


def test_a_type_map_carries_each_body_whole_and_the_default_again_without_a_language():
    bodies = [("en", b"<p>one</p>\n"), ("de", b"<p>zwei ----apachemaint-0----</p>"), ("pt-BR", b"tres\n")]
    text = page.type_map([(code, "text/html; charset=utf-8", body) for code, body in bodies])
    records = text.split(b"\n\n")
    assert len(records) == 4
    langs = [next((ln.split(b": ")[1] for ln in r.splitlines() if ln.startswith(b"Content-Language")), None)
             for r in records]
    assert langs == [b"en", b"de", b"pt-br", None]
    for record, (_, body) in zip(records, [*bodies, bodies[0]]):
        edge = next(ln for ln in record.splitlines() if ln.startswith(b"Body:"))[5:]
        inner = record.split(b"Body:" + edge + b"\n", 1)[1]
        assert inner.rstrip(b"\n") == (body if body.endswith(b"\n") else body + b"\n") + edge
        assert edge not in body


def test_a_custom_template_with_only_the_old_variables_still_renders(tmp_path):
    tpl = tmp_path / "mine.html.j2"
    tpl.write_text("<p>{{ reason }} until {{ until_text }} ({{ until_iso }}) since {{ since_iso }}</p>\n")
    out = page.render_html("x", page.parse_until("1h", NOW), NOW, tpl, lang="de").decode()
    assert out == "<p>x until 2030-05-04 11:00 UTC (2030-05-04T11:00:00+00:00) since 2030-05-04T10:00:00+00:00</p>\n"


def test_cli_render_lang_and_refresh(tmp_path):
    result = apachemaint("render", "--lang", "es", "--refresh", "--until", "20m", "--reason", "copias")
    assert result.returncode == 0, result.stderr
    assert '<html lang="es"' in result.stdout and "en mantenimiento: copias." in result.stdout
    assert 'http-equiv="refresh"' in result.stdout
    bad = apachemaint("render", "--lang", "xx")
    assert (bad.returncode, bad.stderr.count("\n"), "Traceback" in bad.stderr) == (2, 1, False)
    assert "no bundled translation (there are de, en, es, fr" in bad.stderr
    assert apachemaint("down", "--docroot", tmp_path, "--lang", "xx").returncode == 2
    assert not (tmp_path / "system").exists(), "a bad --lang writes nothing"


@pytest.mark.apache
def test_served_page_and_json_agree(apache_factory, backend, served_tmp_path):
    _, docroot, apache = serve_patched_proxy(apache_factory, backend, served_tmp_path)
    until = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    maintenance.down(maintenance.from_docroot(docroot), reason="Umzug <DB>", until=until.isoformat(), lang="de")
    got = get(apache.url("/shop"))
    api = get(apache.url("/api/v1/orders"), headers={"Accept": "application/json"})
    assert (got.status, api.status) == (503, 503)
    doc, facts = Outline(got.text), json.loads(api.body)
    assert doc.all("html")[0]["lang"] == "de" and "Diese Website wird gerade gewartet: Umzug <DB>." in doc.text
    assert facts["reason"] == "Umzug <DB>" and facts["until"] == doc.all("time")[0]["datetime"] == until.isoformat()
    assert parsedate_to_datetime(got.headers["Retry-After"]) == until == parsedate_to_datetime(
        api.headers["Retry-After"])
    assert 7190 <= facts["retry_after"] <= 7200
    assert facts["status"] == 503 and datetime.fromisoformat(facts["since"]) <= datetime.now(timezone.utc)
    assert len(backend.log) == 0


def test_the_page_names_the_site_escaped_and_none_without_one():
    named = Outline(html(site="<shop>.example"))
    assert named.all("p")[0] == {"id": "site"} and "<shop>.example" in named.text
    assert "<title>&lt;shop&gt;.example: Down for maintenance</title>" in html(site="<shop>.example")
    assert not any(a.get("id") == "site" for a in Outline(html()).all("p"))


def test_down_names_the_vhosts_servername_or_site_name(tmp_path):
    from apachemaint import patch as patching

    root = tmp_path / "www"
    root.mkdir()
    conf = tmp_path / "shop.conf"
    conf.write_text(f"<VirtualHost *:80>\n    ServerName shop.example\n    DocumentRoot {root}\n</VirtualHost>\n")
    patching.apply([patching.plan(conf)], configtest=False)
    flag = root / "system" / "maintenance.html"
    assert apachemaint("down", "--vhost", conf).returncode == 0
    assert '<p id="site">shop.example</p>' in flag.read_text()
    assert apachemaint("down", "--vhost", conf, "--site-name", "Shop & Co").returncode == 0
    assert '<p id="site">Shop &amp; Co</p>' in flag.read_text()
    assert apachemaint("up", "--vhost", conf).returncode == 0
    assert apachemaint("down", "--docroot", root).returncode == 0
    assert 'id="site"' not in flag.read_text()


@pytest.mark.parametrize("given, named", [("en,xx", "--langs 'xx'"), ("en,not a tag", "--langs 'not a tag'")])
def test_a_bad_language_in_langs_is_named_as_given_with_langs(given, named):
    with pytest.raises(InvalidOption) as caught:
        page.parse_langs(given)
    assert str(caught.value).startswith(named), caught.value
