"""mod_rewrite, mod_headers or mod_setenvif is not loaded by the server that serves a patched vhost.

Unwrapped, the block then fails ``apache2 -t`` at the next reload, so the site cannot be
reloaded at all; without mod_headers the 503 also goes out without Retry-After and with a
cacheable page.  Only reported when the server config is known (``--config``, a detected
layout, or ``--use-apachectl``).

Fails: a patched vhost in a server whose ``mods-enabled/`` has no ``rewrite.load``.

Passes: the same vhost after ``a2enmod setenvif rewrite headers``.
"""
from __future__ import annotations

from ..block import MODULES
from ..findings import Severity

CODE = "AM006"
SUMMARY = "mod_rewrite, mod_headers or mod_setenvif not loaded for a patched vhost"
SEVERITY = Severity.ERROR

_NEEDED = tuple((m, f"mod_{m}") for m in MODULES)  # rewrite first: the classic recipe needs it alone


def check(ctx):
    modules = ctx.server.modules
    if modules is None or not (ctx.managed or ctx.legacy):
        return
    needed = _NEEDED if ctx.managed else _NEEDED[:1]
    line = ctx.managed[0].line if ctx.managed else ctx.legacy.line
    for key, name in needed:
        if key not in modules:
            yield line, (f"{name} is not loaded, so this maintenance block cannot work "
                         f"(a2enmod {key}, or LoadModule {key}_module)")
