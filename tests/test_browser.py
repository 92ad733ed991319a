"""The default maintenance page as visitors see it: headless Chromium against a real Apache
that is in maintenance (a patched proxy vhost, then `maintenance.down`).

Screenshots land in artifacts/screenshots/ (see the README); they are test output, not
compared against anything.
"""
from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from chromium import Browser, find_binary
from conftest import serve_patched_proxy

from apachemaint import maintenance

pytestmark = [pytest.mark.apache, pytest.mark.browser]

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
NO_CHROMIUM = "chromium not installed; apt-get install chromium"
NASTY_REASON = ('<img src="/x.png" onerror="alert(1)"> migrating '
                "the_orders_table_to_the_new_schema_without_any_spaces_at_all")

# WCAG 2 contrast of every visible text node against the background it is painted on, from
# computed styles (semi-transparent layers composited up to the first opaque one).
CONTRAST = r"""(() => {
  const rgba = s => { const v = s.match(/[\d.]+/g).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const lum = c => { const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
                     return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const over = (top, under) => under.map((v, i) => top[i] * top[3] + v * (1 - top[3]));
  const background = el => {
    const layers = [];
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((acc, c) => over(c, acc), [255, 255, 255]);
  };
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || el.closest("script, style, noscript")) continue;
    const bg = background(el), fg = over(rgba(getComputedStyle(el).color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out.push({text: node.textContent.trim().slice(0, 30), ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return out;
})()"""

