r"""A mass virtual host (mod_vhost_alias) puts all its sites down together, never one alone.

``VirtualDocumentRoot`` (or ``VirtualDocumentRootIP``) gives every name a folder of its own,
but the block looks for the flag before mod_vhost_alias maps the name, under the vhost's one
``DocumentRoot`` (or the block's absolute page): the same file for every site.  A page put
under one site's folder (``down --docroot /srv/sites/a.example.com/public``) is never read,
so that site stays up while ``down`` says maintenance is on.  ``down --vhost`` puts every name
of the vhost down together; a site that must go down alone needs a vhost of its own.

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ...
        # END apachemaint
        ServerAlias *.hosting.example
        DocumentRoot /srv/default
        VirtualDocumentRoot /srv/sites/%0/public
    </VirtualHost>

Passes: a vhost with one ``DocumentRoot`` for all its names.
"""
from __future__ import annotations

from ..findings import Severity
from ..reader import Directive

CODE = "AM021"
SUMMARY = "VirtualDocumentRoot: the page is one file for every name, not each site's own"
SEVERITY = Severity.WARNING
_NAMES = ("virtualdocumentroot", "virtualdocumentrootip")


def check(ctx):
    if not ctx.managed or not ctx.mentions("virtualdocumentroot"):
        return
    found = next((n for n in ctx.nodes if type(n) is Directive and n.lname in _NAMES and n.args), None)
    if found is None or found.args[0].lower() == "none":
        return
    yield found.line, (f"{found.name} {found.raw_args}: the block looks for the page under the vhost's one "
                       f"DocumentRoot, before each name is mapped to its folder, so a page under one site's "
                       "folder is never read and that site stays up; put the whole vhost down with "
                       "down --vhost, or give a site that must go down alone a vhost of its own")
