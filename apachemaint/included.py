"""``Include`` inside a vhost: the included files' nodes, standing where the Include stands.

httpd reads an included file in place, so a ``RewriteRule [P]``, a ``RewriteEngine Off`` or
``PassengerHighPerformance on`` in a snippet counts in the vhost that includes it.  The rules
see those nodes placed at the Include directive: same line and offsets, so "before the
maintenance block" and every reported line mean the Include line of the vhost's own file.
Patterns are resolved as the server walk resolves them (ServerRoot, ``${VAR}``, globs); a
lone file's relative Include, whose ServerRoot is unknown, is not followed.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from . import reader, server
from .errors import ApacheMaintError
from .reader import Directive, Node, Section

NAMES = frozenset({"include", "includeoptional"})
_DEPTH = 16  # snippets including snippets; httpd's own limit is far higher, real configs far lower


def nodes(inc: Directive, variables: dict[str, str], server_root: Path | None, depth: int = 0) -> list[Node]:
    """The top-level nodes of every file ``inc`` names, relocated to ``inc``; [] when none can be read."""
    if not inc.args or depth > _DEPTH:
        return []
    pattern = server.expand(inc.args[0], variables)
    if "${" in pattern or (not os.path.isabs(pattern) and server_root is None):
        return []
    targets = server.include_targets(pattern, server_root or Path("/"), inc.lname == "includeoptional")
    if isinstance(targets, str):
        return []
    out: list[Node] = []
    for path in targets:
        try:
            cf = reader.read(path)
        except ApacheMaintError:
            continue  # reported where the file is read as part of the server (AM000)
        out += [_placed(n, inc) for n in cf.children]
    return out


def _placed(node: Node, at: Directive) -> Node:
    if type(node) is Section:
        return replace(node, line=at.line, start=at.start, end=at.end, open_end=at.end, close_start=at.start,
                       close_line=at.line, children=[_placed(c, at) for c in node.children])
    return replace(node, line=at.line, start=at.start, end=at.end)
