"""Where a vhost's maintenance page lives: the one place that works it out.

The block records its page as ``page=``: an absolute path, or one under ``%{DOCUMENT_ROOT}``.
Apache fills ``%{DOCUMENT_ROOT}`` with the vhost's *last* DocumentRoot (through the
conditional sections it reads), ``${VAR}`` from a ``Define`` or its environment, and a
relative path from ServerRoot.  `down` sees only the vhost file and its own environment,
so it can place the page only where that is enough to know it; everywhere else it says why
not, and ``check`` reports the same reason (AM013, or AM015 for a vhost without a
DocumentRoot of its own).

Two layouts make a ``%{DOCUMENT_ROOT}`` page a bad choice, and ``patch`` picks an absolute
one there (``choose``):

- a vhost without a DocumentRoot (a reverse proxy, a WSGI app): its ``%{DOCUMENT_ROOT}`` is
  the server's, shared by every such vhost.  It gets a folder of its own, in the shared/
  folder of the Capistrano tree its app lives in, else ``Layout.site_pages/SERVERNAME/``;
- a DocumentRoot inside a Capistrano-style release (``current`` is a link to
  ``releases/N``, with ``shared/`` beside it): a page in the release is left behind by the
  next deploy and brought back by a rollback.  The page goes to the same place under
  ``shared/``, where capistrano-maintenance writes it (``shared/public/system/``), unless
  the page's folder already links out of the release (``linked_dirs``).
"""
from __future__ import annotations

import os
import re
import stat
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import block, reader, server, vhosts
from .block import BlockOptions, Legacy
from .errors import ApacheMaintError, InvalidOption
from .reader import CONDITIONALS, ConfigFile, Directive, Section

DOCROOT = "%{DOCUMENT_ROOT}"
PAGE_NAME = "maintenance.html"
DOCROOT_PAGE = "system/" + PAGE_NAME  # below a DocumentRoot (--docroot, the default page=)


@dataclass(frozen=True)
class Where:
    """A page file, or why it cannot be known (``page`` None) and which rule reports that."""
    page: str | None
    why: str = ""
    line: int = 0
    code: str = ""  # "AM013" or "AM015" when page is None
    needs_server: bool = False  # check without a server cannot tell (a ${VAR})


@dataclass(frozen=True)
class Root:
    """A vhost's DocumentRoot as Apache takes it: the directive, or why it is not known."""
    directive: Directive | None
    why: str = ""
    line: int = 0
    code: str = ""


def document_root(vh: vhosts.VHost, holds: Callable[[Section], bool] | None = None) -> Root:
    """The DocumentRoot Apache uses for ``vh``: the last one, as httpd reads them.

    ``holds`` says which conditional sections httpd reads (a known server); without it a
    DocumentRoot inside one may or may not count, and is only trusted when it agrees with
    every other that could win."""
    certain: list[Directive] = []  # the last DocumentRoot read for sure
    maybe: list[Directive] = []  # conditional ones after it
    _document_roots(vh.own_children(), False, holds, certain, maybe)
    if not certain and not maybe:
        return Root(None, f"{vh.tag} has no DocumentRoot: its %{{DOCUMENT_ROOT}} is the server's, "
                          "shared by every vhost without one", vh.line, "AM015")
    values = {d.args[0] for d in certain + maybe}
    if len(values) == 1 and certain:
        return Root(certain[0] if not maybe else maybe[-1])
    if not certain:
        return Root(None, f"DocumentRoot only inside <{_section_of(vh, maybe[-1])}>: down cannot tell "
                          "whether Apache reads it", maybe[-1].line, "AM015")
    lines = ", ".join(str(d.line) for d in certain + maybe)
    return Root(None, f"DocumentRoot lines that disagree, some inside conditional sections (lines {lines}): "
                      "down cannot tell which one Apache uses; keep one", maybe[-1].line, "AM013")


def _document_roots(nodes: list, conditional: bool, holds: Callable[[Section], bool] | None,
                    certain: list[Directive], maybe: list[Directive]) -> None:
    # A plain function, not a closure calling itself: that is a cycle per call, and the CLI
    # runs with the cycle collector off.
    for node in nodes:
        if type(node) is Directive and node.lname == "documentroot" and node.args:
            if conditional:
                maybe.append(node)
            else:
                certain[:] = [node]
                maybe.clear()
        elif type(node) is Section and node.lname in CONDITIONALS:
            if holds is None:
                _document_roots(node.children, True, holds, certain, maybe)
            elif holds(node):
                _document_roots(node.children, conditional, holds, certain, maybe)


