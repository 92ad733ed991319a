"""Inline suppression: ``# apachemaint: disable=AM005,AM011`` (or ``disable=all``).

httpd allows no comment after a directive on the same line (``#`` there is data, and would
break the directive), so the comment stands on its own line and covers the line below it:
a directive, or a whole section when that line opens one, a ``<VirtualHost>`` included.
"""
from __future__ import annotations

import re

from .findings import Finding
from .reader import Blank, Comment, ConfigFile, Node, Section

_DISABLE = re.compile(r"^#\s*apachemaint:\s*disable\s*=\s*([A-Za-z0-9_,\s]+)$")

Span = tuple[int, int, frozenset[str]]  # first line, last line, codes ("ALL" for every code)


def spans(cf: ConfigFile) -> list[Span]:
    out: list[Span] = []
    if "apachemaint:" not in cf.text:  # most files: no need to walk them
        return out

    def visit(nodes: list[Node]) -> None:
        pending: frozenset[str] | None = None
        for node in nodes:
            if isinstance(node, Comment):
                m = _DISABLE.match(node.text)
                if m:
                    codes = frozenset(c.strip().upper() for c in m.group(1).split(",") if c.strip())
                    pending = (pending or frozenset()) | codes
                continue
            if isinstance(node, Blank):
                continue
            if pending:
                out.append((node.line, _last_line(cf, node), pending))
                pending = None
            if isinstance(node, Section):
                visit(node.children)

    visit(cf.children)
    return out


def _last_line(cf: ConfigFile, node: Node) -> int:
    if isinstance(node, Section):
        return node.close_line
    return node.line + cf.text.count("\n", node.start, node.end - 1)


def suppressed(finding: Finding, file_spans: list[Span]) -> bool:
    return any(first <= finding.line <= last and (finding.code in codes or "ALL" in codes)
               for first, last, codes in file_spans)
