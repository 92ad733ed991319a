"""The files a ``patch`` or ``unpatch`` run edits: those named, those a server includes.

``--config MAIN`` with no file named means every file MAIN includes that holds a
``<VirtualHost>``, read as httpd reads the server (server.load), in httpd's order.  A file
named beside ``--config`` must be one MAIN includes: a change apachemaint cannot test
against the server it was told about is refused before anything is written.
"""
from __future__ import annotations

from pathlib import Path

from . import server
from .errors import ApacheMaintError


def load(main: Path) -> server.Server:
    """``main`` read whole; the first file it cannot read, or Include it cannot follow, is an error."""
    srv = server.load(main)
    if srv.errors:
        raise srv.errors[0]
    return srv


def vhost_files(srv: server.Server) -> list[str]:
    """Every file of ``srv`` that holds a <VirtualHost>, as the server includes it."""
    from . import vhosts

    return [path for path, cf in srv.configs.items()
            if "<virtualhost" in cf.lower_text and vhosts.find(cf)]


def included_only(srv: server.Server, paths: list[str]) -> None:
    """Refuse the first of ``paths`` that ``srv`` does not include."""
    for path in paths:
        if not srv.includes(Path(path)):
            raise ApacheMaintError(f"not included by {srv.main}; patch and unpatch --config edit only files "
                                   "that server reads (name its vhost files, or leave out --config)", path)
