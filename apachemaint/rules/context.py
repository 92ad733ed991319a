"""What a rule sees: one vhost, the file it stands in, and what is known of its server.

Rules run over thousands of vhosts, so whatever several rules need (the managed blocks, their
state) is computed once per vhost here, and the template is rendered once per set of options.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from .. import block, included
from ..block import BlockOptions, Found, Legacy, State
from ..cached import cached_property
from ..conditions import holds
from ..reader import CONDITIONALS, Block, ConfigFile, Directive, Node, Section, walk
from ..vhosts import VHost

T = TypeVar("T")


@dataclass(eq=False)  # one shared, identity-compared instance per server
class ServerContext:
    """The server a vhost belongs to.  ``modules is None`` means no server is known (a lone
    vhost file checked in CI): rules about modules, defines and disk then stay silent."""
    modules: set[str] | None = None
    defines: set[str] | None = None
    variables: dict[str, str] = field(default_factory=dict)  # what ${NAME} expands to for httpd
    defined: dict[str, str] = field(default_factory=dict)  # the part set by Define, not the environment
    server_level: list[Directive] = field(default_factory=list)
    directories: list[Section] = field(default_factory=list)
    inactive: set[int] = field(default_factory=set)
    first_vhosts: dict[str, tuple[str, int]] = field(default_factory=dict)  # the default per address
    server_root: Path | None = None  # None: a lone file, whose relative Includes cannot be followed
    on_host: bool = False  # the config's paths are this machine's paths

    @property
    def known(self) -> bool:
        return self.modules is not None

    def once(self, fact: Callable[[ServerContext], T]) -> T:
        """``fact(self)``, worked out on the first call and kept: what a rule needs of the
        server, asked by each of its thousands of vhosts, is computed once per server (per
        process, when two share the work)."""
        memo = self.__dict__.setdefault("_once", {})
        if fact not in memo:
            memo[fact] = fact(self)
        return memo[fact]

    def holds(self, section: Section) -> bool:
        if id(section) in self.inactive:
            return False
        return holds(section, self.modules, self.defines)

    @classmethod
    def from_server(cls, srv) -> ServerContext:
        return cls(srv.modules, srv.defines, srv.variables, srv.defined, srv.server_level,
                   srv.directories, srv.inactive, srv.first_vhosts, srv.server_root, on_host=True)


UNKNOWN = ServerContext()


@lru_cache(maxsize=256)
def _expected_digest(options: BlockOptions) -> str:
    from ..known_digests import known  # the common options, without rendering (start-up)

    return known(options) or block.digest(block.body_lines(options))


@lru_cache(maxsize=64)
def _body_digest(body: str) -> str:
    return block.digest(body.split("\n"))


def _state(found: Found) -> State:
    # ``found.edited``, with the digest kept per body text: every vhost of a patched server
    # holds the same body, and hashing it was a tenth of checking one.
    if _body_digest("\n".join(found.body)) != found.marker.digest:
        return State.EDITED
    if found.marker.format != block.FORMAT or _expected_digest(found.marker.options) != found.marker.digest:
        return State.OUTDATED
    return State.CURRENT


@dataclass
class VHostContext:
    cf: ConfigFile
    vhost: VHost
    server: ServerContext = UNKNOWN
    enclosing: list[Section] = field(default_factory=list)  # sections around the vhost, outermost first

    @cached_property
    def managed(self) -> list[Found]:
        return block.find_managed(self.cf, self.vhost.section)

    @cached_property
    def legacy(self) -> Legacy | None:
        return block.find_legacy(self.cf, self.vhost.section)

    def state(self, found: Found) -> State:
        """The block's state, worked out once per block (AM001-AM003 each ask)."""
        states = self.__dict__.setdefault("_states", {})
        if found.start not in states:
            states[found.start] = _state(found)
        return states[found.start]

    @cached_property
    def default(self) -> bool:
        """Whether requests for any Host reach this vhost: by itself (``_default_``, no name),
        or, with the server known, as the first vhost on one of its addresses."""
        vh = self.vhost
        if vh.default_by_itself:
            return True
        first = self.server.first_vhosts
        return any(first.get(a) == (self.cf.path, vh.line) for a in vh.addresses)

    @cached_property
    def redirect_only(self) -> bool:
        """Every request this vhost can get ends in a redirect (see ``redirects``)."""
        return self.vhost.redirect_only_as(self.default)

    @cached_property
    def maintenance_start(self) -> int | None:
        """Offset where the vhost's maintenance rules begin: the managed block, else the legacy recipe."""
        if self.managed:
            return self.managed[0].start
        return self.legacy.nodes[0].start if self.legacy else None

    def mentions(self, *words: str) -> bool:
        """Whether the vhost's text holds any of ``words`` (lower case), in any case: a test at
        C speed that lets a rule skip a vhost its subject cannot be in."""
        sec = self.vhost.section
        text = self.cf.lower_text
        return self.includes or any(text.find(w, sec.start, sec.end) >= 0 for w in words)

    @cached_property
    def includes(self) -> bool:
        """Whether the vhost includes other files (whose words its own text does not show)."""
        sec = self.vhost.section
        return self.cf.lower_text.find("include", sec.start, sec.end) >= 0 and any(
            type(n) is Directive and n.lname in included.NAMES for n in walk(sec.children))

    def _included(self, inc: Directive, depth: int = 0) -> list[Node]:
        return included.nodes(inc, self.server.variables, self.server.server_root, depth)

    @cached_property
    def nodes(self) -> list[Node]:
        """Every node inside the vhost, depth first, in file order; an included file's in
        place of its Include (see ``included``)."""
        if not self.includes:
            return list(walk(self.vhost.section.children))
        return list(self._nodes(self.vhost.section.children, 0))

    # Generators, not closures that call themselves: such a closure is a reference cycle
    # holding this context, and with the CLI's cycle collector off it kept every vhost's
    # context (and the nodes of its blocks) alive to the end of a check.
    def _nodes(self, nodes: list[Node], depth: int) -> Iterator[Node]:
        for node in walk(nodes):
            yield node
            if type(node) is Directive and node.lname in included.NAMES:
                yield from self._nodes(self._included(node, depth), depth + 1)

    @cached_property
    def level(self) -> list[Directive]:
        """The vhost's server-context directives, file order, through the conditionals that
        hold: the list mod_rewrite runs at translate_name, where the block must stand first."""
        return list(self._level(self.vhost.section.children, 0, self.includes))

    def level_before(self, offset: int) -> Iterator[Directive]:
        """``level``'s directives up to the first that starts at ``offset`` or after (AM005's:
        those before the block), without placing the nodes of a block body from there on."""
        for d in self._level(self.vhost.section.children, 0, self.includes, offset):
            if d.start >= offset:
                return
            yield d

    def _level(self, nodes: list[Node], depth: int, follow: bool, until: int | None = None) -> Iterator[Directive]:
        for node in nodes:
            if isinstance(node, Directive):
                yield node
                if follow and node.lname in included.NAMES:
                    yield from self._level(self._included(node, depth), depth + 1, follow)
            elif isinstance(node, Section) and node.lname in CONDITIONALS and self.server.holds(node):
                yield from self._level(node.children, depth, follow)
            elif type(node) is Block:  # a managed block's body: its directives stand here
                if until is not None and node.start >= until:
                    return  # all after it start later: level_before would stop at its first
                yield from self._level(node.children, depth, follow)

    @cached_property
    def active(self) -> bool:
        """Whether httpd reads this vhost at all (every enclosing conditional holds)."""
        if not self.server.known:
            return True
        return all(self.server.holds(s) for s in self.enclosing)
