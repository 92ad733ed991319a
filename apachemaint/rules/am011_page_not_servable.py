"""The maintenance page cannot be served: the DocumentRoot it lives under does not exist,
or the folder holding it is not granted to clients (``Require all denied`` wins for it).

The 503 still goes out, but with Apache's own bare error body instead of your page.  Only
the vhost's own ``<Directory>`` sections are known for a lone file; with the server config
the server-level ones (Debian's ``<Directory />`` deny, ``/var/www/`` grant) count too, and
the DocumentRoot is looked up on disk, as ``apache2 -t`` does (AH00112).

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ... page=%{DOCUMENT_ROOT}/system/maintenance.html ...
        # END apachemaint
        DocumentRoot /srv/app/public
        <Directory /srv/app/public>
            Require all denied
        </Directory>
    </VirtualHost>

Passes: the same vhost with ``Require all granted`` on ``/srv/app/public``.
"""
import os

from .. import location
from ..findings import Severity
from ..reader import Directive, Section
from ..server import expand

CODE = "AM011"
SUMMARY = "maintenance page not servable (DocumentRoot missing, or not granted by any Require)"
SEVERITY = Severity.WARNING

DOCROOT = "%{DOCUMENT_ROOT}"


def check(ctx):
    if not ctx.managed:
        return
    page = ctx.managed[0].marker.options.page
    line = ctx.managed[0].line
    if page.startswith(DOCROOT):
        found = _docroot(ctx)
        if found is None:
            return  # AM013 reports a vhost without a DocumentRoot
        root, where = found
        if "${" in root or not root.startswith("/"):
            return
        if ctx.server.on_host and not os.path.isdir(root):
            yield where, f"DocumentRoot {root} does not exist, so the maintenance page cannot be put there"
            return
        page = root.rstrip("/") + page[len(DOCROOT):]
    folder = page.rsplit("/", 1)[0] or "/"
    verdict, section = _access(ctx, folder)
    if verdict == "denied":
        yield line, (f"{folder} is denied to clients by {section.tag} (line {section.line}): the 503 "
                     "goes out with Apache's bare body, not the page; grant it (Require all granted)")


def _docroot(ctx) -> tuple[str, int] | None:
    where = location.for_apache(ctx.vhost, DOCROOT, ctx.server)  # the vhost's own, as AM013 sees it
    if where.page is not None:
        return where.page, where.line
    if where.code == "AM013":
        return None  # AM013 says why the DocumentRoot is not known
    glob_ = [d for d in ctx.server.server_level if d.lname == "documentroot" and d.args]
    if glob_:
        return expand(glob_[-1].args[0], ctx.server.variables), ctx.vhost.line
    return None


def _access(ctx, folder: str) -> tuple[str | None, Section | None]:
    """The Require verdict for ``folder``: sections merge shortest path first, the vhost's
    after the server's, and the last one that says something wins."""
    own = [n for n in ctx.nodes if isinstance(n, Section)]
    candidates = []
    for order, sec in enumerate(list(ctx.server.directories) + own):
        if sec.lname != "directory" or not sec.args or sec.args[0] == "~":
            continue
        path = expand(sec.args[0], ctx.server.variables).rstrip("/")
        if "${" in path or any(c in path for c in "*?["):
            continue
        if path == "" or folder == path or folder.startswith(path + "/"):
            candidates.append((path.count("/"), order, sec))
    verdict, by = None, None
    for _, _, sec in sorted(candidates, key=lambda c: c[:2]):
        said = _says(sec)
        if said:
            verdict, by = said, sec
    return verdict, by


def _says(sec: Section) -> str | None:
    out = None
    for node in sec.children:
        if isinstance(node, Section) and node.lname.startswith("require"):
            out = "granted"
        if not isinstance(node, Directive):
            continue
        args = [a.lower() for a in node.args]
        if node.lname == "require":
            out = "denied" if args == ["all", "denied"] else "granted"
        elif node.lname == "allow" and args[:1] == ["from"]:
            out = "granted"
        elif node.lname == "deny" and args == ["from", "all"] and out != "granted":
            out = "denied"
    return out
