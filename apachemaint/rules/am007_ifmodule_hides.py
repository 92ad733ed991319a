"""The maintenance rules sit inside an ``<IfModule>`` whose module is not loaded.

``apache2 -t`` passes and the rules silently do nothing: the site answers 200 during
maintenance.  Unwrapped, a missing mod_rewrite at least fails the config test loudly.
Also reported: a whole patched vhost inside ``<IfModule mod_rewrite.c>`` (or headers)
without that module, which takes the vhost and its block away.  Only reported when the
server config is known.

Fails (mod_rewrite not loaded)::

    <VirtualHost *:80>
        <IfModule mod_rewrite.c>
            RewriteEngine On
            RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f
            RewriteRule ^ - [R=503,L]
        </IfModule>
        ProxyPass / http://127.0.0.1:8080/
    </VirtualHost>

Passes: the same vhost once mod_rewrite is loaded, or the rules without the wrapper.
"""
from __future__ import annotations

from ..block import MODULES
from ..conditions import module_key
from ..findings import Severity
from ..reader import Section
from .scope import MAINTENANCE_WORDS, holds_maintenance

CODE = "AM007"
SUMMARY = "maintenance rules hidden by <IfModule> of a module that is not loaded"
SEVERITY = Severity.ERROR
SEES_INACTIVE = True  # the point is vhosts and sections httpd skips

_GUARDS = set(MODULES)


def check(ctx):
    if not ctx.server.known or not ctx.mentions(*MAINTENANCE_WORDS):
        return
    for outer in ctx.enclosing:
        if (outer.lname == "ifmodule" and not ctx.server.holds(outer)
                and module_key(outer.args[0].lstrip("!")) in _GUARDS
                and holds_maintenance(ctx.vhost.section)):
            yield outer.line, (f"{outer.tag} does not hold (module not loaded): the vhost at line "
                               f"{ctx.vhost.line} and its maintenance rules are skipped without an error")
            return
    if not ctx.mentions("<ifmodule"):  # no <IfModule> inside: nothing to walk for
        return
    # The block's own <IfModule negotiation_module> holds only the rules for `down --langs`;
    # without the module the block serves the default language, and nothing stays up.
    own = [(f.line, f.line + len(f.body) + 1) for f in ctx.managed]
    for node in ctx.nodes:
        if (isinstance(node, Section) and node.lname == "ifmodule" and not ctx.server.holds(node)
                and not any(first < node.line < last for first, last in own)
                and holds_maintenance(node)):
            yield node.line, (f"{node.tag} does not hold (module not loaded): the maintenance rules "
                              "inside it are skipped without an error and the site stays up")
