"""Inline suppression: ``# apachemaint: disable=AM005,AM011`` (or ``disable=all``), and
``# apachemaint: disable-file=AM014`` for the whole file.

httpd allows no comment after a directive on the same line (``#`` there is data, and would
break the directive), so the comment stands on its own line and covers the line below it:
a directive, or a whole section when that line opens one, a ``<VirtualHost>`` included.
``disable-file`` covers every line of its file wherever it stands (as ruff's and
yamllint's do), so it can sit at the top with the file's other comments.  A code that is
no rule is itself a finding (AM018): a misspelt code would silently suppress nothing.
"""
from __future__ import annotations

import re

from .findings import Finding
from .reader import Blank, Comment, ConfigFile, Node, Section, walk

_DISABLE = re.compile(r"^#\s*apachemaint:\s*disable(-file)?\s*=\s*([A-Za-z0-9_,\s]+)$")

Span = tuple[int, int, frozenset[str]]  # first line, last line, codes ("ALL" for every code)
WHOLE_FILE = (0, 1 << 62)


def _codes(text: str) -> list[str]:
    return [c.strip().upper() for c in text.split(",") if c.strip()]


def spans(cf: ConfigFile) -> list[Span]:
    out: list[Span] = []
    if "apachemaint:" not in cf.text:  # most files: no need to walk them
        return out

    def visit(nodes: list[Node]) -> None:
        pending: frozenset[str] | None = None
        for node in nodes:
            if isinstance(node, Comment):
                m = _DISABLE.match(node.text)
                if m and m.group(1):
                    out.append((*WHOLE_FILE, frozenset(_codes(m.group(2)))))
                elif m:
                    pending = (pending or frozenset()) | frozenset(_codes(m.group(2)))
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


def named(cf: ConfigFile) -> list[tuple[int, str]]:
    """Every ``(line, code)`` a disable comment of the file names, in file order."""
    if "apachemaint:" not in cf.text:
        return []
    out = []
    for node in walk(cf.children):
        if isinstance(node, Comment):
            m = _DISABLE.match(node.text)
            if m:
                out.extend((node.line, code) for code in _codes(m.group(2)))
    return out


def _last_line(cf: ConfigFile, node: Node) -> int:
    if isinstance(node, Section):
        return node.close_line
    return node.line + cf.text.count("\n", node.start, node.end - 1)


def suppressed(finding: Finding, file_spans: list[Span]) -> bool:
    return any(first <= finding.line <= last and (finding.code in codes or "ALL" in codes)
               for first, last, codes in file_spans)
