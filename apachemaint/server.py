"""Whole server configs: where distributions keep them, which files they include, which
modules they load, and how to ask that server whether its config is valid.

Where each platform keeps its config is in ``layouts`` (records of data, one per platform).
Loading reads every file once, in httpd's order, evaluating ``<IfModule>``/``<IfDefine>``
against what has been loaded and defined so far, as httpd does while it reads.
"""
from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import reader
from .conditions import holds, module_key
from .errors import ApacheMaintError, ConfigSyntaxError
from .reader import ConfigFile, Directive, Section

if TYPE_CHECKING:
    from .layouts import Layout


@dataclass
class Server:
    """One server config: its main file, ServerRoot, variables, and every file it includes."""
    main: Path
    server_root: Path
    env: dict[str, str] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)  # real paths of main and every included file
    configs: dict[str, ConfigFile] = field(default_factory=dict)  # as included, in httpd's order
    modules: set[str] = field(default_factory=set)
    defines: set[str] = field(default_factory=set)  # names <IfDefine> tests
    variables: dict[str, str] = field(default_factory=dict)  # what ${NAME} expands to
    defined: dict[str, str] = field(default_factory=dict)  # the variables set by Define
    server_level: list[Directive] = field(default_factory=list)  # outside every vhost and section
    directories: list[Section] = field(default_factory=list)  # server-level access sections (ACCESS_SECTIONS)
    inactive: set[int] = field(default_factory=set)  # id() of sections httpd skips
    # address -> (file as included, line) of the first vhost on it: the default for that address
    first_vhosts: dict[str, tuple[str, int]] = field(default_factory=dict)
    errors: list[ApacheMaintError] = field(default_factory=list)
    elsewhere: int = 0  # files read by a partner process, and not in ``configs`` (see load)

    def includes(self, path: Path) -> bool:
        return os.path.realpath(path) in self.files

    def expand(self, value: str) -> str:
        return expand(value, self.variables)

    def configtest(self) -> tuple[bool, str]:
        from . import httpd

        binary = httpd.find_binary()
        if binary is None:
            return True, "no Apache binary found; config not tested"
        with _runtime_env(self.env) as env:
            return httpd.configtest(self.main, server_root=self.server_root, env=env, binary=binary)


_RUNTIME_DIRS = {"APACHE_RUN_DIR", "APACHE_LOCK_DIR", "APACHE_LOG_DIR"}
VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")  # httpd's ${NAME}, from Define or the environment


