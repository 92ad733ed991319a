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

import errno
import os
import re
import stat
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import ClassVar

from .cached import cached_property
from .compat import SLOTS
from .errors import ConfigSyntaxError

CONDITIONALS = {"ifmodule", "ifdefine", "ifversion", "ifdirective", "iffile", "ifsection"}
MAX_NESTING = 200  # sections inside sections: the walkers recurse, and httpd configs nest a handful


# Slotted classes with ``lname`` stored once: a big server has hundreds of thousands of
# nodes, and rules compare names far more often than nodes are made.
@dataclass(**SLOTS)
class Node:
    line: int  # first physical line, 1-based
    start: int  # offset of the first character of the node's first line
    end: int  # offset just past the node's last line terminator


@dataclass(**SLOTS)
class Blank(Node):
    pass


@dataclass(**SLOTS)
class Comment(Node):
    text: str  # the logical line, trimmed, starting with '#'


@dataclass(**SLOTS)
class Directive(Node):
    name: str
    raw_args: str
    lname: str = field(repr=False, compare=False)  # the name lower-cased, as httpd compares names
    _args: list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def args(self) -> list[str]:
        # Split on demand: most directives of a big tree are never looked at.
        if self._args is None:
            self._args = split_words(self.raw_args)
        return self._args


@dataclass(**SLOTS)
class Section(Node):
    name: str
    raw_args: str
    lname: str = field(repr=False, compare=False)
    open_end: int = 0  # end of the opening line(s): children start here
    close_start: int = 0  # start of the closing tag's line
    close_line: int = 0
    children: list[Node] = field(default_factory=list)
    _args: list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def args(self) -> list[str]:
        if self._args is None:
            self._args = split_words(self.raw_args)
        return self._args

    @property
    def tag(self) -> str:
        return f"<{self.name} {self.raw_args}>" if self.raw_args else f"<{self.name}>"


@dataclass(**SLOTS)
class Block(Node):
    """The body of a managed block (the lines between its BEGIN and END markers), read as one
    node: a patched server holds the same ~65-line body in every vhost, and one node per
    line was two thirds of a patched tree's nodes.  The body's nodes are parsed once per
    distinct body text (``shape``, offsets from the body's start) and made for this block
    only when something walks into it (``children``); ``release`` lets them go again."""
    shape: list[Node] = field(repr=False, compare=False)
    body: str = field(repr=False, compare=False)  # its text, one string for every block that holds it
    _children: list[Node] | None = field(default=None, repr=False, compare=False)

    @property
    def children(self) -> list[Node]:
        if self._children is None:
            self._children = _placed(self.shape, self.start, self.line - 1)
        return self._children

    def release(self) -> None:
        self._children = None


@dataclass
class ConfigFile:
    path: str
    text: str
    children: list[Node]
    blocks: list[Block] = field(default_factory=list)  # read as one node each (parse's ``blocks``)
    # With blocks: the text as pieces, the bodies shared with every file that holds the same
    # (most of a patched vhost file's text); ``text`` is joined from them when asked for.
    _pieces: ClassVar[tuple[str, ...] | None] = None

    def __getattr__(self, name: str):
        # Only for attributes not found: ``text`` once ``release`` (or parse) let it go.
        if name == "text" and self._pieces is not None:
            text = self.__dict__["text"] = "".join(self._pieces)
            return text
        raise AttributeError(name)

    def release(self) -> None:
        """Drop what was worked out for checking this file (it comes back if asked for again):
        a big server keeps every file while it checks them one by one."""
        for b in self.blocks:
            b.release()
        self.__dict__.pop("lower_text", None)
        if self._pieces is not None:
            self.__dict__.pop("text", None)

    @cached_property
    def lower_text(self) -> str:
        """The text lower-cased, offsets unchanged, for case-blind substring tests."""
        low = self.text.lower()
        # A few characters change length when lower-cased (U+0130); then offsets would not
        # line up, and only an exact per-character fold will do.
        return low if len(low) == len(self.text) else "".join(c.lower()[:1] for c in self.text)

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


