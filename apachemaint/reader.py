"""The reader of record: Apache config text to a tree that knows every byte's position.

It follows httpd's own reader (server/util.c, server/config.c) rather than a grammar:
- a backslash right before the line end joins the next physical line (comments too);
- a logical line whose first non-blank character is ``#`` is a comment, and ``#``
  anywhere else is data (``RewriteRule ^/a#b ...`` keeps its ``#``);
- ``<Name args>`` opens a section, ``</Name>`` closes it, names compare case-insensitively,
  and a mismatch is an error with a line, worded as httpd words it;
- a UTF-8 byte order mark is not skipped: httpd reads it as part of the first line, so a
  ``<VirtualHost`` right after one is no section to httpd, nor to this reader.

Every node covers a contiguous span of the decoded text, and the spans tile the file, so
``serialize(parse(data)) == data`` for any input the reader accepts.  Text is decoded as
UTF-8 with ``surrogateescape`` so Latin-1 or broken bytes survive unchanged.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .errors import ConfigSyntaxError

CONDITIONALS = {"ifmodule", "ifdefine", "ifversion", "ifdirective", "iffile", "ifsection"}


@dataclass
class Node:
    line: int  # first physical line, 1-based
    start: int  # offset of the first character of the node's first line
    end: int  # offset just past the node's last line terminator


@dataclass
class Blank(Node):
    pass


@dataclass
class Comment(Node):
    text: str  # the logical line, trimmed, starting with '#'


@dataclass
class Directive(Node):
    name: str
    raw_args: str

    @property
    def lname(self) -> str:
        return self.name.lower()

    @cached_property
    def args(self) -> list[str]:
        # Split on demand: most directives of a big tree are never looked at.
        return split_words(self.raw_args)


@dataclass
class Section(Node):
    name: str
    raw_args: str
    open_end: int = 0  # end of the opening line(s): children start here
    close_start: int = 0  # start of the closing tag's line
    close_line: int = 0
    children: list[Node] = field(default_factory=list)

    @property
    def lname(self) -> str:
        return self.name.lower()

    @cached_property
    def args(self) -> list[str]:
        return split_words(self.raw_args)

    @property
    def tag(self) -> str:
        return f"<{self.name} {self.raw_args}>" if self.raw_args else f"<{self.name}>"


@dataclass
class ConfigFile:
    path: str
    text: str
    children: list[Node]

    @property
    def bom(self) -> bool:
        return self.text.startswith("\ufeff")

    @property
    def eol(self) -> str:
        """The file's own line ending, taken from its first line."""
        first = self.text.find("\n")
        return "\r\n" if first > 0 and self.text[first - 1] == "\r" else "\n"

    def to_bytes(self, text: str | None = None) -> bytes:
        return (self.text if text is None else text).encode("utf-8", "surrogateescape")

    def line_indent(self, offset: int) -> str:
        """The whitespace that starts the physical line holding ``offset``."""
        start = self.text.rfind("\n", 0, offset) + 1
        stop = start
        while stop < len(self.text) and self.text[stop] in " \t":
            stop += 1
        return self.text[start:stop]


def read(path: str | Path) -> ConfigFile:
    path = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ConfigSyntaxError("no such file", path) from None
    except IsADirectoryError:
        raise ConfigSyntaxError("is a directory, not a config file", path) from None
    except OSError as exc:
        raise ConfigSyntaxError(f"cannot read: {exc.strerror}", path) from None
    return parse(data, path)


def _logical_lines(text: str) -> Iterator[tuple[int, int, int, str]]:
    """(first line, start offset, end offset, joined and trimmed text as httpd sees it)."""
    lines = text.split("\n")
    last = len(lines) - 1  # lines[last] is what follows the final newline ("" for most files)
    pos, i = 0, 0
    while i < last or (i == last and lines[i]):
        first, start, parts = i + 1, pos, []
        while True:
            raw = lines[i]
            pos += len(raw) + (i < last)
            body = raw[:-1] if raw.endswith("\r") else raw
            i += 1
            # httpd joins only "\\" right before the line end, and only when a line follows.
            if body.endswith("\\") and (i < last or (i == last and lines[i])):
                parts.append(body[:-1])
                continue
            parts.append(body)
            break
        yield first, start, pos, "".join(parts).strip(" \t\f\v")