class _runtime_env:
    """apache2ctl creates Debian's run and lock folders before it starts httpd; a bare
    `apache2 -t` fails without them, so missing ones are lent a scratch folder."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __enter__(self) -> dict[str, str]:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="apachemaint-configtest-")
        return {k: (self._tmp.name if k in _RUNTIME_DIRS and not os.path.isdir(v) else v)
                for k, v in self.env.items()}

    def __exit__(self, *exc) -> None:
        self._tmp.cleanup()


def expand(value: str, variables: dict[str, str]) -> str:
    """``value`` with every ${NAME} that ``variables`` knows filled in; the rest left as is."""
    return VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), value)


# Reads the files of one Include in the walker's place: (walker, paths, depth) -> None.
ReadInclude = Callable[["_Walker", list[str], int], None]


def load(main: str | Path, layout: Layout | None = None, *, use_apachectl: bool = False,
         on_file: Callable[[str], None] | None = None, parsed: dict[str, ConfigFile] | None = None,
         read_include: ReadInclude | None = None, blocks: bool = False) -> Server:
    """Read ``main`` and follow Include/IncludeOptional the way httpd does: paths relative
    to ServerRoot, globs sorted, directories read whole, each file read once.  Unparsable
    files and missing ``Include`` targets are collected in ``errors``, not raised.

    With ``use_apachectl``, httpd itself names the included files, the loaded modules and
    the defines (one `-t -D DUMP_*` run), and only the reading is left to this module.

    ``parsed`` maps real paths to files the caller has already read (patch has read every
    file it plans for): they are not read again.

    ``read_include`` is handed the files of every Include and must read them (with the
    walker's ``visit_each``): split_read.TwoProcessRead reads a big one in two processes,
    and ``elsewhere`` then counts the files the other process read and checks.

    ``blocks``: managed blocks are read as one node each (see ``reader.Block``), for a check;
    code that edits files reads them node by node."""
    from .envvars import debian_envvars
    from .layouts import DEBIAN_BUILTIN  # here: a one-file check answered by servercache loads neither

    main = Path(main).absolute()
    if not main.is_file():
        raise ApacheMaintError("server config not found", main)
    envvars = main.parent / (layout.envvars if layout and layout.envvars else "envvars")
    env = debian_envvars(envvars) if envvars.is_file() else {}
    root = layout.server_root if layout else main.parent
    server = Server(main, root, env, variables={**os.environ, **env})
    server.modules = set(layout.builtin_modules if layout else DEBIAN_BUILTIN)
    walker = _Walker(server, on_file, parsed or {}, read_include, blocks)
    if use_apachectl:
        files, server.modules, server.defines = _ask_httpd(server)
        walker.follow = False
        walker.visit_all([str(f) for f in files], 0)
    else:
        walker.visit(main, 0)
    return server


# The directives that change what the rest of the walk reads or knows.
# Sections that decide who may read a file or URL: at server level they count for every vhost
# (Debian's <Directory /> deny, a hardening <DirectoryMatch "/\.">).
ACCESS_SECTIONS = frozenset({"directory", "directorymatch", "files", "filesmatch", "location", "locationmatch"})
_WALKED = frozenset({"loadmodule", "serverroot", "define", "undefine", "include", "includeoptional"})


_MAX_LINKS = 40  # links followed in a row before realpath takes over (Linux's own bound)


def real_path(path: str, folders: dict[str, str]) -> str:
    """``os.path.realpath(path)``, each folder resolved once for the calls that share
    ``folders`` (folder -> its real path): a server or a patch run names thousands of links
    in one folder (Debian's sites-enabled into sites-available), and realpath stats every
    part of every path.  A link costs one readlink, its target taken from the link's own real
    folder, as the kernel takes it; what realpath alone settles (a loop, '.' or '..' last)
    is left to it."""
    for _ in range(_MAX_LINKS):
        folder, name = os.path.split(path)
        real_folder = folders.get(folder)
        if real_folder is None:
            real_folder = folders[folder] = os.path.realpath(folder)
        full = os.path.join(real_folder, name)
        if name in ("", ".", ".."):
            return os.path.realpath(full)
        try:
            target = os.readlink(full)
        except OSError:  # no link, or nothing there: the path as it stands
            return full
        path = os.path.join(real_folder, target)  # an absolute target replaces the folder
    return os.path.realpath(path)  # a loop, or a long chain: realpath's own answer


class _Walker:
    def __init__(self, server: Server, on_file: Callable[[str], None] | None,
                 parsed: dict[str, ConfigFile], read_include: ReadInclude | None = None,
                 blocks: bool = False):
        self.server = server
        self.blocks = blocks
        self.parsed = parsed
        self.read_include = read_include
        self.follow = True
        self.on_file = on_file
        self._globs: dict[str, list[str] | str] = {}
        self._folders: dict[str, str] = {}  # folder -> its real path

    def visit(self, path: str | Path, depth: int) -> None:
        srv = self.server
        path = str(path)
        real = real_path(path, self._folders)
        if real in srv.files or depth > 32:
            return
        srv.files.add(real)
        if self.on_file:
            self.on_file(path)
        try:
            cf = self.parsed.get(real) or reader.read(path, blocks=self.blocks)
        except ApacheMaintError as exc:
            srv.errors.append(exc)
            return
        srv.configs[path] = cf
        self.nodes(cf, cf.children, depth, in_section=False)

    def nodes(self, cf: ConfigFile, nodes: list, depth: int, in_section: bool) -> None:
        srv = self.server
        for node in nodes:
            kind = type(node)
            if kind is Directive:
                if not in_section:
                    srv.server_level.append(node)
                if node.lname in _WALKED:  # tested here: a call per directive shows at 10,000 files
                    self.directive(cf, node, depth)
            elif kind is Section:
                if node.lname in reader.CONDITIONALS:
                    if not holds(node, srv.modules, srv.defines):
                        srv.inactive.add(id(node))
                        continue
                    self.nodes(cf, node.children, depth, in_section)
                    continue
                if node.lname in ACCESS_SECTIONS and not in_section:
                    srv.directories.append(node)
                elif node.lname == "virtualhost" and not in_section:
                    for address in node.args:
                        srv.first_vhosts.setdefault(address.lower().replace("_default_", "*"),
                                                    (cf.path, node.line))
                self.nodes(cf, node.children, depth, True)

    def directive(self, cf: ConfigFile, d: Directive, depth: int) -> None:
        srv, name = self.server, d.lname
        if not d.args:
            return
        if name == "loadmodule":
            srv.modules.add(module_key(d.args[0]))
        elif name == "serverroot" and depth == 0:
            srv.server_root = Path(srv.expand(d.args[0]))
        elif name == "define":
            srv.defines.add(d.args[0])
            if len(d.args) >= 2:
                srv.variables[d.args[0]] = srv.defined[d.args[0]] = srv.expand(d.args[1])
        elif name == "undefine":
            srv.defines.discard(d.args[0])
            srv.variables.pop(d.args[0], None)
            srv.defined.pop(d.args[0], None)
        elif name in ("include", "includeoptional") and self.follow:
            pattern = srv.expand(d.args[0])
            targets = self.targets(pattern, name == "includeoptional")
            if isinstance(targets, str):
                if name == "include":
                    srv.errors.append(ConfigSyntaxError(targets, cf.path, d.line))
                return
            self.visit_all(targets, depth + 1)

    def visit_all(self, paths: list[str], depth: int) -> None:
        """Read the files one Include names, in order (or let ``read_include`` read them)."""
        if self.read_include is None:
            self.visit_each(paths, depth)
        else:
            self.read_include(self, paths, depth)

    def visit_each(self, paths: list[str], depth: int) -> None:
        for path in paths:
            self.visit(path, depth)

    def targets(self, pattern: str, optional: bool = False) -> list[str] | str:
        """The files an Include names, or httpd's message when there are none."""
        key = f"?{pattern}" if optional else pattern
        if key not in self._globs:
            self._globs[key] = _include_targets(pattern, self.server.server_root, optional)
        return self._globs[key]


def include_targets(pattern: str, server_root: Path, optional: bool = False) -> list[str] | str:
    """The files an Include pattern names, in httpd's order, or httpd's message for none."""
    return _include_targets(pattern, server_root, optional)


def _include_targets(pattern: str, server_root: Path, optional: bool = False) -> list[str] | str:
    p = Path(pattern)
    if not p.is_absolute():
        p = server_root / p
    if glob.has_magic(str(p)):
        if glob.has_magic(str(p.parent)):
            return _wildcard_walk(str(p), optional)
        if p.parent.is_dir():
            found = _matching_files(str(p.parent), p.name)
        else:
            return f"Include/IncludeOptional: Could not open directory {p.parent}: No such file or directory"
        return found or f"Include/IncludeOptional: No matches for the wildcard '{p.name}' in '{p.parent}', failing"
    if p.is_dir():
        # Path order (part by part) is httpd's: each folder sorted, sub-folders where they sort.
        return [str(c) for c in sorted(c for c in p.rglob("*") if c.is_file())]
    if p.is_file():
        return [str(p)]
    if p.exists():  # httpd: "Access to file ... denied by server: not a regular file"
        return f"Could not open configuration file {p}: not a regular file"
    return f"Could not open configuration file {p}: No such file or directory"


def _wildcard_walk(pattern: str, optional: bool) -> list[str] | str:
    """A pattern with wildcards in its folders, walked as httpd walks it: part by part, each
    folder's matches sorted, only folders (not links to them, as httpd's dirent test) matched
    before the last part, and the first folder
    that cannot be read or has no match ends the whole Include with httpd's message
    (IncludeOptional passes over a folder with no match, as httpd does).  So
    ``Include /*/*/*/*.conf`` stops where httpd stops instead of globbing the whole disk."""
    head, *parts = pattern.split("/")
    found: list[str] = []
    # A stack of (folder, parts still to match), last pushed first: depth first, in order.
    stack = [(head or "/", parts)]
    while stack:
        folder, rest = stack.pop()
        plain = 0
        while plain < len(rest) - 1 and not glob.has_magic(rest[plain]):
            plain += 1
        folder = os.path.join(folder, *rest[:plain])
        part, rest = rest[plain], rest[plain + 1:]
        if not rest:
            files = _matching_files(folder, part)
            if isinstance(files, str):
                return files
            if not files and not optional:
                return f"Include/IncludeOptional: No matches for the wildcard '{part}' in '{folder}', failing"
            found += files
            continue
        try:
            with os.scandir(folder) as it:
                folders = sorted(e.name for e in it if e.is_dir(follow_symlinks=False)
                                 and (part.startswith(".") or not e.name.startswith("."))
                                 and fnmatch.fnmatchcase(e.name, part))
        except OSError as exc:
            return f"Include/IncludeOptional: Could not open directory {folder}: {exc.strerror}"
        if not folders and not optional:
            return f"Include/IncludeOptional: No matches for the wildcard '{part}' in '{folder}', failing"
        stack += [(os.path.join(folder, name), rest) for name in reversed(folders)]
    return found


def _matching_files(folder: str, pattern: str) -> list[str] | str:
    """glob.glob(folder/pattern) limited to files, sorted, with the file test taken from the
    folder's entries instead of a stat per match (10,000 of them on a big host); httpd's
    message when the folder cannot be read."""
    hidden = pattern.startswith(".")  # glob's rule: a leading dot is matched only explicitly
    try:
        with os.scandir(folder) as it:
            entries = {e.name: e for e in it if hidden or not e.name.startswith(".")}
    except OSError as exc:
        return f"Include/IncludeOptional: Could not open directory {folder}: {exc.strerror}"
    return [os.path.join(folder, name) for name in sorted(fnmatch.filter(entries, pattern))
            if entries[name].is_file()]


def detect(paths: list[Path], parsed: dict[str, ConfigFile] | None = None) -> dict[Path, Server]:
    """The installed server config that includes each path, for the paths that have one.

    Whether any does is kept between runs (``servercache``): a one-file check of a file the
    installed server does not include then reads none of that server."""
    import time

    from . import servercache

    if parsed is None and servercache.none_includes(paths):
        return {}
    from . import layouts

    started = time.time_ns()
    found: dict[Path, Server] = {}
    mains: set[Path] = set()
    loaded = []
    for layout, _score in layouts.candidates():
        if layout.main in mains:  # records that share a main path (SUSE, Gentoo, Alpine): read once
            continue
        mains.add(layout.main)
        server = load(layout.main, layout, parsed=parsed)
        loaded.append((layout, server))
        for p in paths:
            if p not in found and server.includes(p):
                found[p] = server
    if parsed is None:
        servercache.remember(loaded, started)
    return found


def installed_layout() -> Layout | None:
    """The platform this machine is (see layouts.recognise), with its paths as seen from here."""
    from . import layouts

    return layouts.recognise()


# --- asking httpd ------------------------------------------------------------------------

# Patterns, compiled by re (and kept in its cache) on first use: only --use-apachectl needs them.
_INCLUDED = r"^\s*\((?:\*|\d+)\)\s+(.+?)\s*$"
_MODULE = r"^\s*(\w+)_module\s+\((?:static|shared)\)\s*$"
_DEFINE = r"^Define:\s+(\S+?)(?:=.*)?\s*$"
_OWN_DEFINES = {"DUMP_INCLUDES", "DUMP_MODULES", "DUMP_RUN_CFG"}


def _ask_httpd(server: Server) -> tuple[list[Path], set[str], set[str]]:
    import subprocess

    from . import httpd

    binary = httpd.find_binary()
    if binary is None:
        raise ApacheMaintError("--use-apachectl: no Apache httpd binary found (apache2 or httpd)")
    cmd = [binary, "-t", "-D", "DUMP_INCLUDES", "-D", "DUMP_MODULES", "-D", "DUMP_RUN_CFG",
           "-f", str(server.main), "-d", str(server.server_root)]
    with _runtime_env(server.env) as env:
        done = subprocess.run(cmd, check=False, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=httpd.CONFIGTEST_TIMEOUT)
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise ApacheMaintError(f"{binary} -t failed: {lines[-1] if lines else done.returncode}", server.main)
    return parse_dump(done.stdout)


def parse_dump(out: str) -> tuple[list[Path], set[str], set[str]]:
    files: list[Path] = []
    modules: set[str] = set()
    defines: set[str] = set()
    section = ""
    for line in out.splitlines():
        if line.startswith("Included configuration files:"):
            section = "includes"
        elif line.startswith("Loaded Modules:"):
            section = "modules"
        elif m := re.match(_DEFINE, line):
            if m.group(1) not in _OWN_DEFINES:
                defines.add(m.group(1))
        elif section == "includes" and (m := re.match(_INCLUDED, line)):
            files.append(Path(m.group(1)))
        elif section == "modules" and (m := re.match(_MODULE, line)):
            modules.add(m.group(1))
            if m.group(1) == "http":
                modules.add("http_core")
    return files, modules, defines