def read(path: str | Path, *, blocks: bool = False) -> ConfigFile:
    path = str(path)
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        raise ConfigSyntaxError("no such file", path) from None
    except IsADirectoryError:
        raise ConfigSyntaxError("is a directory, not a config file", path) from None
    except NotRegular:
        raise ConfigSyntaxError("is not a regular file (a FIFO, device or socket); not read", path) from None
    except OSError as exc:
        raise ConfigSyntaxError(f"cannot read: {exc.strerror}", path) from None
    return parse(data, path, blocks=blocks)


class NotRegular(OSError):
    """A FIFO, device or socket where a file was expected."""


def read_bytes(path: str, vet=None, *, follow: bool = True) -> bytes:
    """A regular file's bytes; ``vet``, if given, is called with the open file's stat first
    (so a check on owner or mode is made on the file read, not on a name that may change).
    ``follow=False``: a link at ``path`` itself is refused (OSError ELOOP)."""
    # os-level reads: half the cost of open().read() per file, which counts at 10,000 files.
    # O_NONBLOCK: a FIFO named as a config file must not hang the open; fstat then refuses
    # anything but a regular file (/dev/zero would be read until memory runs out).
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW))
    try:
        st = os.fstat(fd)
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            raise NotRegular(errno.EINVAL, "not a regular file", path)
        if vet is not None:
            vet(st)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


# Characters that make str.split() differ from httpd's word split: quotes (httpd groups a
# quoted word) and the separators Python splits on but C's isspace() does not.
_NOT_PLAIN = re.compile("[\"'\x1c-\x1f]")


# What httpd's apr_isspace() takes for blanks (C's isspace), and the characters Python's
# str.split() also splits on, which httpd reads as part of a word.
_SPACE = " \t\r\n\f\v"
_ODD_SPACE = "\x1c\x1d\x1e\x1f"  # tested with `in`: a regex scan costs more than the parse
_FIRST_SPACE = re.compile("[ \t\r\n\f\v]+")


def _name_split(t: str) -> list[str]:
    """``t.split(None, 1)`` the way httpd splits a directive's name from its arguments: for
    files that are not plain ASCII or hold characters only Python takes for blanks
    (``\\x1c``, ``\\u3000``, ...), where ``str.split`` could differ."""
    m = _FIRST_SPACE.search(t)
    return [t[:m.start()], t[m.end():]] if m else [t]


def split_words(s: str) -> list[str]:
    """Split directive arguments the way httpd's ap_getword_conf does."""
    if s.isascii() and not _NOT_PLAIN.search(s):
        return s.split()  # the common case, at C speed
    return _split_quoted(s)


def _split_quoted(s: str) -> list[str]:
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


_SECTION_NAME = re.compile("<([^ \t\r\n\f\v>]*)")  # up to a blank (C's isspace) or '>'


def _section_head(text: str) -> tuple[str, str]:
    """Name and raw args of ``<Name args>``; httpd cuts the args at the last '>'."""
    m = _SECTION_NAME.match(text)
    name, rest = m.group(1), text[m.end():]
    gt = rest.rfind(">")
    if gt < 0:
        raise ValueError(name)
    return name, rest[:gt].strip(_SPACE)


# Directive names repeat across a server (every vhost has its ServerName): one shared string
# per name and per lower-cased name saves memory and allocations.
_NAMES: dict[str, tuple[str, str]] = {}


def _name(word: str) -> tuple[str, str]:
    pair = _NAMES[word] = (sys.intern(word), sys.intern(word.lower()))
    return pair


