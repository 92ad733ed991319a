"""Does every request a vhost can get end in a redirect?  Decided per request, not per rule.

A vhost is left unpatched (AM010) only when that is proven, because a vhost taken for
redirect-only keeps serving during maintenance.  The requests a vhost can get are those for
each of its names (ServerName, every ServerAlias, a sample name for a wildcard alias), with
the Host header as browsers send it, and, for a default vhost (``_default_``, no name of its
own, or first on its address), for any Host at all.  Each mod_rewrite chain is evaluated for
each of those requests with three-valued logic: a condition on something this module cannot
know for every request (a path, a query, a header, a file) is "unknown", and an unknown
condition in front of the catch-all redirect means "not proven": patch it, report AM001.

Proven for every request of the vhost: ``%{HTTP_HOST}`` and ``%{SERVER_NAME}`` (from the
names), ``%{HTTPS}``/``%{REQUEST_SCHEME}`` (from the vhost's own ``SSLEngine``) and
``%{SERVER_PORT}`` (from its addresses).  One path condition is accepted as catch-all: the
exclusion of ACME's ``/.well-known/`` challenge files, which should keep answering anyway.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .reader import Directive, Node

# Patterns that match every URL path.
CATCH_ALL = frozenset({"^", "^/", ".*", "^.*", "^.*$", "(.*)", "^(.*)", "^(.*)$", "^/(.*)", "^/(.*)$",
                       "^/?(.*)", "^/?(.*)$", "/(.*)", "^/?", ".", "^/?.*", "^/?.*$", "^/.*", "^/.*$",
                       "(.*)$", ".*$", "^(/.*)$", "^(/.*)"})
# Host names a default vhost gets beside its own: anything at all (an unknown name, a bare IP).
_ANY_HOST = ("apachemaint-unknown.invalid", "127.0.0.1")
_WILDCARD_SAMPLES = ("www", "apachemaint-probe")
_VAR = re.compile(r"^%\{([A-Za-z_:-]+)\}$")


@dataclass(frozen=True)
class Request:
    host: str  # the Host header, as a browser sends it (":port" when not the scheme's own)
    server_name: str  # SERVER_NAME: the Host's name (UseCanonicalName Off, httpd's default)
    https: bool | None  # None: not known for this vhost
    port: int | None


def flags(rule: Directive) -> set[str]:
    """A RewriteRule's or RewriteCond's flags, names lower-cased, values dropped."""
    last = rule.args[-1] if rule.args else ""
    if len(rule.args) < 3 or not last.startswith("["):
        return set()
    return {f.strip().split("=")[0].lower() for f in last.strip("[]").split(",")}


def is_redirect(rule: Directive) -> bool:
    f = flags(rule)
    return bool(f & {"r", "redirect"}) and not f & {"p", "proxy"}


def requests(names: list[str], *, default: bool, https: bool | None, ports: list[int | None]) -> list[Request]:
    """The requests to prove a redirect for: each name on each port, plus any host for a default."""
    hosts: list[str] = []
    for name in names:
        name = name.lower()
        if "*" in name or "?" in name:
            hosts += [name.replace("*", s).replace("?", "a") for s in _WILDCARD_SAMPLES]
        else:
            hosts.append(name)
    if default or not names:
        hosts += list(_ANY_HOST)
    out = []
    for port in ports or [None]:
        own = 443 if https else 80
        for host in hosts:
            out.append(Request(host, host, https, port))
            if port is not None and port != own:
                out.append(Request(f"{host}:{port}", host, https, port))
    return out


def _value(var: str, req: Request) -> str | None:
    name = var.upper()
    if name == "HTTP_HOST" or name == "HTTP:HOST":
        return req.host
    if name == "SERVER_NAME":
        return req.server_name
    if name == "HTTPS":
        return None if req.https is None else ("on" if req.https else "off")
    if name == "REQUEST_SCHEME":
        return None if req.https is None else ("https" if req.https else "http")
    if name == "SERVER_PORT":
        return None if req.port is None else str(req.port)
    return None


def _acme_exclusion(cond: Directive) -> bool:
    """``RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/``: the challenge files pass."""
    return (len(cond.args) >= 2 and cond.args[0].upper() in ("%{REQUEST_URI}", "%{THE_REQUEST}")
            and cond.args[1].startswith("!") and "well-known" in cond.args[1])


def condition(cond: Directive, req: Request) -> bool | None:
    """Whether one RewriteCond holds for ``req``: True, False or None (not known)."""
    if len(cond.args) < 2:
        return None
    if _acme_exclusion(cond):
        return True
    m = _VAR.match(cond.args[0])
    value = _value(m.group(1), req) if m else None
    if value is None:
        return None
    pattern = cond.args[1]
    negate = pattern.startswith("!")
    if negate:
        pattern = pattern[1:]
    nocase = "nc" in flags(cond) or "nocase" in flags(cond)
    result = _match(value, pattern, nocase)
    if result is None:
        return None
    return not result if negate else result


def _match(value: str, pattern: str, nocase: bool) -> bool | None:
    if pattern[:1] in "=<>" and not pattern.startswith(("-",)):
        op = pattern[:2] if pattern[:2] in ("<=", ">=") else pattern[:1]
        other = pattern[len(op):].strip('"')
        a, b = (value.lower(), other.lower()) if nocase else (value, other)
        return {"=": a == b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    if pattern.startswith("-"):
        return None  # file tests, integer comparisons: not about the request's host
    try:
        return re.search(pattern, value, re.IGNORECASE if nocase else 0) is not None
    except re.error:
        return None  # a PCRE feature Python's re does not share: not proven


def _chain(conds: list[Directive], req: Request) -> bool | None:
    """mod_rewrite's combination: consecutive [OR] conditions form a group, groups are ANDed."""
    total: bool | None = True
    group: list[bool | None] = []
    for c in conds:
        group.append(condition(c, req))
        if "or" in flags(c) or "ornext" in flags(c):
            continue
        total = _and(total, _any(group))
        group = []
    if group:
        total = _and(total, _any(group))
    return total


