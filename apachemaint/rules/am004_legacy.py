"""The classic Capistrano maintenance recipe is in use.

It answers 200 (search engines index the page, monitors see "up") and its asset list sends
scripts, fonts and upper-case extensions to the page.

Fails::

    RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f
    RewriteCond %{SCRIPT_FILENAME} !maintenance.html
    RewriteRule ^.*$ /system/maintenance.html [L]

Passes: the vhost after ``apachemaint patch``, which replaces the recipe with the managed block.
"""
from __future__ import annotations

from ..findings import Severity

CODE = "AM004"
SUMMARY = "classic Capistrano maintenance block (answers 200)"
SEVERITY = Severity.ERROR
FIXABLE = True  # `check --fix` runs patch on it


def check(ctx):
    if not ctx.managed and ctx.legacy:  # managed first: the block names the page too
        if "503" in ctx.legacy.nodes[-1].raw_args or any("503" in n.raw_args for n in ctx.legacy.nodes
                                                           if n.lname == "rewriterule"):
            yield ctx.legacy.line, ("hand-written Capistrano-style maintenance rules (503 flavour): no "
                                    "pass-through for the page, no Retry-After (run apachemaint patch to replace them)")
        else:
            yield ctx.legacy.line, ("classic Capistrano maintenance rules answer 200, not 503 "
                                    "(run apachemaint patch to replace them)")