def split_words(s: str) -> list[str]:
    """Split directive arguments the way httpd's ap_getword_conf does."""
    words, i, n = [], 0, len(s)
    while True:
        while i < n and s[i] in " \t\r\n\f\v":
            i += 1
        if i >= n:
            return words
        quote = s[i]
        if quote in "\"'":
            i += 1
            buf = []
            while i < n and s[i] != quote:
                if s[i] == "\\" and i + 1 < n and s[i + 1] == quote:
                    i += 1
                buf.append(s[i])
                i += 1
            i += 1  # the closing quote, if any: httpd takes an unclosed quote to the end
            words.append("".join(buf))
        else:
            j = i
            while j < n and s[j] not in " \t\r\n\f\v":
                j += 1
            words.append(s[i:j])
            i = j


def _section_head(text: str) -> tuple[str, str]:
    """Name and raw args of ``<Name args>``; httpd cuts the args at the last '>'."""
    inner = text[1:]
    j = 0
    while j < len(inner) and inner[j] not in " \t>":
        j += 1
    name, rest = inner[:j], inner[j:]
    gt = rest.rfind(">")
    if gt < 0:
        raise ValueError(name)
    return name, rest[:gt].strip(" \t")


def parse(data: bytes | str, path: str = "<string>") -> ConfigFile:
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    root: list[Node] = []
    stack: list[Section] = []

    def add(node: Node) -> None:
        (stack[-1].children if stack else root).append(node)

    for line, start, end, t in _logical_lines(text):
        if not t:
            add(Blank(line, start, end))
        elif t[0] == "#":
            add(Comment(line, start, end, t))
        elif t.startswith("</"):
            _close(t, line, end, start, stack, path)
        elif t[0] == "<":
            try:
                name, raw = _section_head(t)
            except ValueError as exc:
                raise ConfigSyntaxError(
                    f"<{exc.args[0]}> directive missing closing '>'", path, line) from None
            if not name:
                raise ConfigSyntaxError("section with no name", path, line)
            sec = Section(line, start, end, name, raw, open_end=end)
            add(sec)
            stack.append(sec)
        else:
            words = t.split(None, 1)
            add(Directive(line, start, end, words[0], words[1] if len(words) > 1 else ""))
    if stack and stack[0].lname not in CONDITIONALS:
        sec = stack[-1]
        raise ConfigSyntaxError(f"<{sec.name}> was not closed.", path, sec.line)
    # httpd ends a true <IfModule>/<IfDefine> (and all inside it) silently at the end of the
    # file; whether it is true depends on the server, so the reader takes it as true.
    for sec in stack:
        sec.close_start = sec.end = len(text)
        sec.close_line = text.count("\n") + 1
    return ConfigFile(path, text, root)


def _close(t: str, line: int, end: int, start: int, stack: list[Section], path: str) -> None:
    word = t.split(None, 1)[0]
    if not word.endswith(">"):
        raise ConfigSyntaxError(f"{word}> directive missing closing '>'", path, line)
    name = word[2:-1]
    if not stack:
        raise ConfigSyntaxError(f"</{name}> without matching <{name}> section", path, line)
    sec = stack[-1]
    if sec.lname != name.lower():
        raise ConfigSyntaxError(f"Expected </{sec.name}> but saw </{name}>", path, line)
    # httpd ignores whatever follows the closing tag on its line ("</VirtualHost> </IfModule>"
    # closes the vhost only), so this node simply owns the whole line.
    stack.pop()
    sec.close_start, sec.close_line, sec.end = start, line, end


def serialize(cf: ConfigFile) -> bytes:
    """Rebuild the file from its nodes alone; equal to the input when every byte was read."""
    out: list[str] = []

    def emit(nodes: list[Node]) -> None:
        for node in nodes:
            if isinstance(node, Section):
                out.append(cf.text[node.start:node.open_end])
                emit(node.children)
                out.append(cf.text[node.close_start:node.end])
            else:
                out.append(cf.text[node.start:node.end])

    emit(cf.children)
    return cf.to_bytes("".join(out))


def walk(nodes: list[Node]) -> Iterator[Node]:
    """Every node, depth first, in file order."""
    for node in nodes:
        yield node
        if isinstance(node, Section):
            yield from walk(node.children)
