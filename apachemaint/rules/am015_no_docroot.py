"""A patched vhost keeps its page under ``%{DOCUMENT_ROOT}`` but has no ``DocumentRoot`` of
its own (at its top level), so ``apachemaint down --vhost`` refuses to guess where the page
goes, and Apache looks in the server's DocumentRoot, which every such vhost shares: one page
there puts all of them into maintenance at once.

Reported as information: nothing fails silently, but a flag location shared by several
sites is rarely what was meant.

Reported::

    <VirtualHost *:80>
        # BEGIN apachemaint ... page=%{DOCUMENT_ROOT}/system/maintenance.html ...
        # END apachemaint
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>

Not reported: the same vhost with ``DocumentRoot /srv/app/public``, or a block patched with
an absolute ``--page /srv/app/shared/system/maintenance.html``.
"""
from ..findings import Severity
from .scope import vhost_level

CODE = "AM015"
SUMMARY = "no DocumentRoot of its own for a %{DOCUMENT_ROOT} page: down cannot place it"
SEVERITY = Severity.INFO


def check(ctx):
    if not ctx.managed or not ctx.managed[0].marker.options.page.startswith("%{DOCUMENT_ROOT}"):
        return
    vh = ctx.vhost
    if any(getattr(d, "lname", "") == "documentroot" for d in vh.own_children()):
        return
    nested = [d for d in vhost_level(ctx) if d.lname == "documentroot"]
    if nested:
        yield nested[-1].line, ("DocumentRoot only inside a conditional section: down looks for the "
                                "vhost's own DocumentRoot and finds none; move it to the vhost's top level")
    else:
        yield vh.line, (f"{vh.tag} has no DocumentRoot: its page is the server's, shared with every "
                        "vhost without one, and down --vhost cannot place it; add DocumentRoot or "
                        "patch with an absolute --page")
