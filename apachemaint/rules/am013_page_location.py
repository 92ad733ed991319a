"""`down` cannot tell where the page goes, or would put it where Apache does not look.

Apache's ``%{DOCUMENT_ROOT}`` is the vhost's *last* DocumentRoot among those it reads; `down
--vhost` takes the same one (``location.page_of``), but it sees only the vhost file and its
own environment.  So it refuses (and this rule reports) a DocumentRoot with a ``${VAR}`` it
does not have (httpd may take it from a ``Define``), a relative DocumentRoot (httpd reads it
from ServerRoot), and DocumentRoot lines that disagree where some are inside ``<IfDefine>``
or ``<IfModule>`` (which one wins depends on how httpd is started).  With the server config
known, a ``${VAR}`` that httpd fills otherwise than down's environment is reported too.
A vhost without a DocumentRoot of its own is AM015.

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ... page=%{DOCUMENT_ROOT}/system/maintenance.html ...
        # END apachemaint
        DocumentRoot /srv/app/current/public
        <IfDefine STAGING>
            DocumentRoot /srv/app-staging/current/public
        </IfDefine>
    </VirtualHost>

Passes: the same vhost with one ``DocumentRoot /srv/app/current/public``, or several that
all name the same folder.
"""
from __future__ import annotations

from ..findings import Severity

CODE = "AM013"
SUMMARY = "down cannot tell where the page goes, or writes it where Apache does not look"
SEVERITY = Severity.ERROR


def check(ctx):
    if not ctx.managed:
        return
    from .. import location  # only with a block: see AM011
    page = ctx.managed[0].marker.options.page
    if not page.startswith(location.DOCROOT):
        return
    down = location.for_down(ctx.vhost, page)
    if down.page is None:
        if down.code == CODE and (ctx.server.known or not down.needs_server):
            yield down.line, down.why
        return
    apache = location.for_apache(ctx.vhost, page, ctx.server)
    if apache.page is not None and apache.page != down.page:
        yield down.line, (f"Apache looks for the page at {apache.page} (its variables come from Define and "
                          f"envvars), down writes it to {down.page}; write the DocumentRoot out")
