"""The server's rewrite rules run before the maintenance block.

``RewriteOptions InheritBefore`` in the vhost, or ``InheritDownBefore`` in the server config,
makes httpd run the server's own RewriteRules ahead of the vhost's, so ahead of the block,
which must come first to answer 503.  A server rule that proxies (``[P]``), redirects or
ends the rewriting (``[L]``, ``[END]``) answers during maintenance: that path stays up.
The block cannot stand before the server's rules, so ``down --vhost`` refuses such a vhost.
Without the server config only the vhost's ``InheritBefore`` is seen, and reported (the
server may hold such rules); with it, only when the server has a rule that answers.

Fails::

    RewriteEngine On
    RewriteRule ^/legacy/(.*)$ http://127.0.0.1:8080/$1 [P]
    <VirtualHost *:80>
        # BEGIN apachemaint ...
        # END apachemaint
        RewriteEngine On
        RewriteOptions InheritBefore
    </VirtualHost>

Passes: ``RewriteOptions Inherit`` (or ``InheritDown``): the server's rules run after the
vhost's, so after the block; or the server's rule moved into the vhost, below the block.
"""
from __future__ import annotations

from ..findings import Severity
from .scope import rule_flags

CODE = "AM019"
SUMMARY = "the server's rewrite rules run before the maintenance block (RewriteOptions InheritBefore)"
SEVERITY = Severity.ERROR
ANSWERS = frozenset({"p", "r", "l", "end", "f", "g"})  # flags that end rewriting with an answer


def check(ctx):
    if not ctx.managed:
        return
    own = ctx.vhost.inherits_rules_first
    server = [d for d in ctx.server.server_level if d.lname == "rewriteoptions"
              and "inheritdownbefore" in d.raw_args.lower()]
    if own is None and not server:
        return
    how = f"RewriteOptions {own.raw_args}" if own else f"the server's RewriteOptions {server[-1].raw_args}"
    if not ctx.server.known:
        yield own.line, (f"{how}: the server's rewrite rules run before the maintenance block, and a [P], "
                         "[R] or [L] rule there answers during maintenance; use RewriteOptions Inherit, "
                         "or check with --config")
        return
    answering = [d for d in ctx.server.server_level if d.lname == "rewriterule" and ANSWERS & rule_flags(d).keys()]
    if answering:
        rule = answering[0]
        yield (own.line if own else ctx.vhost.line), (
            f"{how}: the server's RewriteRule {rule.raw_args} (line {rule.line}) runs before the "
            "maintenance block and answers during maintenance; use RewriteOptions Inherit, or move "
            "the rule into the vhost below the block")
