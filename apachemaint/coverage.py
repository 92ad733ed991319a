"""``apachemaint verify``: proof on the live server that every host would go down, with no downtime.

The managed block has a preview switch: a request whose ``X-Apachemaint-Preview`` header
names a live preview token (a file in the page's ``.apachemaint/preview/``) is answered as
maintenance would answer it, from a preview page, while every other request is served as
usual.  One run makes one random token, puts it (and the preview page) beside the page of
every patched vhost, asks every vhost x every name x every address it listens on once
without and once with the token, and removes what it put there, whatever happens.

A host is *covered* when the token request gets the 503 with the preview page (or, during a
real window, the page) and a Retry-After; *NOT covered* when anything else answers (what
did is reported); *not applicable* for a vhost httpd does not read, or one that only
redirects.
"""
from __future__ import annotations

import http.client
import os
import secrets
import socket
import ssl
from dataclasses import asdict, dataclass, field
from datetime import timezone
from pathlib import Path

from . import block, location, page, pagedir, reader, server, vhosts
from .errors import ApacheMaintError
from .rules.context import ServerContext, VHostContext

COVERED, NOT_COVERED, NOT_APPLICABLE = "covered", "NOT covered", "not applicable"
UP, STILL_DOWN = "up", "still down"  # what `up --verify` finds
TIMEOUT = 10.0
_SAMPLE = "apachemaint-verify"  # the name asked for under a wildcard alias


@dataclass
class Probe:
    """One host of one vhost on one address, and what verify found."""
    file: str
    line: int
    vhost: str
    host: str
    address: str  # where verify connects: "127.0.0.1:443"
    tls: bool
    result: str = NOT_APPLICABLE
    detail: str = ""
    target: location.Target | None = field(default=None, repr=False)  # its page (None: no block)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("target")
        return d


def plan(srv: server.Server, connect: str | None = None) -> list[Probe]:
    """Every (vhost, name, address) of ``srv`` to ask, with the not-applicable ones decided."""
    ctx = ServerContext.from_server(srv)
    out: list[Probe] = []
    for cf in srv.configs.values():
        for vh in vhosts.find(cf):
            vctx = VHostContext(cf, vh, ctx, list(vh.enclosing))
            why = None
            if not vctx.active:
                why = "httpd does not read it (a conditional section that does not hold)"
            elif vctx.redirect_only:
                why = "redirect-only: every request is redirected"
            target = None
            if why is None and vctx.managed:
                opts = vctx.managed[0].marker.options
                where = location.for_apache(vh, opts.page, ctx)
                if where.page is None:
                    why = f"the page location is not known: {where.why}"
                else:
                    target = location.Target(Path(where.page), opts, f"{cf.path}:{vh.line}", None,
                                             location.base_of(where.page))
            for uses in _macro_uses(srv, vh):
                for name in _names(vh, srv, uses):
                    for address, tls in _addresses(vh, srv, connect, uses):
                        out.append(Probe(cf.path, vh.line, vh.tag, name, address, tls,
                                         NOT_APPLICABLE if why else "", why or "", target))
    return out


def _macro_uses(srv: server.Server, vh: vhosts.VHost) -> list[dict[str, str]]:
    """For a vhost inside a ``<Macro>``: each ``Use`` of it in the server, as the values it
    gives the macro's parameters (httpd makes one vhost per Use).  Otherwise one empty set."""
    macro = next((s for s in vh.enclosing if s.lname == "macro" and s.args), None)
    if macro is None:
        return [{}]
    params = macro.args[1:]
    uses = [d.args[1:] for cf in srv.configs.values() for d in reader.walk(cf.children)
            if type(d) is reader.Directive and d.lname == "use" and d.args[:1]
            and d.args[0].lower() == macro.args[0].lower()]
    return [dict(zip(params, given)) for given in uses if len(given) == len(params)]


def _substituted(value: str, uses: dict[str, str]) -> str:
    # Longest parameter first, as mod_macro does: $name must not eat $name_alias.
    for param in sorted(uses, key=len, reverse=True):
        value = value.replace(param, uses[param])
    return value


def _names(vh: vhosts.VHost, srv: server.Server, uses: dict[str, str]) -> list[str]:
    names = [_substituted(n, uses).lower() for n in vh.names]
    if not names:  # the server's own name answers for it
        own = [d.args[0] for d in srv.server_level if d.lname == "servername" and d.args]
        names = [vhosts._host_of(own[-1]) if own else "localhost"]
    return [n.replace("*", _SAMPLE).replace("?", "a") for n in names]


