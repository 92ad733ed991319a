"""A vhost is defined inside a ``<Macro>``.

Its block is copied into every ``Use`` of the macro, so all those sites share one block and
go down together when they share a DocumentRoot; ``check`` sees the template, not the
expanded vhosts.  Reported so a reviewer looks at the ``Use`` lines.

Reported::

    <Macro VHost $name>
        <VirtualHost *:80>
            ServerName $name
        </VirtualHost>
    </Macro>
    Use VHost a.example.com

Not reported: vhosts written out, not from a macro.
"""
from __future__ import annotations

from ..findings import Severity

CODE = "AM014"
SUMMARY = "vhost inside <Macro>: checked as a template, not per Use"
SEVERITY = Severity.WARNING


def check(ctx):
    if ctx.vhost.in_macro:
        macro = next(t for t in ctx.vhost.within if t.lower().startswith("<macro"))
        yield ctx.vhost.line, (f"{ctx.vhost.tag} is inside {macro}: its maintenance block is "
                               "copied into every Use of the macro; check each expansion")
