"""``RewriteEngine Off`` later in the vhost switches its maintenance rules off.

The last ``RewriteEngine`` of a context wins, so the ``RewriteEngine On`` of a hand-written
recipe or of an outdated managed block (v2 blocks before the one-decision block) is
overridden and the site answers normally during maintenance.  The current managed block
switches the engine on inside its own ``<If>``, which httpd merges after the vhost's
directives, so it is not affected.  (``RewriteEngine Off`` inside a ``<Directory>`` or
``<Location>`` only concerns that section's own rules.)

Fails::

    <VirtualHost *:80>
        RewriteEngine On
        RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f
        RewriteRule ^ - [R=503,L]
        RewriteEngine Off
    </VirtualHost>

Passes: the same vhost without the ``RewriteEngine Off`` line (or with it inside a
``<Directory>``), or with ``apachemaint patch`` run on it.
"""
from __future__ import annotations

from ..block import State
from ..findings import Severity
from .scope import in_managed_block, vhost_level

CODE = "AM008"
SUMMARY = "RewriteEngine Off later in the vhost disables its hand-written or outdated maintenance rules"
SEVERITY = Severity.ERROR


def check(ctx):
    start = ctx.maintenance_start
    if start is None:
        return
    if ctx.managed and all(ctx.state(f) is State.CURRENT for f in ctx.managed):
        return  # the current block switches the engine on in its <If>, which merges after this
    for d in vhost_level(ctx):
        if (d.start > start and d.lname == "rewriteengine" and d.args[:1]
                and d.args[0].lower() == "off" and not in_managed_block(ctx, d)):
            yield d.line, ("RewriteEngine Off here overrides the maintenance rules' RewriteEngine On "
                          "(run apachemaint patch: the current block is not affected)")
