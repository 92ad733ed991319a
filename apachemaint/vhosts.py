"""Finding the <VirtualHost> sections of a file and telling which ones serve content.

A vhost whose whole job is to redirect (the usual :80 -> https one) never serves the
maintenance page: it inherits another DocumentRoot, and patching it would only mislead.
Such vhosts are reported as not applicable instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .block import BEGIN, END
from .cached import cached_property
from .reader import CONDITIONALS, Comment, ConfigFile, Directive, Node, Section

# Sections that may hold vhosts without being vhosts themselves.
_CONTAINERS = CONDITIONALS | {"macro"}

# Directives that hand a request to something other than a redirect: these names, and every
# name that starts with one of the prefixes.
_SERVES = frozenset({"proxypass", "proxypassmatch", "wsgihandlerscript", "alias", "aliasmatch", "sethandler",
                     "addhandler", "fallbackresource", "jkmount", "fcgidwrapper", "action"})
_SERVES_PREFIX = ("passenger", "rails", "rack", "wsgiscriptalias", "scriptalias", "fastcgi")

# Patterns that match every URL path.
_CATCH_ALL = {"^", "^/", ".*", "^.*", "^.*$", "(.*)", "^(.*)", "^(.*)$", "^/(.*)", "^/(.*)$",
              "^/?(.*)", "^/?(.*)$", "/(.*)", "^/?", "."}
# Conditions that choose a host or scheme, not a part of the site.
_HOST_TESTS = re.compile(r"^%\{(HTTP_HOST|SERVER_NAME|HTTPS|SERVER_PORT|REQUEST_SCHEME)\}$", re.I)


@dataclass
class VHost:
    section: Section
    enclosing: tuple[Section, ...] = ()  # the containers around it, outermost first

    @property
    def within(self) -> tuple[str, ...]:
        """The enclosing containers' tags, e.g. ("<IfModule mod_ssl.c>",)."""
        return tuple(s.tag for s in self.enclosing)

    @property
    def line(self) -> int:
        return self.section.line

    @property
    def tag(self) -> str:
        return self.section.tag

    @property
    def in_macro(self) -> bool:
        return any(t.lower().startswith("<macro") for t in self.within)

    # What rules ask of a vhost is computed once: a server-wide check asks it of every vhost,
    # several rules each.
    @cached_property
    def _own(self) -> list[Node]:
        out, inside = [], False
        for node in self.section.children:
            if type(node) is Comment and node.text.startswith((BEGIN, END)):
                inside = node.text.startswith(BEGIN)
            elif not inside:
                out.append(node)
        return out

    def own_children(self) -> list[Node]:
        """The vhost's top-level nodes, less any managed block (which is ours, not the site's)."""
        return self._own

    @cached_property
    def redirect_only(self) -> bool:
        """True when every request to this vhost is answered with a redirect."""
        return _redirect_only(self)

    def first(self, name: str) -> Directive | None:
        """The vhost's own (top-level) directive of that name."""
        for node in self.own_children():
            if isinstance(node, Directive) and node.lname == name:
                return node
        return None

    @property
    def document_root(self) -> str | None:
        d = self.first("documentroot")
        return d.args[0] if d and d.args else None


def find(cf: ConfigFile) -> list[VHost]:
    """Every vhost of the file, with the sections around it (even those httpd would skip)."""
    out: list[VHost] = []

    def visit(nodes: list[Node], enclosing: tuple[Section, ...]) -> None:
        for node in nodes:
            if not isinstance(node, Section):
                continue
            if node.lname == "virtualhost":
                out.append(VHost(node, enclosing))
            elif node.lname in _CONTAINERS:
                visit(node.children, enclosing + (node,))

    visit(cf.children, ())
    return out


def _flags(rule: Directive) -> set[str]:
    if len(rule.args) < 3:
        return set()
    raw = rule.args[2].strip("[]")
    return {f.strip().split("=")[0].lower() for f in raw.split(",")}


def _is_redirect_rule(rule: Directive) -> bool:
    flags = _flags(rule)
    return bool(flags & {"r", "redirect"}) and not flags & {"p", "proxy"}


def _catch_all_redirect(vh: VHost) -> bool:
    conds: list[Directive] = []
    for node in vh.own_children():
        if not isinstance(node, Directive):
            continue
        name, args = node.lname, node.args
        if name in ("redirect", "redirectpermanent", "redirecttemp"):
            path_arg = args[1] if name == "redirect" and len(args) == 3 else (args[0] if args else "")
            if path_arg == "/":
                return True
        elif name == "redirectmatch":
            pattern = args[1] if len(args) == 3 else (args[0] if args else "")
            if pattern in _CATCH_ALL:
                return True
        elif name == "rewritecond":
            conds.append(node)
            continue
        elif name == "rewriterule":
            host_only = all(c.args and (_HOST_TESTS.match(c.args[0]) or _excludes_path(c)) for c in conds)
            if args and args[0] in _CATCH_ALL and _is_redirect_rule(node) and host_only:
                return True
        conds = []
    return False


def _excludes_path(cond: Directive) -> bool:
    """A REQUEST_URI exclusion such as ``!^/\\.well-known/acme-challenge/``."""
    return (len(cond.args) >= 2 and cond.args[0].upper() == "%{REQUEST_URI}"
            and cond.args[1].startswith("!"))


def _redirect_only(vh: VHost) -> bool:
    return not _serves(vh.own_children()) and _catch_all_redirect(vh)


def _serves(nodes: list[Node]) -> bool:
    """Whether any directive in ``nodes``, at any depth, hands requests to something else
    than a redirect.  A plain recursive loop: every vhost of a server is asked this."""
    for node in nodes:
        if type(node) is Section:
            if _serves(node.children):
                return True
        elif type(node) is Directive:
            name = node.lname
            if name in _SERVES or name.startswith(_SERVES_PREFIX):
                return True
            if name == "rewriterule" and not _is_redirect_rule(node) and node.args[1:2] != ["-"]:
                return True
    return False