def _section_of(vh: vhosts.VHost, d: Directive) -> str:
    inner = vh.section
    for node in reader.walk(vh.section.children):
        if type(node) is Section and node.start <= d.start < node.end and node.lname in CONDITIONALS:
            inner = node
    return f"{inner.name} {inner.raw_args}".strip()


def page_of(vh: vhosts.VHost, page: str, variables: Mapping[str, str],
            holds: Callable[[Section], bool] | None = None, server_root: str | None = None) -> Where:
    """The file ``page`` (a block's ``page=``) names for ``vh``.

    With ``variables`` = down's environment and no ``holds``/``server_root``, it is where
    `down` writes; with a server's, where Apache looks."""
    if not page.startswith(DOCROOT):
        return Where(page)
    root = _root(vh, holds)
    if root.directive is None:
        return Where(None, root.why, root.line, root.code)
    written = root.directive.args[0]
    value = server.expand(written, variables) if "${" in written else written
    if "${" in value:
        name = server.VARIABLE.search(value).group(1)
        return Where(None, f"DocumentRoot {written}: ${{{name}}} is not in down's environment (httpd may "
                           "take it from a Define); write the path out",
                     root.directive.line, "AM013", needs_server=True)
    if not value.startswith("/"):
        if server_root is None:
            return Where(None, f"DocumentRoot {written} is relative: httpd reads it from ServerRoot, which "
                               "down does not know; write an absolute path", root.directive.line, "AM013")
        value = f"{server_root.rstrip('/')}/{value}"
    return Where(value.rstrip("/") + page[len(DOCROOT):], line=root.directive.line)


def for_down(vh: vhosts.VHost, page: str) -> Where:
    """Where `down` puts ``page`` for ``vh``: what the vhost file (its own Defines before the
    vhost count, as httpd reads them first) and down's environment tell."""
    return _memo(vh, ("down", page), lambda: page_of(vh, page, {**os.environ, **vh.defined}
                                                         if vh.defined else os.environ))


def for_apache(vh: vhosts.VHost, page: str, srv) -> Where:
    """Where Apache looks for ``page``, with what is known of its server (a rules.ServerContext)."""
    if not srv.known:
        return for_down(vh, page)
    return _memo(vh, (id(srv), page), lambda: page_of(vh, page, srv.variables, srv.holds))


def _root(vh: vhosts.VHost, holds: Callable[[Section], bool] | None) -> Root:
    """document_root, once per vhost and server: rules ask for the page and for the
    DocumentRoot itself, each a page_of of its own.  (``srv.holds`` is a new bound method
    on every access, so the server it is bound to is the key.)"""
    memo = vh.__dict__.setdefault("_roots", {})
    key = id(getattr(holds, "__self__", holds))
    found = memo.get(key)
    if found is None:
        found = memo[key] = document_root(vh, holds)
    return found


def _memo(vh: vhosts.VHost, key: tuple, make: Callable[[], Where]) -> Where:
    # Kept with the vhost: four rules ask it of every vhost of a server.
    memo = vh.__dict__.setdefault("_pages", {})
    found = memo.get(key)
    if found is None:
        found = memo[key] = make()
    return found


# --- Capistrano-style releases ------------------------------------------------------------

@dataclass(frozen=True)
class Release:
    link: Path  # deploy_to/current, the link a deploy switches
    target: Path  # the release it points to now (real path)
    shared: Path  # deploy_to/shared
    inside: Path  # the path asked about, relative to the link


_DISK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def disk_memo(srv) -> dict | None:
    """What was found on disk during one check of a server (its vhosts share their folders),
    or None (nothing kept) when no server is known."""
    return _DISK.setdefault(srv, {}) if srv.known else None


