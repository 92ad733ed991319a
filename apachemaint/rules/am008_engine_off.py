"""``RewriteEngine Off`` later in the vhost switches the maintenance block off.

The last ``RewriteEngine`` of a context wins, so the block's own ``RewriteEngine On`` is
overridden and the site answers normally during maintenance.  (``RewriteEngine Off``
inside a ``<Directory>`` or ``<Location>`` only concerns that section's own rules.)

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ...
        RewriteEngine On
        ...
        # END apachemaint
        RewriteEngine Off
    </VirtualHost>

Passes: the same vhost without the ``RewriteEngine Off`` line (or with it inside a
``<Directory>``).
"""
from ..findings import Severity
from .scope import in_managed_block, vhost_level

CODE = "AM008"
SUMMARY = "RewriteEngine Off later in the vhost disables the maintenance block"
SEVERITY = Severity.ERROR


def check(ctx):
    start = ctx.maintenance_start
    if start is None:
        return
    for d in vhost_level(ctx):
        if (d.start > start and d.lname == "rewriteengine" and d.args[:1]
                and d.args[0].lower() == "off" and not in_managed_block(ctx, d)):
            yield d.line, "RewriteEngine Off here overrides the maintenance block's RewriteEngine On"
