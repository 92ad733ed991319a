"""The page lies inside a deploy release (Capistrano, Mina, Deployer: ``current`` is a link to
``releases/N``, with ``shared/`` beside it).

A deploy during maintenance switches ``current`` to a new release, which has no page: the
site comes back at 200 while the migration still runs.  A rollback switches back to a
release that may still hold an old page: the site goes down unasked.  Capistrano 3 links no
folder into ``shared/`` by default (``linked_dirs`` is empty), so a DocumentRoot of
``…/current/public`` keeps ``public/system`` inside the release.  ``apachemaint patch`` puts
the page under ``shared/`` (``shared/public/system/maintenance.html``, where
capistrano-maintenance writes it); this is a block patched before it did.  On this machine
the folders are looked at; for a file checked elsewhere a ``/current/`` or ``/releases/N/``
in the path is taken as a release.

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ... page=%{DOCUMENT_ROOT}/system/maintenance.html ...
        # END apachemaint
        DocumentRoot /srv/shop/current/public
    </VirtualHost>

Passes: the same vhost patched with ``page=/srv/shop/shared/public/system/maintenance.html``,
or with ``public/system`` linked into ``shared/`` (``append :linked_dirs, "public/system"``).
"""
from __future__ import annotations

from ..findings import Severity

CODE = "AM017"
SUMMARY = "maintenance page inside a deploy release: a deploy or rollback while down moves the flag"
SEVERITY = Severity.WARNING


def check(ctx):
    if not ctx.managed:
        return
    from .. import location  # only with a block: see AM011
    where = location.for_apache(ctx.vhost, ctx.managed[0].marker.options.page, ctx.server)
    if where.page is None:
        return  # AM013/AM015 say why
    why = location.inside_release(where.page, location.disk_memo(ctx.server))
    if why:
        yield ctx.managed[0].line, (f"{why}: a deploy while down brings the site back, a rollback brings an "
                                    "old page back; run apachemaint patch again (the page goes to shared/), "
                                    "or link the page's folder into shared/ (linked_dirs)")
