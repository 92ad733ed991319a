"""`status --all`: every vhost of a whole server, its block and whether it is down.

The block state and the page location are decided as `verify` decides them (a vhost httpd
does not read, or one that only redirects, is "not applicable"); up or down is read the
way `status` reads one site, so both commands always agree on a page.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import block, coverage, location, maintenance, server, vhosts
from .errors import ApacheMaintError
from .rules.context import ServerContext, VHostContext

CURRENT, OUTDATED, MISSING, NOT_APPLICABLE = "current", "outdated", "missing", "not applicable"


@dataclass
class Site:
    """One vhost of the server and what `status` finds at its page."""
    file: str
    line: int
    names: list[str]
    ports: list[int | None]
    block: str  # CURRENT, OUTDATED, MISSING or NOT_APPLICABLE
    detail: str = ""  # why not applicable, or how the block is outdated (edited, legacy recipe)
    page: str | None = None
    state: maintenance.Status | None = field(default=None, repr=False)

    @property
    def down(self) -> bool:
        return bool(self.state and self.state.down)

    def as_dict(self, now: datetime) -> dict:
        d = {"file": self.file, "line": self.line, "names": self.names, "ports": self.ports,
             "block": self.block, "detail": self.detail, "page": self.page, "maintenance": self.down}
        record = self.state.as_dict(now) if self.state else {}
        # Every key of `status`, so the server-wide view hides nothing the one-site one shows.
        for key in ("since", "reason", "until", "until_given", "until_iso", "by", "seconds_left", "state_problem"):
            d[key] = record.get(key)
        return d


def _block(vctx: VHostContext) -> tuple[str, str]:
    if vctx.managed:
        state = vctx.state(vctx.managed[0])
        if state is block.State.CURRENT:
            return CURRENT, ""
        return OUTDATED, "edited by hand" if state is block.State.EDITED else "an older block"
    if vctx.legacy is not None:
        return OUTDATED, "the Capistrano recipe (apachemaint patch replaces it)"
    return MISSING, ""


def _page(cf, vh: vhosts.VHost, vctx: VHostContext, ctx: ServerContext) -> tuple[str | None, str]:
    """The page the vhost's rules look at (or would, once patched), and why it is not known."""
    if vctx.legacy is not None and not vctx.managed:
        try:
            return location.from_legacy(cf, vh, vctx.legacy), ""
        except ApacheMaintError as exc:
            return None, exc.message
    page = vctx.managed[0].marker.options.page if vctx.managed else block.DEFAULT_PAGE
    where = location.for_apache(vh, page, ctx)
    return where.page, where.why or ""


def sites(main: Path | None = None) -> list[Site]:
    """Every vhost of the server at ``main`` (default: the installed one), in file order."""
    srv: server.Server = coverage._server(main)
    ctx = ServerContext.from_server(srv)
    out: list[Site] = []
    for cf in srv.configs.values():
        for vh in vhosts.find(cf):
            vctx = VHostContext(cf, vh, ctx, list(vh.enclosing))
            site = Site(cf.path, vh.line, list(vh.names), list(vh.ports), *_block(vctx))
            if not vctx.active:
                site.block, site.detail = NOT_APPLICABLE, "httpd does not read it (a conditional section)"
            elif vctx.redirect_only:
                site.block, site.detail = NOT_APPLICABLE, "redirect-only: every request is redirected"
            page, why = _page(cf, vh, vctx, ctx)
            site.page = page
            if page is None:
                site.detail = "; ".join(x for x in (site.detail, f"page location not known: {why}") if x)
            elif site.block in (CURRENT, OUTDATED):
                # Only a vhost with rules that look at the flag can be down; a page lying under
                # an unpatched docroot takes nothing down.
                opts = vctx.managed[0].marker.options if vctx.managed else block.BlockOptions()
                target = location.Target(Path(page), opts, f"{cf.path}:{vh.line}", site.block == CURRENT,
                                         location.base_of(page))
                site.state = maintenance.status([target])[0]
            out.append(site)
    return out
