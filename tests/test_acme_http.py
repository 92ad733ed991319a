"""ACME http-01 during maintenance (issue 19): a certificate renewal that falls in a window
must still find its challenge file.  GET/HEAD of a file that exists under
``/.well-known/acme-challenge/`` in the webroot answers 200 from disk; a missing challenge,
any other method and everything else answer the 503 page, and nothing reaches the backend.
Real Apache, counting backend."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import serve_patched_proxy
from http_client import request

from apachemaint import patch as patching
from apachemaint.httpd import free_port
from apachemaint.patch import Action

pytestmark = pytest.mark.apache

PAGE = b"<!doctype html><title>Down</title><h1>Back soon</h1>\n"
TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
PROOF = f"{TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI\n".encode()


def challenge(webroot: Path) -> None:
    """What `certbot certonly --webroot -w WEBROOT` writes for one name."""
    folder = webroot / ".well-known" / "acme-challenge"
    folder.mkdir(parents=True)
    for d in (webroot / ".well-known", folder):
        d.chmod(0o755)
    (folder / TOKEN).write_bytes(PROOF)
    (folder / TOKEN).chmod(0o644)


def page_on(page: Path) -> None:
    page.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    page.write_bytes(PAGE)
    page.chmod(0o644)


def probes(apache, host: str) -> list:
    """Everything an ACME server and a visitor might send to ``host``; what must pass, what must not."""
    def fetch(method, path):
        return request(method, apache.url(path), headers={"Host": host})

    wrong = []
    ok = fetch("GET", f"/.well-known/acme-challenge/{TOKEN}")
    if (ok.status, ok.body) != (200, PROOF):
        wrong.append(("GET challenge", ok.status, ok.body[:60]))
    head = fetch("HEAD", f"/.well-known/acme-challenge/{TOKEN}")
    if head.status != 200:
        wrong.append(("HEAD challenge", head.status))
    for method, path in [("GET", "/.well-known/acme-challenge/missing-token"),
                         ("POST", f"/.well-known/acme-challenge/{TOKEN}"),
                         ("PUT", f"/.well-known/acme-challenge/{TOKEN}"),
                         ("GET", "/.well-known/acme-challenge/"),
                         ("GET", f"/.well-known/acme-challenge/{TOKEN}/x"),
                         ("GET", "/"), ("GET", "/orders/42"), ("POST", "/orders")]:
        resp = fetch(method, path)
        if (resp.status, resp.body) != (503, PAGE):
            wrong.append((method, path, resp.status, resp.body[:60]))
    return wrong


def test_a_challenge_file_passes_and_nothing_else(apache_factory, backend, served_tmp_path):
    _conf, docroot, apache = serve_patched_proxy(apache_factory, backend, served_tmp_path)
    challenge(docroot)
    # Maintenance off: the vhost runs as unpatched (its ProxyPass / takes the challenge URL too).
    assert request("GET", apache.url(f"/.well-known/acme-challenge/{TOKEN}"),
                   headers={"Host": "proxy.test"}).body == f"backend:/.well-known/acme-challenge/{TOKEN}".encode()
    backend.clear_log()
    page_on(docroot / "system" / "maintenance.html")

    assert probes(apache, "proxy.test") == []
    assert len(backend.log) == 0, [r.path for r, _ in backend.log]


PAGELESS = """\
<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>
    ServerName app.test
    ProxyPreserveHost On
    ProxyPass / http://127.0.0.1:${BACKEND_PORT}/
</VirtualHost>
"""


def test_a_vhost_without_documentroot_takes_challenges_from_the_servers(apache_factory, backend, served_tmp_path):
    """Such a vhost gets a page of its own; its webroot is the server's DocumentRoot it
    inherits (%{DOCUMENT_ROOT}: /var/www/html on Debian), where a `ProxyPass
    /.well-known/acme-challenge/ !` would serve the challenges outside maintenance too."""
    conf = served_tmp_path / "app.conf"
    conf.write_text(PAGELESS)
    pages = served_tmp_path / "pages"
    [fp] = [patching.plan(conf, {}, pages=str(pages))]
    patching.apply([fp], configtest=False)
    assert f"page={pages}/app.test/maintenance.html" in conf.read_text()
    server_root = served_tmp_path / "apache0"
    webroot = server_root / "htdocs"  # LoopbackApache's DocumentRoot
    webroot.mkdir(parents=True, mode=0o755)
    challenge(webroot)
    apache = apache_factory([conf], defines={"BACKEND_PORT": str(backend.port)},
                            extra_config=f'<Directory "{webroot}">\n    Require all granted\n</Directory>')
    assert apache.root == server_root.resolve()
    page_on(pages / "app.test" / "maintenance.html")

    assert probes(apache, "app.test") == []
    assert len(backend.log) == 0, [r.path for r, _ in backend.log]


# certbot --apache --redirect writes the first flavour; the second is the hand-made one that
# keeps the challenges on :80 (redirects.py recognises its exclusion).  Port 443 is played by
# a plain-HTTP vhost on SERVING_PORT, so the test follows the redirect by its path.  A
# vhost before them makes the :80 one a name-based vhost, not the address's default (which
# gets every other Host too, so it is not redirect-only and patch does patch it).
CERTBOT_REDIRECT = """\
%(default)s<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>
    ServerName acme.test
    DocumentRoot ${DOCROOT}
    <Directory ${DOCROOT}>
        Require all granted
    </Directory>
    RewriteEngine on
