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

from .errors import BlockError, InvalidOption
from .reader import Comment, ConfigFile, Directive, Node, Section

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
RETRY_AFTER = "retry-after"  # the Retry-After value `down` worked out from --until
STATE_FILE = "state.json"   # the window `status` reports (read by apachemaint only)
BYPASS_DIR = "bypass"       # a bypass token is a file name in here
# The modules the block needs; rewrite first: the classic recipe needs it alone (AM006).
MODULES = ("rewrite", "headers", "setenvif")
A2ENMOD = "a2enmod " + " ".join(MODULES)
RETRY_AFTER_MAX = 365 * 86400  # a year: the longest Retry-After apachemaint announces

_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_EXT = re.compile(r"^[A-Za-z0-9]{1,16}$")
_COOKIE = re.compile(r"^[A-Za-z0-9_-]{0,64}$")  # empty: no bypass
_PAGE = re.compile(r"^(?:%\{DOCUMENT_ROOT\})?/[A-Za-z0-9._~/-]*\.html$")


@dataclass(frozen=True)
class BlockOptions:
    page: str = DEFAULT_PAGE
    assets: tuple[str, ...] = ()  # extra pass-through extensions, beside DEFAULT_ASSETS
    allow_paths: tuple[str, ...] = ()
    allow_ips: tuple[str, ...] = ()
    bypass_cookie: str = "apachemaint_bypass"
    retry_after: int = 300

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
    if not isinstance(o.retry_after, int) or not 0 < o.retry_after <= RETRY_AFTER_MAX:
        raise InvalidOption(f"--retry-after {o.retry_after!r}: seconds between 1 and one year")


# --- the marker --------------------------------------------------------------------------

_MARK_KEYS = {"page": "page", "asset-ext": "assets", "allow-path": "allow_paths",
              "allow-ip": "allow_ips", "bypass-cookie": "bypass_cookie", "retry-after": "retry_after"}


def _marker_fields(o: BlockOptions) -> list[str]:
    fields = [f"page={o.page}", f"retry-after={o.retry_after}"]
    fields += [f"allow-path={p}" for p in o.allow_paths]
    fields += [f"allow-ip={c}" for c in o.allow_ips]
    fields += [f"asset-ext={e}" for e in o.assets]
    fields.append(f"bypass-cookie={o.bypass_cookie}")
    return fields


@dataclass(frozen=True)
class Marker:
    format: int
    digest: str
    options: BlockOptions


def parse_marker(text: str, path: str = "", line: int = 0) -> Marker:
    words = text[len(BEGIN):].split()
    try:
        fmt = int(words[0].lstrip("v"))
        digest = words[1].removeprefix("sha256:")
    except (IndexError, ValueError):
        raise BlockError("BEGIN apachemaint marker without version and digest", path, line) from None
    values: dict = {"assets": [], "allow_paths": [], "allow_ips": []}
    for word in words[2:]:
        key, _, value = word.partition("=")
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
        return Marker(fmt, digest, BlockOptions(**values))
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
    page_abs = not o.page.startswith("%{")
    text = _template().render(
        page=o.page,
        error_url=ERROR_URL,
        error_url_regex=re.escape(ERROR_URL).replace("\\/", "/"),
        asset_regex="|".join(DEFAULT_ASSETS + o.assets),
        allow_paths=o.allow_paths,
        allow_path_regex="|".join(p.replace(".", "\\.") for p in o.allow_paths),
        allow_ips=o.allow_ips,
        bypass_cookie=o.bypass_cookie,
        state=o.state_dir,
        preview_dir=PREVIEW_DIR,
        preview_header=PREVIEW_HEADER,
        page_copy=PAGE_COPY,
        page_json=PAGE_JSON,
        retry_after_file=RETRY_AFTER,
        bypass_dir=BYPASS_DIR,
        page_dir_grant=o.page_dir if page_abs else "",
        retry_after=o.retry_after,
        i=unit,
    )
    return tuple(ln for ln in text.splitlines() if ln.strip())


def digest(lines: list[str]) -> str:
    """Digest of a body that ignores indentation and line endings (re-indenting is no edit)."""
    norm = "\n".join(ln.strip() for ln in lines if ln.strip())
    import hashlib  # loaded here: a one-file check without a block never needs it (start-up)

    return hashlib.sha256(norm.encode("utf-8", "surrogateescape")).hexdigest()[:12]


@lru_cache(maxsize=64)
def render(o: BlockOptions, indent: str = "", unit: str = "    ", eol: str = "\n") -> str:
    body = body_lines(o, unit)
    begin = " ".join([BEGIN, f"v{FORMAT}", f"sha256:{digest(body)}"] + _marker_fields(o))
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
            edits.append((found.start, found.end,
                          render(found.marker.options, cf.line_indent(found.start), unit, cf.eol)))
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
