"""A vhost that only redirects is not patched: it never serves the page.

Only proven redirects count: every request the vhost can get must end in a redirect, for
each ServerName and ServerAlias, and for any Host at all when it is a default vhost
(``_default_``, no name of its own, or, with the server config, first on its address).
A condition on the host that leaves one of its names out, on the path, a query or a
header makes the vhost serve for some requests: it needs the block (AM001).  Conditions
that hold for all its requests (``%{HTTPS} off`` in a plain-HTTP vhost) and the exclusion
of ACME's ``/.well-known/`` challenge files do not.

Reported as information, so a reader of ``check`` output knows it was looked at.

Reported::

    <VirtualHost *:80>
        ServerName shop.example.com
        ServerAlias www.shop.example.com
        RewriteEngine on
        RewriteCond %{SERVER_NAME} =shop.example.com [OR]
        RewriteCond %{SERVER_NAME} =www.shop.example.com
        RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]
    </VirtualHost>

Not reported (AM001 instead): the bare host keeps serving its DocumentRoot::

    <VirtualHost *:80>
        ServerName shop.example.com
        ServerAlias www.shop.example.com
        DocumentRoot /srv/shop/public
        RewriteEngine on
        RewriteCond %{HTTP_HOST} ^www\\.(.+)$ [NC]
        RewriteRule ^/?(.*)$ http://%1/$1 [R=301,L]
    </VirtualHost>
"""
from __future__ import annotations

from ..findings import Severity

CODE = "AM010"
SUMMARY = "redirect-only vhost: not applicable"
SEVERITY = Severity.INFO


def check(ctx):
    if not ctx.managed and ctx.redirect_only:  # managed first: a patched vhost needs no redirect analysis
        yield ctx.vhost.line, f"{ctx.vhost.tag} only redirects; no maintenance block needed"
