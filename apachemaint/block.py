"""The managed maintenance block: its options, its text, and how to recognise it in a vhost.

The block is rendered from ``templates/vhost/maintenance-block.conf.j2`` and framed by two
marker comments.  The BEGIN marker records the block format version, a digest of the body
and every option, so that re-patching keeps a vhost's options and ``check`` can tell a
missing block from one edited by hand (digest no longer matches the body) or an outdated
one (the current template renders something else for the same options).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING

from .errors import BlockError, ConfigSyntaxError, InvalidOption
from .reader import Comment, ConfigFile, Directive, Node, Section, parse

if TYPE_CHECKING:
    from . import vhosts

FORMAT = 2
BEGIN = "# BEGIN apachemaint"
END = "# END apachemaint"
DEFAULT_PAGE = "%{DOCUMENT_ROOT}/system/maintenance.html"
ERROR_URL = "/system/maintenance.html"
DEFAULT_ASSETS = ("css", "js", "mjs", "map", "png", "jpe?g", "gif", "svg", "webp", "avif",
                  "ico", "woff2?", "ttf", "otf", "eot")
STATE_DIR = ".apachemaint"  # beside the page: what `down` adds to it (see the template)
PREVIEW_DIR = "preview"  # in STATE_DIR: `verify`'s tokens and page, for the run's lifetime
PREVIEW_HEADER = "X-Apachemaint-Preview"  # the request header that carries a preview token
# The files in STATE_DIR that the block reads (names shared by the template and `down`/`up`).
PAGE_COPY = "page.html"     # the armed copy of the page, served while the flag vanishes
PAGE_JSON = "page.json"     # the JSON twin for Accept: application/json
# With `down --langs`: every language's page (and twin) inline in one mod_negotiation type
# map, so Apache picks by Accept-Language without a second internal redirect (one that a
# ProxyPass could catch and send to the backend).
PAGE_MAP = "page.var"
JSON_MAP = "page-json.var"
RETRY_AFTER = "retry-after"  # the Retry-After value `down` worked out from --until
STATE_FILE = "state.json"   # the window `status` reports (read by apachemaint only)
BYPASS_DIR = "bypass"       # a bypass token is a file name in here
TOKEN_CHARS = "[0-9A-Za-z_-]{16,128}"  # what a bypass token is made of, in the block and in `down`
DEFAULT_BYPASS_URL = "/.apachemaint/bypass"  # + /TOKEN: sets the bypass cookie, redirects to /
# ACME http-01: GET/HEAD of a challenge file that exists here passes, straight from disk.
ACME_PATH = "/.well-known/acme-challenge/"
ACME_ROOT = "%{DOCUMENT_ROOT}"  # the vhost's own, or the server's one it inherits (README)
# The modules the block needs; rewrite first: the classic recipe needs it alone (AM006).
MODULES = ("rewrite", "headers", "setenvif")
A2ENMOD = "a2enmod " + " ".join(MODULES)
RETRY_AFTER_MAX = 365 * 86400  # a year: the longest Retry-After apachemaint announces

_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_EXT = re.compile(r"^[A-Za-z0-9]{1,16}$")
_COOKIE = re.compile(r"^[A-Za-z0-9_-]{0,64}$")  # empty: no bypass
_TOKEN = re.compile(f"^{TOKEN_CHARS}$")
_PAGE = re.compile(r"^(?:%\{DOCUMENT_ROOT\})?/[A-Za-z0-9._~/-]*\.html$")


@dataclass(frozen=True)
class BlockOptions:
    page: str = DEFAULT_PAGE
    assets: tuple[str, ...] = ()  # extra pass-through extensions, beside DEFAULT_ASSETS
    allow_paths: tuple[str, ...] = ()
    allow_ips: tuple[str, ...] = ()
    bypass_cookie: str = "apachemaint_bypass"
    retry_after: int = 300
    bypass_url: str = DEFAULT_BYPASS_URL  # empty: no secret URL (the cookie still works)

    def __post_init__(self) -> None:
        _validate(self)

    def merged(self, **given) -> BlockOptions:
        """These options with every explicitly given (non-None) value put in their place."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    @property
    def page_dir(self) -> str:
        return self.page.rsplit("/", 1)[0]

    @property
    def state_dir(self) -> str:
        return f"{self.page_dir}/{STATE_DIR}"