def _any(values: list[bool | None]) -> bool | None:
    if True in values:
        return True
    return None if None in values else False


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def redirected(level: list[Node], req: Request, *, rewrite_on: bool) -> bool:
    """Whether ``req`` is certainly answered with a redirect by the vhost's own rules
    (``level``: its top-level directives, file order)."""
    if any(_alias_catch_all(d) for d in level if type(d) is Directive):
        return True  # mod_alias redirects after mod_rewrite let a request pass, whatever its rules did
    if not rewrite_on:
        return False
    conds: list[Directive] = []
    for node in level:
        if type(node) is not Directive:
            continue
        if node.lname == "rewritecond":
            conds.append(node)
            continue
        if node.lname == "rewriterule" and node.args:
            holds = _chain(conds, req)
            if is_redirect(node):
                if node.args[0] in CATCH_ALL and holds is True:
                    return True
                if node.args[0] in CATCH_ALL and holds is None:
                    return False  # maybe not redirected, and then served: not proven
                # A redirect of some paths: the others go on to the next rules.
            elif holds is not False and flags(node) & {"l", "last", "end", "f", "forbidden", "g", "gone",
                                                        "s", "skip", "n", "next", "c", "chain"}:
                return False  # this rule may end or change the rewriting first
        conds = []
    return False


def _alias_catch_all(d: Directive) -> bool:
    name, args = d.lname, d.args
    if name in ("redirect", "redirectpermanent", "redirecttemp"):
        path = args[1] if name == "redirect" and len(args) == 3 else (args[0] if args else "")
        return path == "/"
    if name == "redirectmatch":
        pattern = args[1] if len(args) == 3 else (args[0] if args else "")
        return pattern in CATCH_ALL
    return False