FACTS = """({lang: document.documentElement.lang, title: document.title,
  h1: document.querySelectorAll("h1").length, images: document.images.length,
  text: document.body.innerText, overflow: document.documentElement.scrollWidth - window.innerWidth,
  dark: matchMedia("(prefers-color-scheme: dark)").matches,
  time: (document.querySelector("time") || {}).textContent})"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {NO_CHROMIUM}", pytrace=False)
        pytest.skip(NO_CHROMIUM)
    chromium = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture
def tab(browser):
    t = browser.new_tab()
    yield t
    t.close()


@pytest.fixture
def site(apache_factory, backend, served_tmp_path):
    """A patched proxy vhost in front of the recording backend; `site.down(**kw)` starts maintenance."""
    _, docroot, apache = serve_patched_proxy(apache_factory, backend, served_tmp_path)

    def down(**kw):
        return maintenance.down(maintenance.from_docroot(docroot), **kw)

    return type("Site", (), {"url": staticmethod(apache.url), "down": staticmethod(down)})


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width, height", [(375, 812), (1440, 900)])
def test_default_page_renders_readably_offline_and_escaped(site, backend, tab, width, height, scheme):
    site.down(reason=NASTY_REASON, until="45m")
    tab.emulate(width, height, scheme)
    url = site.url("/orders/42")
    tab.goto(url)
    facts = tab.evaluate(FACTS)
    tab.screenshot(SCREENSHOTS / f"default-{width}-{scheme}.png")

    assert [r["status"] for r in tab.responses()] == [503]
    network = [r["request"]["url"] for r in tab.requests() if not r["request"]["url"].startswith("data:")]
    assert network == [url], "the page must not fetch anything"
    assert len(backend.log) == 0
    assert facts["dark"] is (scheme == "dark")
    assert facts["lang"] == "en" and facts["title"] == "Down for maintenance" and facts["h1"] == 1
    assert facts["overflow"] <= 0, f"{facts['overflow']}px of horizontal overflow at {width}px"
    assert '<img src="/x.png" onerror="alert(1)"> migrating' in facts["text"] and facts["images"] == 0
    low = [c for c in tab.evaluate(CONTRAST) if c["ratio"] < 4.5]
    assert not low, f"contrast below 4.5:1 in {scheme}: {low}"


def _local(at: datetime, zone: str, lang: str) -> str:
    """The clock time Intl.DateTimeFormat gives for `lang` (de: 24 h, en: 12 h)."""
    t = at.astimezone(ZoneInfo(zone))
    return f"{t:%H:%M}" if lang == "de" else f"{t.hour % 12 or 12}:{t:%M} {t:%p}"


@pytest.mark.parametrize("lang, zone, about", [
    ("de", "Asia/Kolkata", r"in etwa 4[45] Minuten"),
    ("en", "America/New_York", r"in about 4[45] minutes"),
])
def test_local_time_with_scripts_and_the_server_text_without(site, browser, tab, lang, zone, about):
    at = (datetime.now(timezone.utc) + timedelta(minutes=45)).replace(microsecond=0)
    result = site.down(reason="upgrade", until=at.isoformat(), lang=lang)
    server_text = at.strftime("%Y-%m-%d %H:%M UTC")
    assert server_text.encode() in result.html

    tab.emulate(375, 812, timezone=zone)
    tab.goto(site.url("/"))
    shown = tab.evaluate(FACTS)
    shown["time"] = re.sub(r"\s", " ", shown["time"])  # ICU puts a narrow no-break space before AM
    assert shown["lang"] == lang
    assert _local(at, zone, lang) in shown["time"] and re.search(about, shown["time"]), shown["time"]
    assert "UTC" not in shown["time"]

    without = browser.new_tab()
    try:
        without.emulate(375, 812, timezone=zone, scripts=False)
        without.goto(site.url("/"))
        fallback = without.evaluate(FACTS)
        without.screenshot(SCREENSHOTS / f"noscript-{lang}.png")
    finally:
        without.close()
    assert fallback["time"] == server_text


SPY = "window.__delays = []; const __st = window.setTimeout; " \
      "window.setTimeout = (f, d, ...a) => { window.__delays.push(d); return __st(f, d, ...a); };"


def test_refresh_reloads_when_the_end_is_reached_then_backs_off(site, tab):
    site.down(until="3s", refresh=True)
    tab.call("Page.addScriptToEvaluateOnNewDocument", source=SPY)
    tab.emulate(1440, 900)
    started = time.monotonic()
    tab.goto(site.url("/"))
    [first] = tab.evaluate("window.__delays")
    assert 1000 <= first <= 3750
    mark = len(tab.browser.events)
    tab.browser.wait_for("Page.loadEventFired", tab.session, timeout=10, start=mark)
    assert time.monotonic() - started < 8, "reloaded itself at the end"
    # Still in maintenance after the end: a minute, then two (with up to 20 % jitter).
    assert 60000 <= tab.evaluate("window.__delays")[0] <= 72000
    tab.goto(site.url("/"))
    assert 120000 <= tab.evaluate("window.__delays")[0] <= 144000
    documents = [r for r in tab.requests() if r.get("type") == "Document"]
    assert len(documents) == 3


def test_every_bundled_language_fits_a_phone(site, tab):
    from apachemaint.page import bundled_languages, strings

    tab.emulate(375, 812)
    for lang in bundled_languages():
        site.down(reason="Datenbank-Aktualisierung und Neuindizierung", until="90m", lang=lang, refresh=True)
        tab.goto(site.url("/"))
        facts = tab.evaluate(FACTS)
        tab.screenshot(SCREENSHOTS / f"lang-{lang}-375.png")
        assert (facts["lang"], facts["title"], facts["h1"]) == (lang, strings(lang).words["title"], 1)
        assert facts["overflow"] <= 0, f"{lang}: {facts['overflow']}px of horizontal overflow"


def test_readme_screenshot(site, tab):
    """docs/maintenance-page.png in the README is a copy of artifacts/screenshots/readme.png."""
    site.down(reason="database upgrade", until="30m")
    tab.emulate(960, 560, timezone="Europe/Berlin")
    tab.goto(site.url("/"))
    tab.screenshot(SCREENSHOTS / "readme.png")
    assert (SCREENSHOTS / "readme.png").stat().st_size < 100_000