%(exclusion)s    RewriteCond %%{SERVER_NAME} =acme.test
    RewriteRule ^ https://%%{SERVER_NAME}%%{REQUEST_URI} [END,NE,R=permanent]
</VirtualHost>
<VirtualHost 127.0.0.1:${SERVING_PORT}>
    ServerName acme.test
    DocumentRoot ${DOCROOT}
    <Directory ${DOCROOT}>
        Require all granted
    </Directory>
    ProxyPass /.well-known/acme-challenge/ !
    ProxyPass / http://127.0.0.1:${BACKEND_PORT}/
</VirtualHost>
"""
DEFAULT = """\
<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>
    ServerName default.test
    Redirect 404 /
</VirtualHost>
"""
EXCLUSION = "    RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/\n"
A = Action
CASES = {  # id: (a vhost before it, the exclusion, what patch does to each vhost, :80 answers the challenge)
    "certbot": (DEFAULT, "", [A.INSERTED, A.NOT_APPLICABLE, A.INSERTED], 301),
    "with-exclusion": (DEFAULT, EXCLUSION, [A.INSERTED, A.NOT_APPLICABLE, A.INSERTED], 200),
    "certbot-as-default": ("", "", [A.INSERTED, A.INSERTED], 200),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_certbot_redirect_vhost_still_reaches_the_challenge(case, apache_factory, backend, served_tmp_path):
    """A :80 vhost that only redirects is left alone (AM010): with certbot's redirect the
    challenge follows it to the serving vhost, whose block lets the file through; with the
    exclusion the :80 vhost serves it itself, maintenance or not.  A :80 vhost that is the
    address's default is patched, and its block serves the challenge from its DocumentRoot."""
    default, exclusion, actions, first_status = CASES[case]
    docroot = served_tmp_path / "www"
    docroot.mkdir(mode=0o755)
    challenge(docroot)
    conf = served_tmp_path / "acme.conf"
    conf.write_text(CERTBOT_REDIRECT % {"exclusion": exclusion, "default": default})
    [fp] = [patching.plan(conf, {})]
    assert [r.action for r in fp.results] == actions
    patching.apply([fp], configtest=False)
    serving = free_port()
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port),
                                             "SERVING_PORT": str(serving)},
                            extra_config=f"Listen 127.0.0.1:{serving}")
    page_on(docroot / "system" / "maintenance.html")
    url = f"/.well-known/acme-challenge/{TOKEN}"

    first = request("GET", apache.url(url), headers={"Host": "acme.test"})
    if first_status == 200:
        assert (first.status, first.body) == (200, PROOF)
    else:
        assert first.status == 301 and first.headers["Location"] == f"https://acme.test{url}"
    followed = request("GET", f"http://127.0.0.1:{serving}{url}", headers={"Host": "acme.test"})
    assert (followed.status, followed.body) == (200, PROOF)
    # Everything else: the redirect (or the page, where :80 is patched), and the page behind it.
    other = request("GET", apache.url("/orders"), headers={"Host": "acme.test"})
    assert other.status == (503 if A.NOT_APPLICABLE not in actions else 301)
    other = request("GET", f"http://127.0.0.1:{serving}/orders", headers={"Host": "acme.test"})
    assert (other.status, other.body) == (503, PAGE)
    missing = request("GET", f"http://127.0.0.1:{serving}/.well-known/acme-challenge/nope",
                      headers={"Host": "acme.test"})
    assert (missing.status, missing.body) == (503, PAGE)
    assert len(backend.log) == 0, [r.path for r, _ in backend.log]