def _validate(o: BlockOptions) -> None:
    if not _PAGE.match(o.page) or "//" in o.page or "/../" in o.page or "/./" in o.page:
        raise InvalidOption(
            f"--page {o.page!r}: give an absolute path or one under %{{DOCUMENT_ROOT}}, ending in "
            ".html, made of letters, digits and . _ ~ / - only")
    for ext in o.assets:
        if not _EXT.match(ext):
            raise InvalidOption(f"--asset-ext {ext!r}: an extension is 1-16 letters or digits, no dot")
    for p in o.allow_paths:
        if not _SAFE_PATH.match(p):
            raise InvalidOption(
                f"--allow-path {p!r}: an absolute URL path of letters, digits and . _ ~ / - only")
    if o.allow_ips:
        import ipaddress  # here, not at the top: start-up counts for a pre-commit check
    for cidr in o.allow_ips:
        try:
            ipaddress.ip_network(cidr)
        except ValueError as exc:
            raise InvalidOption(f"--allow-ip {cidr!r}: not a network address in CIDR form ({exc})") from None
    if o.bypass_cookie and not _COOKIE.match(o.bypass_cookie):
        raise InvalidOption(f"--bypass-cookie {o.bypass_cookie!r}: use letters, digits, _ and - only")
    if o.bypass_url and (not _SAFE_PATH.match(o.bypass_url) or o.bypass_url.endswith("/")
                         or any(seg in ("", ".", "..") for seg in o.bypass_url.split("/")[1:])):
        raise InvalidOption(
            f"--bypass-url {o.bypass_url!r}: an absolute URL path of letters, digits and . _ ~ / - only, "
            "not ending in / (the token is added after it), or empty for none")
    if not isinstance(o.retry_after, int) or not 0 < o.retry_after <= RETRY_AFTER_MAX:
        raise InvalidOption(f"--retry-after {o.retry_after!r}: seconds between 1 and one year")


def check_token(token: str, what: str = "--bypass-token (or APACHEMAINT_BYPASS_TOKEN)",
                file: str | None = None) -> str:
    """A bypass token the user chose (the same on every server of a fleet)."""
    if not _TOKEN.match(token):
        raise InvalidOption(f"{what}: give 16-128 characters of A-Z a-z 0-9 _ - only", file)
    return token


# --- the marker --------------------------------------------------------------------------

_MARK_KEYS = {"page": "page", "asset-ext": "assets", "allow-path": "allow_paths",
              "allow-ip": "allow_ips", "bypass-cookie": "bypass_cookie", "retry-after": "retry_after",
              "bypass-url": "bypass_url"}


def _marker_fields(o: BlockOptions) -> list[str]:
    fields = [f"page={o.page}", f"retry-after={o.retry_after}"]
    fields += [f"allow-path={p}" for p in o.allow_paths]
    fields += [f"allow-ip={c}" for c in o.allow_ips]
    fields += [f"asset-ext={e}" for e in o.assets]
    fields.append(f"bypass-cookie={o.bypass_cookie}")
    fields.append(f"bypass-url={o.bypass_url}")
    return fields


@dataclass(frozen=True)
class Marker:
    format: int
    digest: str
    options: BlockOptions
    legacy: str = ""  # the classic recipe this block replaced (see legacy_record); "" when none


LEGACY_KEY = "legacy"  # the marker field that records it: base64 of JSON, read only by unpatch


def parse_marker(text: str, path: str = "", line: int = 0) -> Marker:
    words = text[len(BEGIN):].split()
    try:
        fmt = int(words[0].lstrip("v"))
        digest = words[1].removeprefix("sha256:")
    except (IndexError, ValueError):
        raise BlockError("BEGIN apachemaint marker without version and digest", path, line) from None
    values: dict = {"assets": [], "allow_paths": [], "allow_ips": []}
    legacy = ""
    for word in words[2:]:
        key, _, value = word.partition("=")
        if key == LEGACY_KEY:
            legacy = value
            continue
        attr = _MARK_KEYS.get(key)
        if attr is None:
            raise BlockError(f"unknown option {key!r} in the BEGIN apachemaint marker", path, line)
        if isinstance(values.get(attr), list):
            values[attr].append(value)
        elif attr == "retry_after":
            try:
                values[attr] = int(value)
            except ValueError:
                raise BlockError(f"retry-after={value!r} in the marker is not a number", path, line) from None
        else:
            values[attr] = value
    for key in ("assets", "allow_paths", "allow_ips"):
        values[key] = tuple(values[key])
    try:
        return Marker(fmt, digest, BlockOptions(**values), legacy)
    except InvalidOption as exc:
        raise BlockError(f"the BEGIN apachemaint marker records a bad value: {exc.message}", path, line) from None


# --- rendering ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _template():
    from importlib import resources  # both here: commands that never render stay quick to start

    import jinja2

    source = (resources.files("apachemaint.templates") / "vhost" / "maintenance-block.conf.j2").read_text()
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=False).from_string(source)


