"""Redirect-only is decided per host name, and proven on a real Apache.

Each shape is a vhost that redirects some or all of its requests.  For every name it answers
to (and any Host at all where it is the server's default vhost), the unpatched vhost is asked
what it does; ``check``'s verdict must agree with what Apache did: AM010 (not applicable)
only where every request was redirected, AM001 wherever one was served.  Then the file is
patched and the page put in place: every request must be redirected or answered 503, never
served.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from http_client import get

from apachemaint import check, maintenance
from apachemaint import patch as patching

pytestmark = pytest.mark.apache

NAMES = ("example.com", "www.example.com")
UNKNOWN = "nobody-named-this.example.net"

HEAD = """<VirtualHost *:${APACHEMAINT_PORT}>
    ServerName example.com
    ServerAlias www.example.com
    DocumentRoot ${DOCROOT}
    <Directory ${DOCROOT}>
        Require all granted
    </Directory>
    RewriteEngine On
"""

# shape -> (its rewrite lines, the names (of NAMES) its content stays reachable on)
SHAPES = {
    "www-to-bare": ("RewriteCond %{HTTP_HOST} ^www\\.(.+)$ [NC]\n"
                    "RewriteRule ^/?(.*)$ http://%1/$1 [R=301,L]\n", {"example.com"}),
    "bare-to-www": ("RewriteCond %{HTTP_HOST} !^www\\. [NC]\n"
                    "RewriteRule ^/?(.*)$ http://www.%{HTTP_HOST}/$1 [R=301,L]\n", {"www.example.com"}),
    "not-canonical": ("RewriteCond %{HTTP_HOST} !^example\\.com(:[0-9]+)?$\n"
                      "RewriteRule ^/?(.*)$ http://example.com/$1 [R=301,L]\n", {"example.com"}),
    "or-chain-all-names": ("RewriteCond %{SERVER_NAME} =example.com [OR]\n"
                           "RewriteCond %{SERVER_NAME} =www.example.com\n"
                           "RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n", set()),
    "or-chain-one-name": ("RewriteCond %{SERVER_NAME} =www.example.com [OR]\n"
                          "RewriteCond %{SERVER_NAME} =shop.example.com\n"
                          "RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n",
                          {"example.com"}),
    "acme-excluded": ("RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/\n"
                      "RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]\n", set()),
    "https-off": ("RewriteCond %{HTTPS} off\n"
                  "RewriteRule ^/?(.*)$ https://%{HTTP_HOST}/$1 [R=301,L]\n", set()),
    # A header the client sends: a request that says https is served.
    "forwarded-proto": ("RewriteCond %{HTTP:X-Forwarded-Proto} !https\n"
                        "RewriteRule ^/?(.*)$ https://%{HTTP_HOST}/$1 [R=301,L]\n", None),
    "path-excluded": ("RewriteCond %{REQUEST_URI} !^/api/\n"
                      "RewriteRule ^/?(.*)$ https://%{HTTP_HOST}/$1 [R=301,L]\n", None),
}

# Something else on the same address comes first, so the shape is not the server's default.
FIRST = """<VirtualHost *:${APACHEMAINT_PORT}>
    ServerName first.example.org
    Redirect / http://first.example.org/
</VirtualHost>
"""


def vhost(shape: str) -> str:
    lines, _ = SHAPES[shape]
    return HEAD + "".join(f"    {ln}\n" for ln in lines.splitlines()) + "</VirtualHost>\n"


def site(tmp: Path) -> Path:
    docroot = tmp / "www"
    (docroot / ".well-known" / "acme-challenge").mkdir(parents=True)
    (docroot / "index.html").write_text("content\n")
    (docroot / "api").mkdir()
    (docroot / "api" / "index.html").write_text("api\n")
    (docroot / ".well-known" / "acme-challenge" / "token").write_text("acme\n")
    return docroot


def probes(default: bool) -> list[tuple[str, str, dict]]:
    hosts = list(NAMES) + ([UNKNOWN] if default else [])
    out = [(h, "/", {}) for h in hosts]
    out += [(h, "/", {"X-Forwarded-Proto": "https"}) for h in NAMES]
    out += [(h, "/api/", {}) for h in NAMES]
    return out


def answers(apache, default: bool) -> dict[tuple, int]:
    return {(h, p, tuple(x.items())): get(apache.url(p), headers={"Host": h, **x}).status
            for h, p, x in probes(default)}


def codes(findings) -> set[str]:
    return {f.code for f in findings}


@pytest.mark.parametrize("default", [False, True], ids=["second-on-address", "default-vhost"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_redirect_only_verdict_matches_apache_and_every_host_goes_down(shape, default, apache_factory,
                                                                        served_tmp_path):
    docroot = site(served_tmp_path)
    conf = served_tmp_path / "site.conf"
    conf.write_text(vhost(shape) if default else FIRST + vhost(shape))
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot)})

    seen = answers(apache, default)
    served = {k for k, status in seen.items() if status == 200}
    assert all(s in (200, 301, 302, 308) for s in seen.values()), seen
    _, reachable = SHAPES[shape]
    if reachable is not None and not default:  # the shapes' own claim, as Apache shows it
        assert {h for h, p, x in served if p == "/" and not x} == reachable

    # The server's view (--config): AM010 exactly when Apache redirected everything it was asked.
    findings = check.check_files([conf], config=apache.conf)
    ours = [f for f in findings if f.line == (1 if default else FIRST.count("\n") + 1)]
    verdict = codes(ours) & {"AM001", "AM010"}
    assert verdict == ({"AM001"} if served else {"AM010"}), (seen, ours)
    if served and not default:
        # A lone file cannot tell which vhost is the server's default; for names it agrees.
        assert "AM001" in codes(f for f in check.check_files([conf]) if f.line == ours[0].line)

    # Patched, and down: nothing of the site's content answers any more.
    patching.apply([patching.plan(conf)], configtest=False)
    apache.stop()
    apache.start()
    targets = maintenance.from_docroot(docroot)
    maintenance.down(targets, reason="test")
    during = answers(apache, default)
    assert not [k for k, s in during.items() if s == 200 and k[1] != "/.well-known/acme-challenge/token"], during
    maintenance.up(targets, grace=0)
    assert answers(apache, default) == seen
    shutil.rmtree(docroot / "system", ignore_errors=True)
