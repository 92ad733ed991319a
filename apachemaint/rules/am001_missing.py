"""A vhost that serves content has no apachemaint block, so it stays up during maintenance.

Fails::

    <VirtualHost *:80>
        ProxyPass / http://127.0.0.1:3000/
    </VirtualHost>

Passes: the same vhost after ``apachemaint patch`` (a ``# BEGIN apachemaint`` block first).
"""
from ..block import find_legacy, find_managed
from ..findings import Severity
from ..vhosts import redirect_only

CODE = "AM001"
SUMMARY = "vhost has no maintenance block"
SEVERITY = Severity.ERROR


def check(ctx):
    vh = ctx.vhost
    if find_managed(ctx.cf, vh.section) or redirect_only(vh) or find_legacy(vh.section):
        return
    yield vh.line, f"{vh.tag} has no maintenance block (run: apachemaint patch {ctx.cf.path})"
