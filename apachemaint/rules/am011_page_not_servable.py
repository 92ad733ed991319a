r"""The maintenance page cannot be served: the DocumentRoot it lives under does not exist, or
clients are denied the file Apache serves for it (the armed copy in ``.apachemaint/``, else
the page itself) in a way the block's own grant does not undo.

The 503 still goes out, but with Apache's own bare error body instead of your page.  The
block grants its page itself: an ``<If>`` that holds only in the 503's ErrorDocument
redirect of a request the block put down (``REDIRECT_APACHEMAINT`` and ``REDIRECT_STATUS``
503, which a client cannot set, for the page's URL) says ``Require all granted``, and
``<If>`` merges last, so a server's ``<Directory />`` deny, a hardening
``<DirectoryMatch "/\.">`` and a site-wide ``Require valid-user`` all give way to it, for
the page and nothing else.  What it cannot undo is mod_access_compat: ``Order``/``Allow``/
``Deny`` (2.2) is a check of its own that must pass besides ``Require``, so a ``Deny from
all`` over the page's folder still hides it.  A block from before this grant (AM003) gets
the old verdicts: a ``Require`` that denies, or asks for credentials (the ErrorDocument is
checked as a request of its own, so a visitor without a login gets Apache's body).

Access is worked out as httpd merges it: ``<Directory>`` sections shortest path first (the
server's before the vhost's), then ``<DirectoryMatch>``, then ``<Files>``/``<FilesMatch>``
for the file's name, then ``<Location>``/``<LocationMatch>`` for the ErrorDocument's URL,
then ``<If>`` sections that hold only for the 503's error page (the block's own, or
``<If "%{ENV:REDIRECT_STATUS} == '503'">``); the last section that says something wins.
With the server config its sections count too (Debian's ``<Directory /> Require all
denied``, a hardening ``<DirectoryMatch>``), and the DocumentRoot is looked up on disk, as
``apache2 -t`` does (AH00112).

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ... page=%{DOCUMENT_ROOT}/system/maintenance.html ...
        # END apachemaint
        DocumentRoot /srv/app/public
        <Directory /srv/app/public>
            Order deny,allow
            Deny from all
        </Directory>
    </VirtualHost>

Passes: the same vhost with ``Require all denied`` instead of the ``Order``/``Deny`` pair
(the block's grant undoes it), or with ``Allow from all`` after the ``Deny``, or without
mod_access_compat's directives at all.
"""
from __future__ import annotations

import os
import re

from ..block import ERROR_URL, STATE_DIR
from ..findings import Severity
from ..reader import Directive, Section
from ..server import expand

CODE = "AM011"
SUMMARY = "maintenance page not servable (DocumentRoot missing, or not granted by any Require)"
SEVERITY = Severity.WARNING

DOCROOT = "%{DOCUMENT_ROOT}"
# Granted by the stock config of every platform apachemaint knows (Debian's /var/www/,
# RHEL's /var/www): a lone file's page there is taken as servable.
PLATFORM_GRANTED = ("/var/www",)
_COPY = "page.html"  # what the block serves while `down` has armed it
# An <If> that holds for the 503's ErrorDocument (the request the page is served in), e.g.
# <If "%{ENV:REDIRECT_STATUS} == '503'">: a grant there lets a visitor without a login see
# the page.  Another <If> holds for some requests only, and is not taken as a grant.
_ERROR_PAGE_ONLY = r"REDIRECT_STATUS\}\s*(?:==|=~|-eq)\s*['\"/^]*503\b"  # re compiles it on first use
_GRANT_ERROR_PAGE = "<If \"%{ENV:REDIRECT_STATUS} == '503'\"> Require all granted </If>"


def check(ctx):
    if not ctx.managed:
        return
    page = ctx.managed[0].marker.options.page
    line = ctx.managed[0].line
    if page.startswith(DOCROOT):
        found = _docroot(ctx)
        if found is None:
            return  # AM013/AM015 report a vhost without a DocumentRoot
        root, where = found
        if "${" in root or not root.startswith("/"):
            return
        if ctx.server.on_host and not os.path.isdir(root):
            yield where, f"DocumentRoot {root} does not exist, so the maintenance page cannot be put there"
            return
        page = root.rstrip("/") + page[len(DOCROOT):]
    folder, name = page.rsplit("/", 1)
    folder = folder or "/"
    for path, filename in ((f"{folder}/{STATE_DIR}", _COPY), (folder, name)):
        verdict, section = _access(ctx, path, filename)
        if verdict == "compat":
            yield line, (f"{path}/{filename} is denied to clients by mod_access_compat in {section.tag} "
                         f"(line {section.line}): the 503 goes out with Apache's bare body, not the page; "
                         "Order/Allow/Deny is checked apart from Require, so no grant undoes it: allow "
                         "the folder there (Allow from all, and no Deny from all)")
            return
        if verdict == "denied":
            yield line, (f"{path}/{filename} is denied to clients by {section.tag} (line {section.line}): "
                         "the 503 goes out with Apache's bare body, not the page; grant it "
                         f"(re-patch: the block grants its own page; or in the vhost {_GRANT_ERROR_PAGE})")
            return
        if verdict == "login":
            # The ErrorDocument is a request of its own, checked again: a visitor without
            # credentials gets the 503 with Apache's bare body (and its 401 note), not the page.
            yield line, (f"{path}/{filename} asks for credentials ({section.tag}, line {section.line}): a "
                         "visitor without them gets the 503 with Apache's bare body, not the page; grant "
                         f"it (re-patch: the block grants its own page; or in the vhost {_GRANT_ERROR_PAGE})")
            return
    if verdict is None and not ctx.server.known and not _under(folder, PLATFORM_GRANTED):
        yield line, (f"no section in this file grants {folder}, where the page lives: if the server "
                     "denies / (Debian, RHEL) the 503 goes out with Apache's bare body; grant it "
                     "(<Directory> with Require all granted), or check with --config")