def _addresses(vh: vhosts.VHost, srv: server.Server, connect: str | None,
               uses: dict[str, str]) -> list[tuple[str, bool]]:
    out = []
    for raw in vh.section.args:
        addr = server.expand(_substituted(raw, uses), srv.variables)
        host, sep, port = addr.rpartition(":")
        if not sep or not port.isdigit():
            host, port = addr, ""
        if connect:
            target = connect
        else:
            if not port:
                continue  # no port of its own: every Listen; name one with --connect
            host = host.strip("[]")
            target = f"{'127.0.0.1' if host in ('*', '_default_') else host}:{port}"
        tls = vh.https is True or (vh.https is None and port == "443")
        out.append((target, tls))
    return out


def run(probes: list[Probe], *, token: str | None = None) -> list[Probe]:
    """Ask every applicable probe twice; the preview tokens and page exist only meanwhile."""
    token = token or secrets.token_urlsafe(32)
    html = page.render_html("apachemaint verify: a preview of the maintenance page", None,
                            _now())
    targets = {p.target.page: p.target for p in probes if p.target is not None and not p.result}
    made: list[tuple[location.Target, list[str]]] = []
    try:
        refused: dict[Path, str] = {}
        for t in targets.values():
            made.append((t, []))
            try:
                _arm(t, token, html, made[-1][1])
            except ApacheMaintError as exc:
                refused[t.page] = str(exc)  # that page cannot be proven; the others still can
        for p in probes:
            if p.result:
                continue
            if p.target is not None and p.target.page in refused:
                p.result, p.detail = NOT_COVERED, f"no preview possible: {refused[p.target.page]}"
                continue
            _ask(p, token, html)
    finally:
        for t, folders in made:
            _disarm(t, token, folders)
    return probes


def _now():
    from datetime import datetime

    return datetime.now(timezone.utc)


def _preview(t: location.Target, create: bool) -> tuple[list[pagedir.Folder], list[str]]:
    """The page folder, its state folder and their preview folder, walked by `pagedir`'s rules
    (a deploy user's link there is not followed); the folders made on the way."""
    root, below = t.walk
    opened: list[pagedir.Folder] = []
    try:
        folder = pagedir.open_folder(root, below, create=0o755 if create else None)
        if folder is None:
            return [], []
        opened.append(folder)
        for name, mode in ((block.STATE_DIR, 0o755), (block.PREVIEW_DIR, 0o711)):
            # Listable by nobody, stat-able by Apache, as the bypass tokens are.
            child = pagedir.child(opened[-1], name, create=mode if create else None)
            if child is None:
                break
            opened.append(child)
    except BaseException:
        for f in opened:
            f.close()
        raise
    return opened, [path for f in opened for path in f.made]


def _arm(t: location.Target, token: str, html: bytes, made: list[str]) -> None:
    """The token and the preview page beside one page; ``made`` gets the folders made for them."""
    opened, created = _preview(t, create=True)
    made += created
    try:
        preview = opened[-1]
        for name, data, mode in ((token, b"", 0o600), (block.PAGE_COPY, html, 0o644)):
            pagedir.switch(pagedir.stage(preview.fd, name, data, mode, f"{preview.path}/{name}"))
    finally:
        for f in opened:
            f.close()


def _disarm(t: location.Target, token: str, made: list[str]) -> None:
    """Remove what `_arm` put there, and the folders it made, deepest first, through their
    parents' descriptors; anything that changed meanwhile is left alone."""
    try:
        opened, _ = _preview(t, create=False)
    except ApacheMaintError:
        return
    try:
        if len(opened) == 3:
            for name in (token, block.PAGE_COPY):
                try:
                    pagedir.remove(opened[2].fd, name, f"{opened[2].path}/{name}")
                except ApacheMaintError:
                    pass
        for i in range(len(opened) - 1, 0, -1):
            if opened[i].path in made:
                _rmdir(opened[i - 1].fd, os.path.basename(opened[i].path))
        if opened and opened[0].path in made:
            # The page folder itself: removed through its parent, walked again.
            root, below = t.walk
            up = pagedir.open_folder(root, below[:-1]) if below else None
            if up is not None:
                try:
                    _rmdir(up.fd, below[-1])
                finally:
                    up.close()
    finally:
        for f in opened:
            f.close()


def _rmdir(fd: int, name: str) -> None:
    try:
        os.rmdir(name, dir_fd=fd)
    except OSError:
        pass  # not empty: something else lives there now