def body_lines(o: BlockOptions, unit: str = "    ") -> list[str]:
    """The block's lines between the markers, without the vhost's own indentation."""
    return list(_body(o, unit))


# A patch run renders the same options for thousands of vhosts: once each is enough.
@lru_cache(maxsize=64)
def _body(o: BlockOptions, unit: str) -> tuple[str, ...]:
    # The guard skips every rule after it; it is rendered once to count them.
    lines = _render(o, unit, guarded=0)
    guard = next(n for n, ln in enumerate(lines) if ln == "RewriteRule ^ - [S=0]")
    skipped = sum(1 for ln in lines[guard + 1:] if ln.startswith("RewriteRule "))
    return _render(o, unit, guarded=skipped)


def _render(o: BlockOptions, unit: str, guarded: int) -> tuple[str, ...]:
    page_abs = not o.page.startswith("%{")
    text = _template().render(
        guarded=guarded,
        acme_path=_regex_path(ACME_PATH),
        acme_root=ACME_ROOT,
        page=o.page,
        error_url=ERROR_URL,
        error_url_regex=_regex_path(ERROR_URL),
        asset_regex="|".join(DEFAULT_ASSETS + o.assets),
        allow_paths=o.allow_paths,
        allow_path_regex="|".join(p.replace(".", "\\.") for p in o.allow_paths),
        allow_ips=o.allow_ips,
        bypass_cookie=o.bypass_cookie,
        bypass_url_regex=_regex_path(o.bypass_url) if o.bypass_cookie and o.bypass_url else "",
        token_regex=TOKEN_CHARS,
        state=o.state_dir,
        preview_dir=PREVIEW_DIR,
        preview_header=PREVIEW_HEADER,
        page_copy=PAGE_COPY,
        page_json=PAGE_JSON,
        page_map=PAGE_MAP,
        json_map=JSON_MAP,
        retry_after_file=RETRY_AFTER,
        bypass_dir=BYPASS_DIR,
        page_dir_grant=o.page_dir if page_abs else "",
        retry_after=o.retry_after,
        i=unit,
    )
    return tuple(ln for ln in text.splitlines() if ln.strip())


def _regex_path(path: str) -> str:
    """A URL path as a mod_rewrite pattern matching it literally."""
    return re.escape(path).replace("\\/", "/").replace("\\-", "-")


def digest(lines: list[str]) -> str:
    """Digest of a body that ignores indentation and line endings (re-indenting is no edit)."""
    norm = "\n".join(ln.strip() for ln in lines if ln.strip())
    import hashlib  # loaded here: a one-file check without a block never needs it (start-up)

    return hashlib.sha256(norm.encode("utf-8", "surrogateescape")).hexdigest()[:12]


@lru_cache(maxsize=64)
def render(o: BlockOptions, indent: str = "", unit: str = "    ", eol: str = "\n", legacy: str = "") -> str:
    """The block for a vhost indented by ``indent``; ``legacy`` (legacy_record) goes last in
    the marker, outside the digest, so a block with or without it is current alike."""
    body = body_lines(o, unit)
    fields = _marker_fields(o) + ([f"{LEGACY_KEY}={legacy}"] if legacy else [])
    begin = " ".join([BEGIN, f"v{FORMAT}", f"sha256:{digest(body)}"] + fields)
    lines = [begin] + body + [END + " (managed block: edit with `apachemaint patch`, not by hand)"]
    return "".join(f"{indent}{ln}{eol}" for ln in lines)


# --- recognising blocks in a vhost -------------------------------------------------------

class State(Enum):
    MISSING = "missing"
    CURRENT = "current"
    OUTDATED = "outdated"
    EDITED = "edited"
    LEGACY = "legacy"


@dataclass
class Found:
    """A managed block inside a vhost: the span of text from BEGIN to END, both included."""
    start: int
    end: int
    line: int
    marker: Marker
    body: list[str]

    @property
    def edited(self) -> bool:
        return digest(self.body) != self.marker.digest


@dataclass
class Legacy:
    """The classic Capistrano rewrite recipe: its directives' nodes, in order."""
    nodes: list[Node] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.nodes[0].line


