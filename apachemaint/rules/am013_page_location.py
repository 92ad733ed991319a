"""The page path recorded in the block (where ``apachemaint down`` writes the page, and so
the flag) is not where Apache looks for it.

``down`` writes the block's ``page=``, with ``%{DOCUMENT_ROOT}`` replaced by the vhost's
own (first, top-level) ``DocumentRoot``.  Apache's ``%{DOCUMENT_ROOT}`` is the vhost's
*last* DocumentRoot; a ``${VAR}`` that httpd takes from a ``Define`` (down reads only its
environment), or a path relative to ServerRoot (down: its working folder) silently differ
too.  A vhost without a DocumentRoot of its own is AM015.

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ... page=%{DOCUMENT_ROOT}/system/maintenance.html ...
        # END apachemaint
        DocumentRoot /srv/app/releases/1/public
        DocumentRoot /srv/app/current/public
    </VirtualHost>

Passes: the same vhost with one ``DocumentRoot /srv/app/current/public``.
"""
import os

from ..findings import Severity
from ..server import VARIABLE
from .scope import vhost_level

CODE = "AM013"
SUMMARY = "flag path in the block disagrees with where `down` writes the page"
SEVERITY = Severity.ERROR

_DOCROOT = "%{DOCUMENT_ROOT}"


def check(ctx):
    if not ctx.managed:
        return
    if not ctx.managed[0].marker.options.page.startswith(_DOCROOT):
        return
    top = [d for d in ctx.vhost.own_children() if getattr(d, "lname", "") == "documentroot" and d.args]
    seen = [d for d in vhost_level(ctx) if d.lname == "documentroot" and d.args]
    if not top:
        return  # AM015: down finds no DocumentRoot and says so
    if len({d.args[0] for d in seen}) > 1:
        yield seen[-1].line, (f"several DocumentRoot lines (the first at line {top[0].line}): Apache "
                              "uses this last one, so the page down writes may not be where Apache "
                              "looks; keep one")
        return
    value = top[0].args[0]
    names = VARIABLE.findall(value)
    # down fills ${VAR} from its own environment only; httpd takes a Define first.
    defined = [n for n in names if n in ctx.server.defined
               and os.environ.get(n) != ctx.server.defined[n]]
    if defined:
        yield top[0].line, (f"DocumentRoot {value}: httpd takes ${{{defined[0]}}} from a Define "
                            f"({ctx.server.defined[defined[0]]}), down from its environment, so the page "
                            "may land elsewhere; write the path out")
    elif not value.startswith(("/", "${")):
        yield top[0].line, (f"DocumentRoot {value} is relative: httpd reads it from ServerRoot, "
                            "down from its working folder; write an absolute path")
