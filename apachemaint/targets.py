"""The files a ``patch`` or ``unpatch`` run edits: those named, those a server includes.

A name may be a file or a folder; a folder stands for what httpd's ``Include folder/``
would load: every file in it and its sub-folders (links followed), in httpd's order, minus
what the ``exclude`` patterns (the settings file's and ``--exclude``, see exclude.py) leave
out.  ``--from-file LIST`` (``-``: stdin) names one path a line, blank lines ignored, so a
run of 100,000 files needs no argument list (the kernel's limit) and stays one run: one
checkpoint, one config test.  A file named one by one is taken as named, excluded or not.
``--config MAIN`` with no file named means every file MAIN includes that holds a
``<VirtualHost>``, read as httpd reads the server (server.load), in httpd's order.  A file
named beside ``--config`` must be one MAIN includes: a change apachemaint cannot test
against the server it was told about is refused before anything is written.
"""
from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from . import server
from .errors import ApacheMaintError
from .exclude import Excludes

STDIN = "-"


def collect(names: Iterable[str], from_file: str | None = None, config: Path | None = None,
            exclude: Iterable[str] = ()) -> list[str]:
    """The files of one run, in order, each once: ``names``, then ``from_file``'s lines;
    folders expanded; with ``config`` and nothing named, every vhost file of that server;
    with ``config`` and files named, each must be one the server includes."""
    excludes = Excludes(exclude)
    named = list(names) + (list_file(from_file) if from_file is not None else [])
    paths: list[str] = []
    links: dict[str, bool] = {}  # a named file -> whether it is a link, from the lstat that told a folder
    for name in named:
        try:
            mode = os.lstat(name).st_mode
        except (OSError, ValueError):
            mode = 0  # not there (reading it reports that), or a NUL in the name
        if stat.S_ISDIR(mode) or (stat.S_ISLNK(mode) and os.path.isdir(name)):
            top = os.path.abspath(name)
            found = server.include_targets(top, Path("/"))
            found = [os.path.join(name, os.path.relpath(f, top)) for f in found] if isinstance(found, list) else []
            paths += [f for f in found if not excludes.excluded(f)]
        else:
            paths.append(name)
            if mode and "/.." not in f"/{name}" and not name.endswith("/"):
                links[name] = stat.S_ISLNK(mode)  # the entry _once looks at: the same folder, the same name
    if config is not None:
        srv = load(config)
        if named:
            included_only(srv, paths)
        else:
            paths = [p for p in vhost_files(srv) if not excludes.excluded(p)]
    elif not named:
        raise ApacheMaintError("name vhost files or folders, --from-file LIST, or --config MAIN for every "
                               "vhost file of a server")
    return _once(paths, links)


def list_file(name: str) -> list[str]:
    """The paths a list names, one a line (``-``: stdin); blank lines are ignored."""
    try:
        if name == STDIN:
            data = sys.stdin.buffer.read()
        else:
            with open(name, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise ApacheMaintError(f"cannot read the list of files: {exc.strerror}", name) from None
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    bad = next((n for n, line in enumerate(lines, 1) if "\0" in line), None)
    if bad is not None:  # no file name holds one; os calls would raise ValueError
        raise ApacheMaintError("a NUL byte in the list of files (one path a line)", name, bad)
    return [line.rstrip("\r") for line in lines if line.strip()]


def _once(paths: list[str], links: dict[str, bool] | None = None) -> list[str]:
    """``paths`` with a later name of a file already named left out (a link and its file
    are one file: writing it twice in one batch would plan from bytes the first write replaced).
    ``links`` says of some paths whether they are links, as an lstat of that path found
    (one without '..', so its last part is the entry looked at here)."""
    links = links or {}
    seen: set[str] = set()
    folders: dict[str, str] = {}
    out = []
    for path in paths:
        folder, name = os.path.split(os.path.abspath(path))
        real_folder = folders.get(folder)
        if real_folder is None:
            real_folder = folders[folder] = os.path.realpath(folder)
        real = os.path.join(real_folder, name)
        is_link = links.get(path)
        if is_link is None:
            is_link = os.path.islink(real)
        if is_link:
            real = server.real_path(real, folders)
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out


def load(main: Path) -> server.Server:
    """``main`` read whole; the first file it cannot read, or Include it cannot follow, is an error."""
    srv = server.load(main)
    if srv.errors:
        raise srv.errors[0]
    return srv


def vhost_files(srv: server.Server) -> list[str]:
    """Every file of ``srv`` that names a <VirtualHost>, as the server includes it (one that
    names it only in a comment is planned too, and planned to stay as it is)."""
    return [path for path, cf in srv.configs.items() if "<virtualhost" in cf.lower_text]


def included_only(srv: server.Server, paths: list[str]) -> None:
    """Refuse the first of ``paths`` that ``srv`` does not include."""
    for path in paths:
        if not srv.includes(Path(path)):
            raise ApacheMaintError(f"not included by {srv.main}; patch and unpatch --config edit only files "
                                   "that server reads (name its vhost files, or leave out --config)", path)