def find_managed(cf: ConfigFile, vhost: Section) -> list[Found]:
    # Both markers say "apachemaint": a vhost whose text does not needs no walk (most
    # vhosts of a big server, checked or patched).
    if cf.lower_text.find("apachemaint", vhost.start, vhost.end) < 0:
        return []
    found, open_at = [], None
    for idx, node in enumerate(vhost.children):
        if isinstance(node, Comment) and node.text.startswith(BEGIN):
            if open_at is not None:
                raise BlockError("BEGIN apachemaint marker inside another managed block",
                                 cf.path, node.line)
            open_at = idx
        elif isinstance(node, Comment) and node.text.startswith(END):
            if open_at is None:
                raise BlockError("END apachemaint marker without a BEGIN", cf.path, node.line)
            begin = vhost.children[open_at]
            body = cf.text[begin.end:node.start].splitlines()
            marker = parse_marker(begin.text, cf.path, begin.line)
            found.append(Found(begin.start, node.end, begin.line, marker, body))
            open_at = None
    if open_at is not None:
        begin = vhost.children[open_at]
        raise BlockError("BEGIN apachemaint marker has no matching END apachemaint before "
                         f"</{vhost.name}>", cf.path, begin.line)
    return found


def state_of(found: Found) -> State:
    if found.edited:
        return State.EDITED
    expected = body_lines(found.marker.options)
    if found.marker.format != FORMAT or digest(expected) != found.marker.digest:
        return State.OUTDATED
    return State.CURRENT


_LEGACY_TARGET = re.compile(r"maintenance\.html|maintenance\\\.html")


def find_legacy(cf: ConfigFile, vhost: Section) -> Legacy | None:
    """The Capistrano recipe: RewriteConds testing the maintenance file with -f, ending in a
    RewriteRule that serves it (200) or answers 503.  Only a whole chain is recognised."""
    if cf.lower_text.find("maintenance", vhost.start, vhost.end) < 0:  # it names its page
        return None
    chain: list[Directive] = []
    for node in vhost.children:
        if isinstance(node, Directive) and node.lname == "rewritecond":
            chain.append(node)
            continue
        if isinstance(node, Directive) and node.lname == "rewriterule" and chain:
            tests_flag = any(len(c.args) >= 2 and _LEGACY_TARGET.search(c.args[0]) and c.args[1] == "-f"
                             for c in chain)
            if tests_flag and (_LEGACY_TARGET.search(node.raw_args) or "503" in node.raw_args):
                # The 503 flavour of the recipe points ErrorDocument at the page for good,
                # which would show it for every backend 503 once the managed block is in.
                errdocs = [n for n in vhost.children if isinstance(n, Directive)
                           and n.lname == "errordocument" and n.args[:1] == ["503"]
                           and _LEGACY_TARGET.search(n.raw_args)]
                return Legacy(sorted(chain + [node] + errdocs, key=lambda n: n.start))
        chain = []
    return None


def refresh(cf: ConfigFile) -> str:
    """``cf``'s text with every current-format block that is not hand-edited re-rendered from
    its recorded options: how fixture files follow the template (``make fixtures``).  Blocks
    of another format or edited by hand are left as they are, on purpose (AM002, AM003)."""
    from . import vhosts  # vhosts imports this module

    edits = []
    for vh in vhosts.find(cf):
        for found in find_managed(cf, vh.section):
            if found.marker.format != FORMAT or found.edited:
                continue
            unit = _unit_of(found.body, cf.line_indent(found.start))
            edits.append((found.start, found.end, render(found.marker.options, cf.line_indent(found.start),
                                                         unit, cf.eol, found.marker.legacy)))
    text = cf.text
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _unit_of(body: list[str], indent: str) -> str:
    # The block's one nesting step (inside <If>) as the file writes it.
    for prev, line in zip(body, body[1:]):
        if prev.strip().startswith("<If"):
            inner = line[:len(line) - len(line.lstrip())]
            if inner.startswith(indent) and len(inner) > len(indent):
                return inner[len(indent):]
    return "    "


# --- undoing a patch: the block out, a replaced recipe back ---------------------------------

