r"""mod_cache answers from its cache before the maintenance block runs.

``CacheEnable`` with ``CacheQuickHandler On`` (mod_cache's default) serves a stored response
from its quick handler, before any rewrite rule: every page the cache holds stays up through
the window for a visitor who does not ask for a fresh copy, and the backend never sees those
requests.  With ``CacheQuickHandler Off`` the cache runs as a handler, after mod_rewrite, so
the block's 503 wins (and a 503 is not stored).  A ``CacheEnable`` of the server's reaches
every vhost; a ``CacheQuickHandler`` of the vhost's own wins over the server's.

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ...
        # END apachemaint
        CacheEnable disk /
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>

Passes: the same vhost with ``CacheQuickHandler Off``, or without ``CacheEnable``.
"""
from __future__ import annotations

from ..findings import Severity
from ..reader import Directive

CODE = "AM020"
SUMMARY = "mod_cache serves stored pages before the maintenance block (CacheQuickHandler On)"
SEVERITY = Severity.ERROR


def check(ctx):
    if not ctx.managed:
        return
    server = [d for d in ctx.server.server_level if d.lname in ("cacheenable", "cachequickhandler")]
    if not server and not ctx.mentions("cacheenable"):
        return
    own = [n for n in ctx.nodes if type(n) is Directive and n.lname in ("cacheenable", "cachequickhandler")]
    enable = next((d for d in own + server if d.lname == "cacheenable"), None)
    if enable is None:
        return
    quick = [d for d in server + own if d.lname == "cachequickhandler" and d.args]
    if quick and quick[-1].args[0].lower() == "off":
        return
    where = enable.line if enable in own else ctx.vhost.line
    yield where, (f"CacheEnable {enable.raw_args}" + ("" if enable in own else " (the server's)")
                  + ": mod_cache answers a stored page before the maintenance block, so it stays up "
                  "through the window; add CacheQuickHandler Off to the vhost (the cache then runs "
                  "after the rewrite rules)")