def parse(data: bytes | str, path: str = "<string>", *, blocks: bool = False) -> ConfigFile:
    """``blocks``: a managed block's body right inside a ``<VirtualHost>`` is one ``Block``
    node (see ``Block``; ``walk`` goes through it as if its nodes stood there).  For
    ``check``, which reads whole servers; editing code reads every node as it stands."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    root, stack, found = _read(text, path, blocks and "apachemaint:" not in text)
    if stack and stack[0].lname not in CONDITIONALS:
        sec = stack[-1]
        raise ConfigSyntaxError(f"<{sec.name}> was not closed.", path, sec.line)
    # httpd ends a true <IfModule>/<IfDefine> (and all inside it) silently at the end of the
    # file; whether it is true depends on the server, so the reader takes it as true.
    for sec in stack:
        sec.close_start = sec.end = len(text)
        sec.close_line = text.count("\n") + 1
    cf = ConfigFile(path, text, root, found)
    if found:
        pieces, at = [], 0
        for b in found:
            pieces += [text[at:b.start], b.body]
            at = b.end
        pieces.append(text[at:])
        cf._pieces = tuple(pieces)
        cf.release()
    return cf


def _read(text: str, path: str, blocks: bool) -> tuple[list[Node], list[Section], list[Block]]:
    """The nodes of ``text`` and the sections still open at its end."""
    root: list[Node] = []
    found: list[Block] = []
    stack: list[Section] = []
    out = root  # the children list new nodes go to
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()  # what follows the final newline: no line
    count = len(lines)
    joins = "\\\n" in text or "\\\r\n" in text or text.endswith("\\")
    crlf = "\r" in text
    plain = text.isascii() and not any(c in text for c in _ODD_SPACE)  # str.split() splits as httpd does
    pos = 0
    # One pass over the physical lines, joining continuations into logical lines as httpd
    # does; the common case (no continuation) costs one strip per line.  Every line is
    # counted with its newline; a last line without one is put right at the end.
    numbered = enumerate(lines, 1)
    for line, raw in numbered:
        start = pos
        pos += len(raw) + 1
        body = raw[:-1] if crlf and raw and raw[-1] == "\r" else raw
        # httpd joins only "\\" right before the line end, and only when a line follows.
        if joins and body and body[-1] == "\\" and line < count:
            parts, n = [], line
            while body and body[-1] == "\\" and n < count:
                parts.append(body[:-1])
                n, raw = next(numbered)
                pos += len(raw) + 1
                body = raw[:-1] if raw and raw[-1] == "\r" else raw
            parts.append(body)
            body = "".join(parts)
        t = body.strip(_SPACE)
        if not t:
            out.append(Blank(line, start, pos))
        elif t[0] == "#":
            out.append(Comment(line, start, pos, t))
            if (blocks and stack and t.startswith(_BEGIN) and stack[-1].lname == "virtualhost"
                    and text.count("\n", start, pos) == 1):  # a BEGIN line of its own
                blk = _block_at(text, pos, line + 1, path)
                if blk is not None:
                    out.append(blk)
                    found.append(blk)
                    skip = text.count("\n", pos, blk.end)
                    deque(islice(numbered, skip), 0)  # the body's lines, consumed at C speed
                    pos = blk.end
        elif t[0] != "<":
            words = t.split(None, 1) if plain else _name_split(t)
            name, lname = _NAMES.get(words[0]) or _name(words[0])
            out.append(Directive(line, start, pos, name, words[1] if len(words) > 1 else "", lname))
        elif t[1:2] == "/":
            _close((t.split(None, 1) if plain else _name_split(t))[0], line, pos, start, stack, path)
            out = stack[-1].children if stack else root
        else:
            try:
                name, raw_args = _section_head(t)
            except ValueError as exc:
                raise ConfigSyntaxError(
                    f"<{exc.args[0]}> directive missing closing '>'", path, line) from None
            if not name:
                raise ConfigSyntaxError("section with no name", path, line)
            if len(stack) >= MAX_NESTING:
                raise ConfigSyntaxError(f"sections nested more than {MAX_NESTING} deep; apachemaint "
                                        "reads no deeper (no real server nests so far)", path, line)
            sec = Section(line, start, pos, name, raw_args, name.lower(), pos, 0, 0, [])
            out.append(sec)
            stack.append(sec)
            out = sec.children
    if pos > len(text):
        _unend(root, len(text))
    return root, stack, found


# The markers, as block.py writes them (a test holds the two equal; block imports this module).
_BEGIN = "# BEGIN apachemaint"
_END = "# END apachemaint"
# What server.load acts on or rules must see as they stand: a body holding any of these is
# read node by node.  A body patch wrote holds none.
_NOT_IN_BLOCK = frozenset({"loadmodule", "serverroot", "define", "undefine", "include", "includeoptional"})
_SHAPES: dict[str, tuple[str, list[Node] | None]] = {}  # body text -> (that text, its nodes or None)
_MAX_SHAPES = 256  # distinct bodies kept (options differ per site at most)


def _block_at(text: str, pos: int, line: int, path: str) -> Block | None:
    """The block body that starts at ``pos`` (right after a BEGIN marker's line), when it can
    be one node: its END marker starts a line, and the lines between are plain (no
    continuation, no comment, sections closed inside, nothing ``_NOT_IN_BLOCK``)."""
    at = text.find(_END, pos)
    if at < 0:
        return None
    end = text.rfind("\n", pos - 1, at) + 1
    if end <= pos or text[end:at].strip(" \t") or text.find(_BEGIN, pos, at) >= 0:
        return None
    body = text[pos:end]
    if body not in _SHAPES:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        _SHAPES[body] = (body, _shape_of(body, path))
    body, shape = _SHAPES[body]
    return None if shape is None else Block(line, pos, end, shape, body)


def _shape_of(body: str, path: str) -> list[Node] | None:
    if "\\\n" in body or "\\\r\n" in body:
        return None
    try:
        nodes, stack, _ = _read(body, path, False)
    except ConfigSyntaxError:
        return None
    if stack:
        return None
    for node in walk(nodes):
        if type(node) is Comment or (type(node) is Directive and node.lname in _NOT_IN_BLOCK) or (
                type(node) is Section and node.lname == "virtualhost"):
            return None
    return nodes


def _placed(nodes: list[Node], offset: int, lines: int) -> list[Node]:
    """Copies of ``nodes`` moved ``offset`` characters and ``lines`` lines on; the strings
    are shared."""
    out: list[Node] = []
    for n in nodes:
        kind = type(n)
        if kind is Directive:
            out.append(Directive(n.line + lines, n.start + offset, n.end + offset, n.name, n.raw_args, n.lname))
        elif kind is Section:
            out.append(Section(n.line + lines, n.start + offset, n.end + offset, n.name, n.raw_args, n.lname,
                               n.open_end + offset, n.close_start + offset, n.close_line + lines,
                               _placed(n.children, offset, lines)))
        else:
            out.append(kind(n.line + lines, n.start + offset, n.end + offset))
    return out


def _unend(nodes: list[Node], end: int) -> None:
    """Take back the newline counted for a last line that has none: the nodes on the
    tree's right edge end there."""
    while nodes:
        node = nodes[-1]
        node.end = min(node.end, end)
        if type(node) is not Section:
            return
        node.open_end = min(node.open_end, end)
        nodes = node.children


def _close(word: str, line: int, end: int, start: int, stack: list[Section], path: str) -> None:
    """``word`` is the line's first, ``</Name>``."""
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
    # A stack of iterators rather than nested generators: rules walk every vhost of a
    # server, and each level of generator nesting costs a call per node.
    stack = [iter(nodes)]
    while stack:
        for node in stack[-1]:
            kind = type(node)
            if kind is Block:  # not a node of the file: its body's nodes stand in its place
                stack.append(iter(node.children))
                break
            yield node
            if kind is Section and node.children:
                stack.append(iter(node.children))
                break
        else:
            stack.pop()