def _release_link(path: str) -> str | None:
    """The real release ``path`` links to, when ``path`` is a link into a ``releases/``
    folder beside it and a ``shared/`` folder stands there too (Capistrano, Mina, Deployer)."""
    target = os.path.realpath(path)
    parent = os.path.realpath(os.path.dirname(path))
    if os.path.dirname(target) != os.path.join(parent, "releases"):
        return None
    return target if os.path.isdir(os.path.join(os.path.dirname(path), "shared")) else None


def _look(path: str) -> str | None:
    """None: ``path`` is not here; "": it is, and is no release link; else the release."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return (_release_link(path) or "") if stat.S_ISLNK(mode) else ""


def release_of(path: str | Path, disk: dict | None = None) -> Release | None:
    """The release ``path`` lies in, found on disk (None: no release, or not on this machine).
    ``disk`` keeps what each folder was found to be (see disk_memo)."""
    path = os.path.normpath(path)
    if not path.startswith("/"):
        return None
    parts = path.split("/")
    for i in range(2, len(parts) + 1):  # from the top: most paths stop at a folder that is not here
        anc = "/".join(parts[:i])
        found = disk.get(anc, False) if disk is not None else False
        if found is False:
            found = _look(anc)
            if disk is not None:
                disk[anc] = found
        if found is None:
            return None
        if found:
            return Release(Path(anc), Path(found), Path(anc).parent / "shared", Path(path).relative_to(anc))
    return None


_RELEASE_NAMES = re.compile(r"/(current|releases/[^/]+)/")


@dataclass(frozen=True)
class InRelease:
    why: str
    shared: str  # the folder's counterpart under shared/


def in_release(folder: str, disk: dict | None = None) -> InRelease | None:
    """Whether ``folder`` is inside a release (so a deploy or rollback moves what is in it).

    On disk: it resolves into the release the link points to (not when it links out of it,
    as ``linked_dirs`` does).  Off this machine (a file checked in CI, ``new`` for a tree
    still to be deployed), a ``/current/`` or ``/releases/N/`` in the path is taken as one."""
    folder = os.path.normpath(folder)
    rel = release_of(folder, disk)
    if rel is not None:
        real = os.path.realpath(folder)
        if real != str(rel.target) and not real.startswith(str(rel.target) + "/"):
            return None
        shared = os.path.normpath(rel.shared / rel.inside)
        return InRelease(f"inside the release {rel.link} points to ({rel.target})", shared)
    m = _RELEASE_NAMES.search(folder + "/")
    if m is None or os.path.lexists(folder[:m.start()] + "/" + m.group(1).split("/")[0]):
        return None  # no such name, or it is here and was found to be no release link
    shared = os.path.normpath(f"{folder[:m.start()]}/shared/{(folder + '/')[m.end():]}")
    return InRelease("inside what looks like a deploy release (a current/ or releases/N/ folder)", shared)


def inside_release(page: str, disk: dict | None = None) -> str | None:
    """Why the page file ``page`` is inside a release, or None."""
    found = in_release(os.path.dirname(page), disk)
    return f"{page} is {found.why}" if found else None


def outside_release(page: str, disk: dict | None = None) -> str | None:
    """The same page under the release's ``shared/`` folder, when ``page`` is inside a
    release; None when it is not."""
    found = in_release(os.path.dirname(page), disk)
    return f"{found.shared}/{os.path.basename(page)}" if found else None


def for_docroot(docroot: str, page: str = block.DEFAULT_PAGE) -> str:
    """The page= for a vhost whose DocumentRoot is ``docroot``: ``page``, unless that puts
    the page inside a release; then the same file under shared/ (``new`` and ``patch``)."""
    if not page.startswith(DOCROOT) or not docroot.startswith("/"):
        return page
    return outside_release(docroot.rstrip("/") + page[len(DOCROOT):]) or page


# --- choosing the page when patching ------------------------------------------------------

@lru_cache(maxsize=1)
def site_pages() -> str:
    """The folder under which vhosts without a DocumentRoot get their page folders, as the
    installed platform's layout says (Debian's when none is installed)."""
    from . import layouts  # here: a check (pre-commit's) never needs the platform records

    lay = server.installed_layout() or layouts.LAYOUTS[0]
    return str(lay.site_pages)


_APP_PATHS = {"wsgiscriptalias": 1, "wsgiscriptaliasmatch": 1, "alias": 1, "aliasmatch": 1,
              "scriptalias": 1, "passengerapproot": 0}  # the argument that names a path
_NAME_SAFE = r"[^A-Za-z0-9._-]"  # re compiles it on first use: patching only


def _app_paths(vh: vhosts.VHost) -> list[str]:
    """Folders of the vhost's app, in file order: alias targets, WSGI options, <Directory>."""
    out = []
    for node in reader.walk(vh.own_children()):
        if type(node) is Directive:
            at = _APP_PATHS.get(node.lname)
            if at is not None and len(node.args) > at:
                out.append(node.args[at])
            elif node.lname == "wsgidaemonprocess":
                out += [a.split("=", 1)[1] for a in node.args[1:]
                        if a.startswith(("python-home=", "python-path=", "home="))]
        elif type(node) is Section and node.lname == "directory" and node.args:
            out.append(node.args[0])
    return [p for p in out if p.startswith("/")]


