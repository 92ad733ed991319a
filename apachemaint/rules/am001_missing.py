"""A vhost that serves content has no apachemaint block, so it stays up during maintenance.

Fails::

    <VirtualHost *:80>
        ProxyPass / http://127.0.0.1:3000/
    </VirtualHost>

Passes: the same vhost after ``apachemaint patch`` (a ``# BEGIN apachemaint`` block first).
"""
from __future__ import annotations

from ..findings import Severity

CODE = "AM001"
SUMMARY = "vhost has no maintenance block"
SEVERITY = Severity.ERROR
FIXABLE = True  # `check --fix` runs patch on it


def check(ctx):
    vh = ctx.vhost
    if ctx.managed or ctx.legacy or ctx.redirect_only:
        return
    yield vh.line, f"{vh.tag} has no maintenance block (run: apachemaint patch {ctx.cf.path})"
