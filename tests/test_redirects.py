"""The per-request redirect proof (``redirects``), on shapes a real Apache test would take
longer to show: wildcard aliases, ports, mod_rewrite's [OR] grouping, what is not provable."""
from __future__ import annotations

import pytest

from apachemaint import reader, vhosts


def only(text: str) -> vhosts.VHost:
    (vh,) = vhosts.find(reader.parse(text))
    return vh


def vhost(names: str, rules: str, address: str = "*:80") -> str:
    return (f"<VirtualHost {address}>\n{names}RewriteEngine On\n{rules}"
            "DocumentRoot /srv/site\n</VirtualHost>\n")


WWW_TO_BARE = "RewriteCond %{HTTP_HOST} ^www\\.(.+)$ [NC]\nRewriteRule ^/?(.*)$ http://%1/$1 [R=301,L]\n"
TO_HTTPS = "RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]\n"


@pytest.mark.parametrize(("names", "rules", "proven"), [
    ("ServerName www.a.example\n", WWW_TO_BARE, True),
    ("ServerName www.a.example\nServerAlias a.example\n", WWW_TO_BARE, False),
    # A wildcard alias stands for names the condition leaves out.
    ("ServerName www.a.example\nServerAlias *.a.example\n", WWW_TO_BARE, False),
    ("ServerName https://www.a.example:443\n", WWW_TO_BARE, True),
    # [OR] binds to the next condition; the group is then ANDed with the rest.
    ("ServerName a.example\nServerAlias b.example\n",
     "RewriteCond %{HTTP_HOST} =a.example [OR]\nRewriteCond %{HTTP_HOST} =b.example\n"
     "RewriteCond %{HTTPS} off\n" + TO_HTTPS, True),
    ("ServerName a.example\nServerAlias b.example\n",
     "RewriteCond %{HTTP_HOST} =a.example\nRewriteCond %{HTTP_HOST} =b.example\n" + TO_HTTPS, False),
    # Not known for every request: a query, a cookie, a file.
    ("ServerName a.example\n", "RewriteCond %{QUERY_STRING} !^$\n" + TO_HTTPS, False),
    ("ServerName a.example\n", "RewriteCond %{HTTP_COOKIE} !beta\n" + TO_HTTPS, False),
    ("ServerName a.example\n", "RewriteCond /srv/site/closed -f\n" + TO_HTTPS, False),
    # A rule that ends rewriting for some requests before the redirect: they are served.
    ("ServerName a.example\n", "RewriteRule ^/health$ - [L]\n" + TO_HTTPS, False),
    # A redirect of some paths first leaves the rest to the catch-all after it.
    ("ServerName a.example\n", "RewriteRule ^/old$ /new [R=301,L]\n" + TO_HTTPS, True),
])
def test_second_vhost_on_its_address(names, rules, proven):
    first = "<VirtualHost *:80>\nServerName first.example\nRedirect / http://first.example/\n</VirtualHost>\n"
    vh = vhosts.find(reader.parse(first + vhost(names, rules)))[1]
    assert vh.redirect_only is proven


def test_a_port_in_the_host_header_counts():
    # On :8080 a browser sends "a.example:8080", which an anchored name test misses.
    rules = "RewriteCond %{HTTP_HOST} ^a\\.example$\n" + TO_HTTPS
    assert only(vhost("ServerName a.example\n", rules, "_default_:80")).redirect_only_as(False) is True
    assert only(vhost("ServerName a.example\n", rules, "*:8080")).redirect_only_as(False) is False


def test_rewrite_rules_need_the_engine():
    text = vhost("ServerName a.example\n", TO_HTTPS).replace("RewriteEngine On\n", "")
    assert only(text).redirect_only_as(False) is False


def test_a_default_vhost_must_redirect_any_host():
    rules = "RewriteCond %{SERVER_NAME} =a.example\n" + TO_HTTPS
    vh = only(vhost("ServerName a.example\n", rules))
    assert vh.redirect_only_as(False) is True
    assert vh.redirect_only_as(True) is False
    assert only(vhost("", TO_HTTPS, "_default_:80")).redirect_only is True