def _docroot(ctx) -> tuple[str, int] | None:
    from .. import location  # here: a vhost without a block (a pre-commit check's AM001) never loads it
    where = location.for_apache(ctx.vhost, DOCROOT, ctx.server)  # the vhost's own, as AM013 sees it
    if where.page is not None:
        return where.page, where.line
    if where.code == "AM013":
        return None  # AM013 says why the DocumentRoot is not known
    glob_ = [d for d in ctx.server.server_level if d.lname == "documentroot" and d.args]
    if glob_:
        return expand(glob_[-1].args[0], ctx.server.variables), ctx.vhost.line
    return None


def _under(folder: str, roots: tuple[str, ...]) -> bool:
    return any(folder == r or folder.startswith(r.rstrip("/") + "/") for r in roots)


def _access(ctx, folder: str, filename: str) -> tuple[str | None, Section | None]:
    """The verdict for ``folder/filename``, served for the URL ``ERROR_URL``: sections in
    httpd's merge order, the last one that says something wins; "compat" when only
    mod_access_compat denies (which no Require undoes)."""
    own = [n for n in ctx.nodes if type(n) is Section]
    sections = list(ctx.server.directories) + own
    dirs, dir_matches, files, locations, ifs = [], [], [], [], []
    for order, sec in enumerate(sections):
        name, args = sec.lname, sec.args
        if not args:
            continue
        if name == "directory" and args[0] != "~":
            path = expand(args[0], ctx.server.variables).rstrip("/")
            if "${" in path or any(c in path for c in "*?["):
                continue
            if path == "" or folder == path or folder.startswith(path + "/"):
                dirs.append((path.count("/"), order, sec))
        elif name == "directorymatch" or (name == "directory" and args[0] == "~"):
            if _search(args[-1], folder + "/"):
                dir_matches.append(sec)
        elif name in ("files", "filesmatch"):
            regex = name == "filesmatch" or args[0] == "~"
            if (_search(args[-1], filename) if regex else _fnmatch(args[0], filename)) and _inside(sec, folder, ctx):
                files.append(sec)
        elif name in ("location", "locationmatch"):
            regex = name == "locationmatch" or args[0] == "~"
            url = args[-1]
            if _search(url, ERROR_URL) if regex else (url == "/" or ERROR_URL == url.rstrip("/")
                                                      or ERROR_URL.startswith(url.rstrip("/") + "/")):
                locations.append(sec)
        elif name == "if" and re.search(_ERROR_PAGE_ONLY, sec.raw_args):
            ifs.append(sec)  # merged after every other section: it has the last word
    ordered = [s for _, _, s in sorted(dirs, key=lambda c: c[:2])] + dir_matches + files + locations + ifs
    # Two separate checks, both of which must let a client in: authz_core's Require (the
    # last section that says one wins) and mod_access_compat's Order/Allow/Deny.  So
    # "Allow from all" does not undo an inherited "Require all denied" (as on a real Apache).
    authz, compat = (None, None), (None, None)
    for sec in ordered:
        require, old = _says(sec)
        if require:
            authz = (require, sec)
        if old:
            compat = (old, sec)
    if authz[0] == "denied":
        return authz
    if compat[0] == "denied":
        return "compat", compat[1]
    return authz  # None when no Require says: then the server's own decide (Debian: denied)


def _inside(files_section: Section, folder: str, ctx) -> bool:
    """A <Files> nested in a <Directory> applies only below that folder; one at the top applies everywhere."""
    for sec in [n for n in ctx.nodes if type(n) is Section] + list(ctx.server.directories):
        if sec.lname == "directory" and files_section in sec.children and sec.args:
            path = expand(sec.args[0], ctx.server.variables).rstrip("/")
            return folder == path or folder.startswith(path + "/")
    return True


def _search(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern.strip("\"'"), value) is not None
    except re.error:
        return False


def _fnmatch(pattern: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern.strip("\"'"))


def _says(sec: Section) -> tuple[str | None, str | None]:
    """What one section decides for everyone, by Require and by Order/Allow/Deny: each
    "granted", "denied", "login" (only clients with credentials) or None (nothing, or only
    for some clients)."""
    out = None
    order, allow_all, deny_all = None, False, False
    for node in sec.children:
        if type(node) is Section and node.lname.startswith("require"):
            out = "granted"  # <RequireAny>/<RequireAll>: taken as the site's own access rules
        if type(node) is not Directive:
            continue
        args = [a.lower() for a in node.args]
        if node.lname == "require":
            if args == ["all", "denied"]:
                out = "denied"
            elif args == ["all", "granted"]:
                out = "granted"
            elif args[:1] in (["valid-user"], ["user"], ["group"]):
                out = "login"
            else:
                out = out or None  # an address or an expression: only some clients
        elif node.lname == "order":
            order = "".join(args).replace(" ", "")
        elif node.lname == "allow" and args == ["from", "all"]:
            allow_all = True
        elif node.lname == "deny" and args == ["from", "all"]:
            deny_all = True
    compat = None
    if allow_all or deny_all or order:
        # mod_access_compat: "allow,deny" denies unless allowed and then not denied;
        # "deny,allow" allows unless denied and then not allowed again.
        if order == "deny,allow":
            compat = "granted" if allow_all or not deny_all else "denied"
        else:
            compat = "granted" if allow_all and not deny_all else "denied"
    return out, compat
