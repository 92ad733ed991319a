"""The maintenance allow-list matches ``X-Forwarded-For`` or ``X-Real-IP`` directly.

Any client can send those headers, so anyone can walk past the maintenance page.  Behind a
trusted proxy, let mod_remoteip set the client address (``RemoteIPHeader``,
``RemoteIPTrustedProxy``) and allow with ``apachemaint patch --allow-ip``, which tests the
client address with ``-R``.

Fails::

    RewriteCond %{HTTP:X-Forwarded-For} !^203\\.0\\.113\\.7$
    RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f
    RewriteRule ^ - [R=503,L]

Passes::

    RewriteCond expr "! -R '203.0.113.7/32'"
    RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f
    RewriteRule ^ - [R=503,L]
"""
from __future__ import annotations

import re

from ..findings import Severity
from .scope import MAINTENANCE_WORDS, chains, is_maintenance_rule, vhost_level

CODE = "AM012"
SUMMARY = "allow-list trusts X-Forwarded-For/X-Real-IP (spoofable) instead of mod_remoteip"
SEVERITY = Severity.WARNING

# Compiled by re on first use (and kept in its cache): most vhosts never name the header.
_HEADER = (r"(?i)%\{HTTP:(X-Forwarded-For|X-Real-IP)\}|\b(?:req|http|req_novary)\(\s*['\"]"
           r"(X-Forwarded-For|X-Real-IP)['\"]")


def check(ctx):
    if not (ctx.mentions("x-forwarded-for", "x-real-ip") and ctx.mentions(*MAINTENANCE_WORDS)):
        return
    for conds, rule in chains(list(vhost_level(ctx))):
        if not (is_maintenance_rule(rule) or any(is_maintenance_rule(c) for c in conds)):
            continue
        for cond in conds:
            m = re.search(_HEADER, cond.raw_args)
            if m:
                header = m.group(1) or m.group(2)
                yield cond.line, (f"maintenance allow-list matches the {header} header, which any client "
                                  "can send; use mod_remoteip and apachemaint patch --allow-ip")