def _site_name(vh: vhosts.VHost) -> str:
    d = vh.first("servername")
    name = d.args[0] if d and d.args else ""
    name = name.split("://")[-1].split(":")[0].strip(".").lower()
    if not name:
        name = "vhost-" + (vh.section.args[0] if vh.section.args else "default")
    return re.sub(_NAME_SAFE, "_", name)


def own_page(vh: vhosts.VHost, pages: str | None = None, disk: dict | None = None) -> str:
    """A page of its own for a vhost without a DocumentRoot: in the shared/ folder of the
    Capistrano tree its app lives in, else ``PAGES/SERVERNAME/maintenance.html``."""
    for path in _app_paths(vh):
        rel = release_of(path, disk)
        if rel is not None:
            return str(rel.shared / "public" / DOCROOT_PAGE)
    return f"{(pages or site_pages()).rstrip('/')}/{_site_name(vh)}/{PAGE_NAME}"


def choose(vh: vhosts.VHost, page: str, pages: str | None = None, disk: dict | None = None) -> str:
    """The page= ``patch`` gives ``vh`` for a docroot-relative ``page`` that it was not told
    to use: a page of its own where the vhost has no DocumentRoot, the shared/ folder where
    the page would be inside a release, else ``page`` itself.  ``disk``: as for release_of,
    one for a whole run (its vhosts share their folders)."""
    if not page.startswith(DOCROOT):
        return page
    where = for_down(vh, page)
    if where.page is None:
        # Only a vhost with no DocumentRoot at all: one inside a conditional may be Apache's.
        if where.code == "AM015" and not _conditional_docroot(vh):
            return own_page(vh, pages, disk)
        return page
    return outside_release(where.page, disk) or page


def _conditional_docroot(vh: vhosts.VHost) -> bool:
    return any(type(n) is Directive and n.lname == "documentroot" for n in reader.walk(vh.own_children()))


def from_legacy(cf: ConfigFile, vh: vhosts.VHost, legacy: Legacy) -> str:
    """The page= that keeps the page a legacy recipe tests with ``RewriteCond FILE -f``.

    Raises when the file cannot be written as a page= that names the same file: another
    variable than %{DOCUMENT_ROOT}, or ``..`` that the kernel resolves through a link
    somewhere else than the text says (``current/public/../..`` is ``releases/``)."""
    tests = [n for n in legacy.nodes if n.lname == "rewritecond" and len(n.args) >= 2 and n.args[1] == "-f"
             and PAGE_NAME in n.args[0]]
    if not tests:
        return block.DEFAULT_PAGE
    cond = tests[0]
    path = cond.args[0]

    def refuse(why: str) -> ApacheMaintError:
        return ApacheMaintError(f"the maintenance recipe tests {path}: {why}; patch with --page giving the "
                                "file capistrano-maintenance (or your task) writes", cf.path, cond.line)

    rest = path[len(DOCROOT):] if path.startswith(DOCROOT) else path
    if "%{" in rest or "${" in rest:
        raise refuse("a variable apachemaint cannot follow")
    if "/../" in path or "/./" in path or "//" in path:
        base = for_down(vh, DOCROOT) if path.startswith(DOCROOT) else Where("")
        if base.page is None:
            raise refuse(f"{DOCROOT} is not known here ({base.why})")
        full = base.page + rest if path.startswith(DOCROOT) else path
        said = os.path.normpath(full)
        start = base.page or "/"
        if not os.path.isdir(start):
            raise refuse(f"{start} is not on this machine, so where '..' leads cannot be checked")
        real = os.path.realpath(full)  # '..' as the kernel takes it: after each link
        if real != os.path.realpath(said):
            raise refuse(f"'..' after a link leads to {real}, not {said}")
        path = said
    try:
        return BlockOptions(page=path).page
    except InvalidOption as exc:
        raise refuse(exc.message) from None