def _ask(p: Probe, token: str, html: bytes) -> None:
    try:
        plain = fetch(p.address, p.host, p.tls)
        preview = fetch(p.address, p.host, p.tls, {block.PREVIEW_HEADER: token})
    except OSError as exc:
        p.result, p.detail = NOT_COVERED, f"no answer from {p.address}: {exc}"
        return
    status, headers, body = preview
    if status == 503 and "retry-after" in headers and (body == html or plain[0] == 503):
        p.result = COVERED
        p.detail = "in maintenance now" if plain[0] == 503 else f"normally {plain[0]}"
        return
    p.result = NOT_COVERED
    why = "503 without the page" if status == 503 else f"answered {status}"
    if p.target is None:
        why = f"no maintenance block; {why}"
    shown = headers.get("location") or body[:60].decode("utf-8", "replace").replace("\n", " ")
    p.detail = f"{why}{': ' + shown if shown else ''}"


class _Connection(http.client.HTTPSConnection):
    """HTTPS to an address, with the host's name for SNI and the Host header; the
    certificate is not checked: this asks the server in front of us, not a stranger."""

    def __init__(self, address: str, name: str):
        host, _, port = address.rpartition(":")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        super().__init__(name, int(port), timeout=TIMEOUT, context=ctx)
        self._address = (host.strip("[]"), int(port))

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch(address: str, name: str, tls: bool, headers: dict[str, str] | None = None,
          path: str = "/") -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from ``address`` as host ``name``: status, headers (lower-case), body."""
    if tls:
        conn: http.client.HTTPConnection = _Connection(address, name)
    else:
        host, _, port = address.rpartition(":")
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=TIMEOUT)
    try:
        # Asked as a visitor following a link asks: no Cache-Control.  A `no-cache` here made
        # mod_cache go to the handler (and the block) while every visitor got its stored page.
        conn.request("GET", path, headers={"Host": name, "User-Agent": "apachemaint-verify", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _server(main: Path | None) -> server.Server:
    if main is None:
        layout = server.installed_layout()
        if layout is None:
            raise ApacheMaintError("no server config found; give --config MAIN")
        main = layout.main
    srv = server.load(main)
    if srv.errors:
        raise srv.errors[0]
    return srv


def verify(main: Path | None = None, *, connect: str | None = None) -> list[Probe]:
    """Plan and run a whole server's probes: ``main``, or the installed server."""
    return run(plan(_server(main), connect))


def of_targets(targets: list[location.Target], main: Path | None = None, *,
               connect: str | None = None) -> list[Probe]:
    """The probes of the vhosts behind ``targets``: every vhost in a file `--vhost` named
    (patched or not: an unpatched one there stays up), and any vhost whose page is one of
    theirs (so `--docroot` finds the vhosts that serve it)."""
    srv = _server(main)
    files = {os.path.realpath(t.source.rsplit(":", 1)[0]) for t in targets if t.source != "--docroot"}
    pages = {os.path.realpath(t.page) for t in targets}
    probes = [p for p in plan(srv, connect)
              if os.path.realpath(p.file) in files or (p.target and os.path.realpath(p.target.page) in pages)]
    if not any(p.result != NOT_APPLICABLE for p in probes):
        raise ApacheMaintError("no vhost of this server serves that page, so there is nothing to verify "
                               "(give --config MAIN, or --verify-url URL)", srv.main)
    return probes


def expect(probes: list[Probe], page_html: bytes | None) -> list[Probe]:
    """After `down` (``page_html``: the page it wrote) or `up` (None), ask every applicable
    probe once, as a visitor would."""
    for p in probes:
        if p.result:
            continue
        try:
            status, headers, body = fetch(p.address, p.host, p.tls)
        except OSError as exc:
            p.result, p.detail = (NOT_COVERED if page_html is not None else STILL_DOWN), f"no answer: {exc}"
            continue
        if page_html is None:
            p.result = UP if status != 503 else STILL_DOWN
            p.detail = f"answered {status}"
        elif status == 503 and "retry-after" in headers and body == page_html:
            p.result = COVERED
        else:
            p.result = NOT_COVERED
            why = ("503 without the page" if status == 503 else f"answered {status}") + (
                "" if p.target else "; no maintenance block")
            p.detail = why
    return probes


def exit_code(probes: list[Probe]) -> int:
    return 1 if any(p.result in (NOT_COVERED, STILL_DOWN) for p in probes) else 0


def text(probes: list[Probe]) -> str:
    lines = [f"{p.file}:{p.line}: {p.host} on {'https' if p.tls else 'http'}://{p.address}: "
             f"{p.result}{' (' + p.detail + ')' if p.detail else ''}" for p in probes]
    kinds = (UP, STILL_DOWN) if any(p.result in (UP, STILL_DOWN) for p in probes) else (COVERED, NOT_COVERED)
    counts = {r: sum(p.result == r for p in probes) for r in (*kinds, NOT_APPLICABLE)}
    lines.append(", ".join(f"{n} {r}" for r, n in counts.items()))
    return "\n".join(lines)
