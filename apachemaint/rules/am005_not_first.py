"""A RewriteRule that ends rewriting (``[L]``, ``[END]``, ``[P]``, ``[R]``) stands before the
maintenance block, so for the URLs it matches it wins during maintenance: the backend is
reached or the redirect is served instead of the 503.

A mod_alias ``Redirect``/``Alias``/``ProxyPass`` before the block is no problem: the
vhost's rewrite rules run first (translate_name), so the 503 still wins.  A rule without
one of those flags does not stop the block either.

Fails::

    <VirtualHost *:80>
        RewriteEngine On
        RewriteRule ^/(.*)$ http://127.0.0.1:8080/$1 [P,L]
        # BEGIN apachemaint v1 sha256:... page=%{DOCUMENT_ROOT}/system/maintenance.html
        ...
        # END apachemaint

Passes: the same vhost with the block first (where ``apachemaint patch`` puts it), or with
``Redirect /old /new`` before the block.
"""
from __future__ import annotations

from ..findings import Severity
from .scope import in_managed_block, rule_flags

CODE = "AM005"
SUMMARY = "a RewriteRule with [L]/[END]/[P]/[R] stands before the maintenance block"
SEVERITY = Severity.ERROR

_WINNING = {"l", "end", "p", "r"}


def check(ctx):
    if not ctx.managed:
        return
    start = ctx.managed[0].start
    for d in ctx.level_before(start):
        if d.lname == "rewriterule" and not in_managed_block(ctx, d):
            flags = rule_flags(d)
            won = sorted(f.upper() for f in flags.keys() & _WINNING)
            if won:
                yield d.line, (f"RewriteRule [{','.join(won)}] before the maintenance block (line "
                               f"{ctx.managed[0].line}) wins during maintenance for the URLs it "
                               "matches; move it below the block")