def legacy_record(cf: ConfigFile, vhost: Section, legacy: Legacy) -> str:
    """What ``patch`` removes of a classic recipe, as the marker records it: each removed
    node's text, exactly, and how many lines after the block's END line it stood (counted
    in the patched file, so the removed lines before it do not count).  Base64 of JSON, one
    word: the marker is split on blanks."""
    import base64
    import json

    records, removed = [], 0
    for node in legacy.nodes:
        node_text = cf.text[node.start:node.end]
        records.append([cf.text.count("\n", vhost.open_end, node.start) - removed, node_text])
        removed += node_text.count("\n")
    data = json.dumps(records, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return base64.b64encode(data).decode("ascii")


# What find_legacy takes out of a vhost, so all a record may put back: the recipe's
# RewriteConds and RewriteRule and an ErrorDocument 503.  The record sits outside the digest
# and anyone who can write the marker can write a digest too, so it is read as untrusted:
# a section tag or any other directive (a piped CustomLog at server level) is refused.
_LEGACY_DIRECTIVES = {"rewritecond", "rewriterule", "errordocument"}
_LEGACY_MAX = 100_000  # lines after the END line: far beyond any vhost, and an int json keeps exact


def _legacy_text_ok(text: str) -> bool:
    if "\0" in text or not text.endswith("\n"):
        return False
    try:
        nodes = parse(text, "<legacy>").children
    except ConfigSyntaxError:
        return False
    return (len(nodes) == 1 and isinstance(nodes[0], Directive) and nodes[0].lname in _LEGACY_DIRECTIVES
            and (nodes[0].lname != "errordocument" or nodes[0].args[:1] == ["503"]))


def legacy_lines(found: Found, path: str) -> list[tuple[int, str]]:
    """The marker's record as ``(lines after END, text)`` pairs, refused with the marker's
    line unless it is exactly what ``legacy_record`` writes."""
    import base64
    import binascii
    import json

    try:
        records = json.loads(base64.b64decode(found.marker.legacy, validate=True))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise BlockError(f"the BEGIN apachemaint marker's {LEGACY_KEY}= record cannot be read ({exc})",
                         path, found.line) from None
    if not (isinstance(records, list) and records
            and all(isinstance(r, list) and len(r) == 2 and type(r[0]) is int and isinstance(r[1], str)
                    for r in records)):
        raise BlockError(f"the BEGIN apachemaint marker's {LEGACY_KEY}= record cannot be read "
                         "(not a list of [line, text] pairs)", path, found.line)
    out = [(at, text) for at, text in records]
    bad = next((text for _, text in out if not _legacy_text_ok(text)), None)
    if bad is not None:
        raise BlockError(f"the BEGIN apachemaint marker's {LEGACY_KEY}= record holds {bad.strip()[:60]!r}, "
                         "not a classic recipe's RewriteCond, RewriteRule or ErrorDocument 503 line: "
                         f"refused (remove the {LEGACY_KEY}= word by hand)", path, found.line)
    if any(not 0 <= at <= _LEGACY_MAX for at, _ in out) or out != sorted(out, key=lambda r: r[0]):
        raise BlockError(f"the BEGIN apachemaint marker's {LEGACY_KEY}= record is not one patch wrote",
                         path, found.line)
    return out


def legacy_problem(found: Found) -> str:
    """Why the block's record would be refused, or "" (none, or a good one): for ``check``."""
    if not found.marker.legacy:
        return ""
    try:
        legacy_lines(found, "")
    except BlockError as exc:
        return exc.message
    return ""


def _put_back(region: str, lines: list[tuple[int, str]], path: str, line: int) -> str:
    """``region`` (the vhost after the block) with each recorded text at its line again."""
    pos = done = 0
    for at, text in lines:
        for _ in range(at - done):
            nl = region.find("\n", pos)
            if nl < 0:
                raise BlockError("the classic recipe this block replaced cannot be put back where it stood: "
                                 "the vhost has fewer lines than when it was patched", path, line)
            pos = nl + 1
        region = region[:pos] + text + region[pos:]
        pos, done = pos + len(text), at
    return region


@dataclass(frozen=True)
class Removal:
    """What unpatching did to one vhost."""
    blocks: int  # managed blocks taken out (0: it had none)
    put_back: int  # lines of a recorded classic recipe put back (0: none recorded)
    edited: bool = False  # the (first) block had been edited by hand


def unpatch_text(cf: ConfigFile) -> tuple[str, list[tuple[vhosts.VHost, Removal]]]:
    """``cf``'s text with every managed block taken out, and, where the block recorded the
    classic recipe it replaced, that recipe back where it stood: the bytes the file had
    before ``patch``.  Pure: text in, text out, one Removal per vhost."""
    from . import vhosts  # vhosts imports this module

    edits: list[tuple[int, int, str]] = []
    out = []
    for vh in vhosts.find(cf):
        found = find_managed(cf, vh.section)
        if not found:
            out.append((vh, Removal(0, 0)))
            continue
        first = found[0]
        lines = legacy_lines(first, cf.path) if first.marker.legacy else []
        if not lines:
            edits += [(f.start, f.end, "") for f in found]
        else:
            close = vh.section.close_start
            region = cf.text[first.end:close]
            for f in reversed(found[1:]):
                region = region[:f.start - first.end] + region[f.end - first.end:]
            edits.append((first.start, close, _put_back(region, lines, cf.path, first.line)))
        out.append((vh, Removal(len(found), sum(t.count("\n") for _, t in lines), first.edited)))
    text = cf.text
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text, out
