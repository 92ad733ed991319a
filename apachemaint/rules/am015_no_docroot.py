"""A patched vhost keeps its page under ``%{DOCUMENT_ROOT}`` but has no ``DocumentRoot`` of
its own, so ``apachemaint down --vhost`` refuses to guess where the page goes, and Apache
looks in the server's DocumentRoot, which every such vhost shares: one page there puts all
of them into maintenance at once.

``apachemaint patch`` gives such a vhost (a reverse proxy, a WSGI app) an absolute page of
its own, so this is a block patched before it did, or with that page asked for.  Reported as
information: nothing fails silently, but a flag shared by several sites is rarely meant.

Reported::

    <VirtualHost *:80>
        # BEGIN apachemaint ... page=%{DOCUMENT_ROOT}/system/maintenance.html ...
        # END apachemaint
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>

Not reported: the same vhost with ``DocumentRoot /srv/app/public``, or patched again (its
block then reads ``page=/var/www/apachemaint/SERVERNAME/maintenance.html``).
"""
from __future__ import annotations

from ..findings import Severity

CODE = "AM015"
SUMMARY = "no DocumentRoot of its own for a %{DOCUMENT_ROOT} page: down cannot place it"
SEVERITY = Severity.INFO


def check(ctx):
    if not ctx.managed:
        return
    from .. import location  # only with a block: see AM011
    page = ctx.managed[0].marker.options.page
    if not page.startswith(location.DOCROOT):
        return
    where = location.for_down(ctx.vhost, page)
    if where.page is None and where.code == CODE:
        yield where.line, (f"{where.why}; down --vhost cannot place the page: run apachemaint patch again "
                           "(it gives the vhost a page of its own), or add a top-level DocumentRoot")
