"""Whole server configs: where distributions keep them, which files they include, and
how to ask that server whether its config is valid.

Layouts are records of data, not branches: adding a distribution is adding a row.
"""
from __future__ import annotations

import glob
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import reader
from .errors import ApacheMaintError
from .reader import Directive


@dataclass(frozen=True)
class Layout:
    name: str
    main: Path  # the file httpd is started with
    server_root: Path
    envvars: str | None = None  # a shell file of APACHE_* variables next to main (Debian)


LAYOUTS = (
    Layout("debian", Path("/etc/apache2/apache2.conf"), Path("/etc/apache2"), envvars="envvars"),
    Layout("rhel", Path("/etc/httpd/conf/httpd.conf"), Path("/etc/httpd")),
    Layout("httpd-image", Path("/usr/local/apache2/conf/httpd.conf"), Path("/usr/local/apache2")),
)


@dataclass
class Server:
    """One server config: its main file, ServerRoot, variables, and every file it includes."""
    main: Path
    server_root: Path
    env: dict[str, str] = field(default_factory=dict)
    files: set[Path] = field(default_factory=set)  # real paths of main and every included file

    def includes(self, path: Path) -> bool:
        return Path(os.path.realpath(path)) in self.files

    def configtest(self) -> tuple[bool, str]:
        from . import httpd

        binary = httpd.find_binary()
        if binary is None:
            return True, "no Apache binary found; config not tested"
        with tempfile.TemporaryDirectory(prefix="apachemaint-configtest-") as scratch:
            # apache2ctl creates Debian's run and lock folders before it starts httpd; a bare
            # `apache2 -t` fails without them, so missing ones are lent a scratch folder.
            env = {k: (scratch if k in _RUNTIME_DIRS and not os.path.isdir(v) else v)
                   for k, v in self.env.items()}
            return httpd.configtest(self.main, server_root=self.server_root, env=env, binary=binary)


_RUNTIME_DIRS = {"APACHE_RUN_DIR", "APACHE_LOCK_DIR", "APACHE_LOG_DIR"}
_VAR = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def _expand(value: str, variables: dict[str, str]) -> str:
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), value)


def load(main: str | Path, layout: Layout | None = None) -> Server:
    """Read ``main`` and follow Include/IncludeOptional the way httpd does: paths relative
    to ServerRoot, globs sorted, directories read whole.  Files that cannot be read are
    skipped here; the config test is the judge of those."""
    from . import httpd

    main = Path(main).absolute()
    if not main.is_file():
        raise ApacheMaintError("server config not found", main)
    env: dict[str, str] = {}
    if layout and layout.envvars and (main.parent / layout.envvars).is_file():
        env = httpd.debian_envvars(main.parent / layout.envvars)
    elif (main.parent / "envvars").is_file():
        env = httpd.debian_envvars(main.parent / "envvars")
    root = layout.server_root if layout else main.parent
    variables = {**os.environ, **env}
    server = Server(main, root, env)

    def visit(path: Path, depth: int) -> None:
        real = Path(os.path.realpath(path))
        if real in server.files or depth > 32:
            return
        server.files.add(real)
        try:
            cf = reader.read(path)
        except ApacheMaintError:
            return
        for node in reader.walk(cf.children):
            if not isinstance(node, Directive) or not node.args:
                continue
            if node.lname == "serverroot" and depth == 0:
                server.server_root = Path(_expand(node.args[0], variables))
            elif node.lname == "define" and len(node.args) >= 2:
                variables[node.args[0]] = _expand(node.args[1], variables)
            elif node.lname in ("include", "includeoptional"):
                for target in _include_targets(_expand(node.args[0], variables), server.server_root):
                    visit(target, depth + 1)

    visit(main, 0)
    return server


def _include_targets(pattern: str, server_root: Path) -> list[Path]:
    p = Path(pattern)
    if not p.is_absolute():
        p = server_root / p
    if glob.has_magic(str(p)):
        return [Path(m) for m in sorted(glob.glob(str(p))) if os.path.isfile(m)]
    if p.is_dir():
        return sorted(c for c in p.rglob("*") if c.is_file())
    return [p] if p.is_file() else []


def detect(paths: list[Path]) -> dict[Path, Server]:
    """The installed server config that includes each path, for the paths that have one."""
    found: dict[Path, Server] = {}
    for layout in LAYOUTS:
        if not layout.main.is_file():
            continue
        server = load(layout.main, layout)
        for p in paths:
            if p not in found and server.includes(p):
                found[p] = server
    return found
