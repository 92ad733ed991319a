"""Finding the <VirtualHost> sections of a file and telling which ones serve content.

A vhost whose whole job is to redirect (the usual :80 -> https one) never serves the
maintenance page: it inherits another DocumentRoot, and patching it would only mislead.
Such vhosts are reported as not applicable instead.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import redirects
from .block import BEGIN, END
from .cached import cached_property
from .reader import CONDITIONALS, Comment, ConfigFile, Directive, Node, Section
from .server import expand

# Sections that may hold vhosts without being vhosts themselves.
_CONTAINERS = CONDITIONALS | {"macro"}

# Directives that hand a request to something other than a redirect: these names, and every
# name that starts with one of the prefixes.
_SERVES = frozenset({"proxypass", "proxypassmatch", "wsgihandlerscript", "alias", "aliasmatch", "sethandler",
                     "addhandler", "fallbackresource", "jkmount", "fcgidwrapper", "action"})
_SERVES_PREFIX = ("passenger", "rails", "rack", "wsgiscriptalias", "scriptalias", "fastcgi")

@dataclass
class VHost:
    section: Section
    enclosing: tuple[Section, ...] = ()  # the containers around it, outermost first
    first_in_file: bool = False  # no vhost before it in its file shares one of its addresses
    # What the file's own `Define NAME VALUE` lines before it (outside every section) set:
    # httpd reads them before the vhost, so `down` may use them as httpd does.
    defined: Mapping[str, str] | None = None

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
        """True when every request to this vhost is proven to end in a redirect, taking it
        for a default vhost when it may be one as far as its own file tells (``check`` with
        the server knows better: see ``redirect_only_as``)."""
        # A vhost that serves content is told without its names and addresses.
        return not self.serves and self.redirect_only_as(self.may_be_default)

    @cached_property
    def serves(self) -> bool:
        """Whether its own config serves content (a DocumentRoot, a proxy, an app, ...)."""
        return _serves(self.own_children())

    def redirect_only_as(self, default: bool) -> bool:
        if self.serves:
            return False
        level = [n for n in self.own_children() if type(n) is Directive]
        reqs = redirects.requests(self.names, default=default, https=self.https, ports=self.ports)
        rewrite_on = self.rewrite_engine_on
        return all(redirects.redirected(level, r, rewrite_on=rewrite_on) for r in reqs)

    @property
    def addresses(self) -> list[str]:
        """The ``<VirtualHost>`` addresses, ``_default_`` written as ``*``."""
        return [a.lower().replace("_default_", "*") for a in self.section.args]

    @property
    def default_by_itself(self) -> bool:
        """A default vhost whatever else the server holds: ``_default_``, or no name of its own."""
        return any(a.lower().startswith("_default_") for a in self.section.args) or not self.names

    @property
    def may_be_default(self) -> bool:
        """Whether requests for any Host may reach it, for all its file tells: a default by
        itself, or first on its address in its file (and so, maybe, on the server)."""
        return self.default_by_itself or self.first_in_file

    @cached_property
    def names(self) -> list[str]:
        """ServerName (without scheme and port) and every ServerAlias, as written, those inside
        the vhost's ``<IfModule>``/``<IfDefine>``/... too: httpd may read them, so a name there
        is asked by ``verify`` and shown by ``status --all`` like any other."""
        return _names(self.own_children())

    @property
    def ports(self) -> list[int | None]:
        out: list[int | None] = []
        for a in self.addresses:
            _, sep, p = a.rpartition(":")
            out.append(int(p) if sep and p.isdigit() else None)
        return sorted(set(out), key=lambda p: -1 if p is None else p)

    @property
    def https(self) -> bool | None:
        """Whether the vhost speaks TLS, from its own SSLEngine; None when it cannot be told."""
        engine = self.last("sslengine")
        if engine is not None and engine.args:
            return engine.args[0].lower() == "on"
        # Without SSLEngine of its own a vhost is plain HTTP, unless it sits on 443, where a
        # server-wide SSLEngine (inherited) is the usual reason for its absence.
        return None if 443 in self.ports else False

    @property
    def rewrite_engine_on(self) -> bool:
        engine = self.last("rewriteengine")
        return engine is not None and engine.args[:1] != [] and engine.args[0].lower() == "on"

    def last(self, name: str) -> Directive | None:
        """The vhost's last own (top-level) directive of that name: the one httpd keeps."""
        found = None
        for node in self.own_children():
            if type(node) is Directive and node.lname == name:
                found = node
        return found

    def first(self, name: str) -> Directive | None:
        """The vhost's own (top-level) directive of that name."""
        for node in self.own_children():
            if isinstance(node, Directive) and node.lname == name:
                return node
        return None

    @cached_property
    def inherits_rules_first(self) -> Directive | None:
        """The vhost's ``RewriteOptions InheritBefore``: the server's rewrite rules then run
        before the vhost's own, so before its maintenance block.  (In a ``<Directory>`` it
        concerns that folder's rules, which run after the block.)"""
        return _inherit_before(self._own)

    @property
    def document_root(self) -> str | None:
        d = self.first("documentroot")
        return d.args[0] if d and d.args else None


def find(cf: ConfigFile) -> list[VHost]:
    """Every vhost of the file, with the sections around it (even those httpd would skip)."""
    out: list[VHost] = []
    seen: set[str] = set()
    defined: Mapping[str, str] | None = None  # replaced, never changed: the vhosts before a Define keep theirs

    # A walk with a stack, not a closure calling itself: that is a cycle per call, and the CLI
    # runs with the cycle collector off.
    stack = [(iter(cf.children), ())]
    while stack:
        nodes, enclosing = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        if type(node) is Directive and node.lname in ("define", "undefine") and node.args:
            name, known = node.args[0], {**(defined or {})}
            known.pop(name, None)
            if node.lname == "define" and len(node.args) >= 2 and not enclosing:
                known[name] = expand(node.args[1], known)
            defined = MappingProxyType(known)  # inside a section: httpd may or may not read it
        if not isinstance(node, Section):
            continue
        if node.lname == "virtualhost":
            vh = VHost(node, enclosing, defined=defined)
            vh.first_in_file = not seen.intersection(vh.addresses)
            seen.update(vh.addresses)
            out.append(vh)
        elif node.lname in _CONTAINERS:
            stack.append((iter(node.children), enclosing + (node,)))
    return out


def _inherit_before(nodes: list[Node]) -> Directive | None:
    # RewriteOptions add up (httpd ORs them), so one InheritBefore anywhere httpd may read counts.
    for node in nodes:
        if type(node) is Section and node.lname in CONDITIONALS:
            if found := _inherit_before(node.children):
                return found
        elif type(node) is Directive and node.lname == "rewriteoptions" and "inheritbefore" in node.raw_args.lower():
            return node
    return None


def _names(nodes: list[Node]) -> list[str]:
    out = []
    for node in nodes:
        # The name first: splitting every directive's arguments was most of this.
        if type(node) is Directive and node.lname in ("servername", "serveralias") and node.args:
            if node.lname == "servername":
                out.append(_host_of(node.args[0]))
            else:
                out += node.args
        elif type(node) is Section and node.lname in CONDITIONALS:
            out += _names(node.children)
    return out


def _host_of(server_name: str) -> str:
    """``https://www.example.com:443`` -> ``www.example.com`` (ServerName's [scheme://]name[:port])."""
    name = server_name.split("://", 1)[-1]
    head, sep, port = name.rpartition(":")
    return head if sep and port.isdigit() and not head.endswith(":") else name


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
            if name == "rewriterule" and not redirects.is_redirect(node) and node.args[1:2] != ["-"]:
                return True
    return False