# --- the page locations `down`, `up` and `status` act on ----------------------------------

@dataclass(frozen=True)
class Target:
    """One page location, and what is known of the vhost(s) that serve it."""
    page: Path
    options: BlockOptions
    source: str  # where the location came from: "--docroot" or "FILE:LINE"
    patched: bool | None  # None when no vhost was named
    base: Path | None = None  # the folder that must exist (default: the page folder's parent)
    site: str | None = None  # the vhost's ServerName, which the page names

    @property
    def state(self) -> Path:
        return self.page.parent / block.STATE_DIR

    @property
    def root(self) -> Path:
        return self.base or self.page.parent.parent

    @property
    def walk(self) -> tuple[str, list[str]]:
        """Where `pagedir` starts (it must exist) and the folder names below it down to the
        page's folder: the folders `down` may make."""
        if self.root in self.page.parents:
            return str(self.root), list(self.page.parent.relative_to(self.root).parts)
        return str(self.page.parent.parent), [self.page.parent.name]

    @property
    def missing(self) -> list[Path]:
        """The folders from ``root`` (not included) down to the page's: what `down` may make."""
        if self.root not in self.page.parents:
            return [self.page.parent]
        out, folder = [], self.root
        for part in self.page.parent.relative_to(self.root).parts:
            folder = folder / part
            out.append(folder)
        return out


def base_of(page: str) -> Path | None:
    """The folder below which `down` may make the page's folders: the site-pages folder's
    parent for a page of its own, a deploy tree's shared/ (a deploy makes it, but not
    shared/public/system: Capistrano's linked_dirs is empty by default)."""
    p = Path(page)
    pages = Path(site_pages())
    if pages in p.parents:
        return pages.parent
    for anc in p.parents:
        if anc.name == "shared" and _look(str(anc.parent / "current")):
            return anc
    return None


def from_docroot(docroot: str | Path) -> list[Target]:
    """The page for a DocumentRoot; inside a release, the one under shared/ that a patched
    block looks at (see ``choose``)."""
    root = Path(docroot)
    if not root.is_dir():
        raise ApacheMaintError("document root does not exist or is not a folder", root)
    page = str(root.absolute() / DOCROOT_PAGE)
    moved = outside_release(page)
    return [Target(Path(moved or page), BlockOptions(), "--docroot", None, base_of(moved) if moved else None)]


def from_vhost(path: str | Path, *, down: bool = False) -> list[Target]:
    """The page locations the managed blocks of a vhost file look at; with ``down``, refused
    for a vhost whose maintenance some of its requests would not reach (AM019)."""
    cf = reader.read(path)
    found: dict[Path, Target] = {}
    for vh in vhosts.find(cf):
        managed = block.find_managed(cf, vh.section)
        if not managed:
            continue
        opts = managed[0].marker.options
        if down and (first := vh.inherits_rules_first):
            raise ApacheMaintError(f"RewriteOptions {first.raw_args}: the server's rewrite rules run before the "
                                   "maintenance block, and one that proxies or redirects would keep answering "
                                   "(AM019); use RewriteOptions Inherit", cf.path, first.line)
        where = for_down(vh, opts.page)
        if where.page is None:
            fix = " (apachemaint patch gives it a page of its own)" if where.code == "AM015" else ""
            raise ApacheMaintError(f"cannot tell where the page goes: {where.why}{fix}; or use --docroot",
                                   cf.path, where.line)
        current = block.state_of(managed[0]) is block.State.CURRENT
        found.setdefault(Path(where.page), Target(Path(where.page), opts, f"{cf.path}:{vh.line}", current,
                                                  base_of(where.page), vh.names[0] if vh.names else None))
    if not found:
        raise ApacheMaintError("no vhost here carries an apachemaint block (run apachemaint patch first)", cf.path)
    return list(found.values())
