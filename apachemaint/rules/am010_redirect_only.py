"""A vhost that only redirects is not patched: it never serves the page.

Reported as information, so a reader of ``check`` output knows it was looked at.

Reported::

    <VirtualHost *:80>
        Redirect permanent / https://shop.example.com/
    </VirtualHost>

Not reported: any vhost that serves files or proxies.
"""
from ..findings import Severity

CODE = "AM010"
SUMMARY = "redirect-only vhost: not applicable"
SEVERITY = Severity.INFO


def check(ctx):
    if ctx.vhost.redirect_only and not ctx.managed:
        yield ctx.vhost.line, f"{ctx.vhost.tag} only redirects; no maintenance block needed"
