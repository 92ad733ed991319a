"""Which parts of a vhost a rule looks at, and how to read a RewriteRule's flags.

mod_rewrite runs a vhost's own rules (outside ``<Directory>``, ``<Location>``, ``<If>``...)
in one list, in file order, at translate_name: that list is where the maintenance block
must stand first.  Conditionals (``<IfModule>``, ``<IfDefine>``) add to that list when
they hold; per-directory sections do not.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from ..block import BEGIN
from ..reader import Comment, Directive, Node, Section, walk

_LONG_FLAGS = {"last": "l", "proxy": "p", "redirect": "r", "end": "end", "forbidden": "f", "gone": "g"}
MAINTENANCE = re.compile(r"maintenance", re.IGNORECASE)
# Every maintenance rule's text holds one of these words (a marker, a page, a 503): a vhost
# whose text holds none needs no walk to find one.
MAINTENANCE_WORDS = ("maintenance", "503", "apachemaint")


def vhost_level(ctx) -> list[Directive]:
    """The vhost's server-context directives, file order, through the conditionals that hold."""
    return ctx.level


def in_managed_block(ctx, node: Node) -> bool:
    return any(f.start <= node.start < f.end for f in ctx.managed)


def rule_flags(rule: Directive) -> dict[str, str]:
    """``[R=301,L]`` as ``{"r": "301", "l": ""}``, long names folded to the short ones."""
    if len(rule.args) < 3 or not rule.args[-1].startswith("["):
        return {}
    out = {}
    for flag in rule.args[-1].strip("[]").split(","):
        name, _, value = flag.strip().partition("=")
        name = name.lower()
        out[_LONG_FLAGS.get(name, name)] = value
    return out


def is_maintenance_rule(node: Node) -> bool:
    """A directive or marker that is part of some maintenance recipe (managed or hand-written)."""
    if isinstance(node, Comment):
        return node.text.startswith(BEGIN)
    if not isinstance(node, Directive):
        return False
    if node.lname in ("rewriterule", "rewritecond"):
        return bool(MAINTENANCE.search(node.raw_args)) or (
            "503" in node.raw_args and rule_flags(node).get("r") == "503")
    return node.lname == "errordocument" and node.args[:1] == ["503"]


def holds_maintenance(section: Section) -> bool:
    return any(is_maintenance_rule(n) for n in walk(section.children))


def chains(nodes: list[Node]) -> Iterator[tuple[list[Directive], Directive]]:
    """Each RewriteRule with the RewriteConds before it (other directives between do not break a chain)."""
    conds: list[Directive] = []
    for node in nodes:
        if not isinstance(node, Directive):
            continue
        if node.lname == "rewritecond":
            conds.append(node)
        elif node.lname == "rewriterule":
            yield conds, node
            conds = []
