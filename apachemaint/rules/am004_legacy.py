"""The classic Capistrano maintenance recipe is in use.

It answers 200 (search engines index the page, monitors see "up") and its asset list sends
scripts, fonts and upper-case extensions to the page.

Fails::

    RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f
    RewriteCond %{SCRIPT_FILENAME} !maintenance.html
    RewriteRule ^.*$ /system/maintenance.html [L]

Passes: the vhost after ``apachemaint patch``, which replaces the recipe with the managed block.
"""
from ..block import find_legacy, find_managed
from ..findings import Severity

CODE = "AM004"
SUMMARY = "classic Capistrano maintenance block (answers 200)"
SEVERITY = Severity.ERROR


def check(ctx):
    legacy = find_legacy(ctx.vhost.section)
    if legacy and not find_managed(ctx.cf, ctx.vhost.section):
        yield legacy.line, ("classic Capistrano maintenance rules answer 200, not 503 "
                            "(run apachemaint patch to replace them)")
