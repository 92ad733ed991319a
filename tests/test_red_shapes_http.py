"""Red team, part 1: vhosts written the way operators write them for real apps (a balancer,
a sub-path app behind `<Location>`, front controllers in `<Directory>` and `.htaccess`,
`FallbackResource`, an `Alias` app, a per-directory `[P]`, a snippet `Include`d for the
proxy, the site's own ErrorDocument 503 / Cache-Control / ProxyErrorOverride /
RequestHeader / Redirect), each patched, served by one real Apache in front of counting
backends and put down with `down --vhost`.  Down, every name and path answers the 503
with the page for GET and POST, with `Cache-Control: no-store`, and nothing reaches a
backend; `check` and `verify` are clean (test_cover_sweep_http's `sweep` does the asking)."""
from __future__ import annotations

from pathlib import Path

import pytest
from fcgi_responder import FcgiResponder
from http_client import request
from run_cli import apachemaint
from test_cover_sweep_http import PROXY, Shape, asks, serve, site, sweep

from apachemaint import location

pytestmark = pytest.mark.apache

BACKEND = "http://127.0.0.1:${{BACKEND_PORT}}"
PHP = """\
    DirectoryIndex index.php
    <FilesMatch "\\.php$">
        SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}"
    </FilesMatch>
"""

SHAPES = [
    # Odoo / Discourse behind a balancer of app servers.
    Shape("balancer", site("balancer", f"""\
    <Proxy balancer://app>
        BalancerMember {BACKEND}
        BalancerMember {BACKEND} status=+H
    </Proxy>
    ProxyPreserveHost On
    ProxyPass /static !
    ProxyPass / balancer://app/
    ProxyPassReverse / balancer://app/
"""), asks("balancer.test", "/", "/web/login", "/longpolling/poll") + asks("www.balancer.test", "/x")),
    # Grafana under a sub-path: the relative ProxyPass inside <Location>.
    Shape("subpath", site("subpath", f"""\
    <Location /grafana>
        ProxyPass {BACKEND}/grafana
        ProxyPassReverse {BACKEND}/grafana
        RequestHeader set X-Forwarded-Proto "http"
    </Location>
    <LocationMatch "^/matomo/(.*)$">
        ProxyPass {BACKEND}/matomo/$1
    </LocationMatch>
"""), asks("subpath.test", "/grafana", "/grafana/d/abc/overview", "/grafana/public/build/app.js",
           "/matomo/index.php")),
    # WordPress / Laravel front controller in <Directory>.
    Shape("front-dir", site("front-dir", PHP + """\
    <Directory {docroot}>
        RewriteEngine On
        RewriteBase /
        RewriteRule ^index\\.php$ - [L]
        RewriteCond %{{REQUEST_FILENAME}} !-f
        RewriteCond %{{REQUEST_FILENAME}} !-d
        RewriteRule . /index.php [L]
    </Directory>
"""), asks("front-dir.test", "/", "/2026/12/hello-world/", "/wp-admin/admin-ajax.php", "/feed"), "fcgi"),
    # Symfony's FallbackResource.
    Shape("fallback", site("fallback", PHP + "    FallbackResource /index.php\n"),
          asks("fallback.test", "/", "/api/orders/7", "/missing.css"), "fcgi"),
    # An app under an Alias folder outside the DocumentRoot (phpMyAdmin, Nextcloud on /cloud).
    Shape("alias-app", site("alias-app", """\
    Alias /cloud {root}/nextcloud
    <Directory {root}/nextcloud>
        Require all granted
        AllowOverride None
        DirectoryIndex index.php
        <FilesMatch "\\.php$">
            SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}"
        </FilesMatch>
    </Directory>
"""), asks("alias-app.test", "/cloud/", "/cloud/index.php", "/cloud/index.php/apps/files/"), "fcgi"),
    # A per-directory proxy rule.
    Shape("dir-proxy", site("dir-proxy", """\
    <Directory {docroot}>
        RewriteEngine On
        RewriteRule ^(.*)$ http://127.0.0.1:${{BACKEND_PORT}}/$1 [P,L]
    </Directory>
"""), asks("dir-proxy.test", "/", "/shop/cart", "/logo.png")),
    # The site's own error page, cache policy, proxy error override, headers to the app.
    Shape("own-errors", site("own-errors", """\
    ErrorDocument 503 /errors/503.html
    ErrorDocument 502 /errors/502.html
    Header always set Cache-Control "public, max-age=3600"
    Header always set Strict-Transport-Security "max-age=63072000"
    ProxyErrorOverride On
    RequestHeader set X-Forwarded-Proto "https"
    RequestHeader unset Authorization
    ProxyPass /errors !
""" + PROXY), asks("own-errors.test", "/", "/account/settings")),
    # An old path redirected, the rest proxied (the Redirect must not win over the window).
    Shape("redirect", site("redirect", """\
    Redirect permanent /blog https://blog.example.test/
    RedirectMatch 301 ^/old-shop/(.*)$ /shop/$1
""" + PROXY), asks("redirect.test", "/", "/shop/7")),
    # The proxy lines live in a snippet the vhost includes (Include is read where it stands).
    Shape("snippet", site("snippet", "    Include {root}/snippets/proxy.conf\n"),
          asks("snippet.test", "/", "/api/v4/projects")),
]


@pytest.fixture
def fcgi():
    with FcgiResponder() as responder:
        yield responder


MODULES = ("proxy_fcgi", "proxy_balancer", "lbmethod_byrequests", "slotmem_shm")


def _snippets(root: Path) -> None:
    (root / "snippet" / "snippets").mkdir(parents=True)
    (root / "snippet" / "snippets" / "proxy.conf").write_text(
        "ProxyPreserveHost On\nProxyPass / http://127.0.0.1:${BACKEND_PORT}/\nProxyPassReverse / http://127.0.0.1:${BACKEND_PORT}/\n")
    (root / "alias-app" / "nextcloud").mkdir(parents=True)
    (root / "alias-app" / "nextcloud" / "index.php").write_text("<?php\n")


def test_operator_shapes_go_down_on_every_name_and_path(apache_factory, backend, fcgi, served_tmp_path):
    _snippets(served_tmp_path)
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, SHAPES, modules=MODULES) == []


def test_down_answers_post_and_the_sites_own_headers_with_the_window(apache_factory, backend, fcgi,
                                                                    served_tmp_path):
    """POST (a form, an API call) gets the 503 too, and the 503 is `no-store` with a
    Retry-After even where the site sets a long public Cache-Control and its own 503 page."""
    _snippets(served_tmp_path)
    served = serve(apache_factory, backend, fcgi, served_tmp_path, SHAPES, modules=MODULES)
    for conf in served.confs.values():
        assert apachemaint("down", "--vhost", conf, "--reason", "red").returncode == 0
    backend.clear_log()
    fcgi.log.clear()
    problems = []
    for shape, (_scheme, address, host, path, _headers) in served.asks:
        page = location.from_vhost(served.confs[shape.name])[0].page.read_bytes()
        for method in ("POST", "PUT", "DELETE"):
            got = request(method, f"http://{address}{path}", headers={"Host": host, "Content-Type": "application/json"},
                          body=b'{"a": 1}')
            cache = got.headers.get("Cache-Control")
            if (got.status, got.body, cache) != (503, page, "no-store") or not got.headers.get("Retry-After"):
                problems.append(f"{shape.name} {method} {host}{path}: {got.status} {cache} {got.body[:60]!r}")
    assert problems == [] and not backend.log and not fcgi.log

