"""A large server read and checked in two processes: everything about the split, in one place.

``server.load`` reads a config as httpd does, one file after another; it knows nothing of
processes.  It offers one hook, ``read_include``: it is handed the files of each ``Include``
and must read all of them.  ``TwoProcessRead`` is that hook; the first ``Include`` of
``SPLIT_FROM`` files or more it splits:

1. it forks (``forked.Partner``); the child reads the second half of the files, with the
   walk's state at the fork, sends what it found (``Facts``) and waits;
2. the parent reads the first half.  If that half changed what the second half would be
   read with (a ``LoadModule``, a ``Define``, a file both halves read), the child's reading
   is thrown away and the parent reads the second half itself: the result never depends on
   whether the split happened;
3. the parent's walk goes on to the end; ``share`` then sends the child the whole server's
   facts, and the child checks its own files with them (``child_work``) and sends the
   findings back, which ``collect`` returns.  The child never returns into the walk: it
   ends inside the hook, with an immediate exit.

A child that fails, or a fork the system refuses, leaves the whole job to the parent.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import forked
from .errors import ApacheMaintError
from .reader import Directive, Section
from .server import Server

# An Include of this many files is read half here, half in a second process.
SPLIT_FROM = 2000


@dataclass
class Facts:
    """What reading (part of) a server config found, in the form the two processes exchange:
    the state the walk goes on with, what rules need of the server, which files were read."""
    modules: set[str]
    defines: set[str]
    variables: dict[str, str]
    defined: dict[str, str]
    server_level: list[Directive]
    directories: list[Section]
    errors: list[ApacheMaintError]
    files: set[str]  # real paths
    configs: int  # files read and parsed
    first_vhosts: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, srv: Server, since: Marks | None = None) -> Facts:
        """Everything known of ``srv``; with ``since``, only what was read after that point."""
        m = since or Marks()
        return cls(srv.modules, srv.defines, srv.variables, srv.defined, srv.server_level[m.server_level:],
                   srv.directories[m.directories:], srv.errors[m.errors:], srv.files - m.files,
                   len(srv.configs) - m.configs, dict(srv.first_vhosts))

    def state(self) -> tuple:
        return self.modules, self.defines, self.variables, self.defined

    def adopt(self, srv: Server) -> None:
        """Take these facts as the whole of ``srv``'s (the parent's final reading)."""
        srv.modules, srv.defines, srv.variables, srv.defined = self.state()
        srv.server_level, srv.directories, srv.files = self.server_level, self.directories, self.files
        srv.first_vhosts = self.first_vhosts

    def append_to(self, srv: Server) -> None:
        """Add these facts, read right after what ``srv`` holds, to it: the walk goes on
        from their state, and their lists follow ``srv``'s."""
        srv.modules, srv.defines, srv.variables, srv.defined = self.state()
        srv.server_level += self.server_level
        srv.directories += self.directories
        srv.errors += self.errors
        srv.files |= self.files
        srv.elsewhere += self.configs
        for address, where in self.first_vhosts.items():  # what this side read comes first
            srv.first_vhosts.setdefault(address, where)


@dataclass
class Marks:
    """How far a walk had got: the lengths of what it collects."""
    server_level: int = 0
    directories: int = 0
    errors: int = 0
    files: set[str] = field(default_factory=set)
    configs: int = 0
    inactive: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, srv: Server) -> Marks:
        return cls(len(srv.server_level), len(srv.directories), len(srv.errors), set(srv.files), len(srv.configs),
                   set(srv.inactive))


def _state(srv: Server) -> tuple:
    """A copy of what the walk reads later files with."""
    return set(srv.modules), set(srv.defines), dict(srv.variables), dict(srv.defined)


class TwoProcessRead:
    """``server.load``'s ``read_include`` hook (see the module's docstring).  ``child_work``
    is what the child does with its files once it has the whole server's facts; what it
    returns (a list) is what ``collect`` gives the parent."""

    def __init__(self, child_work: Callable[[Server], list]):
        self.child_work = child_work
        self.partner: forked.Partner | None = None  # set while a child holds half the files
        self.used = False  # one split per load: the first Include that is big enough

    @property
    def split(self) -> bool:
        """Whether a child read (and will check) part of the server."""
        return self.partner is not None

    def __call__(self, walker, paths: list[str], depth: int) -> None:
        if self.used or len(paths) < SPLIT_FROM:
            walker.visit_each(paths, depth)
            return
        self.used = True
        srv = walker.server
        half, marks = len(paths) // 2, Marks.of(srv)
        partner = forked.Partner()
        if not partner.start():
            walker.visit_each(paths, depth)
            return
        if partner.child:
            self._child(partner, walker, paths[half:], depth, marks)  # ends the process
        before = _state(srv)
        walker.visit_each(paths[:half], depth)
        # The child read its half with the state at the fork: right only if this half left
        # that state alone and the halves share no file (each is read once, at first sight).
        theirs = partner.receive() if _state(srv) == before else None
        if not isinstance(theirs, Facts) or theirs.files & srv.files:
            partner.stop()
            walker.visit_each(paths[half:], depth)
            return
        theirs.append_to(srv)
        self.partner = partner

    def _child(self, partner: forked.Partner, walker, paths: list[str], depth: int, marks: Marks) -> None:
        srv = walker.server
        try:
            walker.on_file = None  # the parent shows progress
            walker.visit_each(paths, depth)
            partner.send(Facts.of(srv, marks))
            # The files read before the fork are the parent's to check; their sections'
            # ids leave with them (``inactive`` must not match a later object's id).
            srv.configs = dict(list(srv.configs.items())[marks.configs:])
            srv.inactive -= marks.inactive
            srv.errors = []
            final = partner.receive()
            if isinstance(final, Facts):
                final.adopt(srv)
                partner.send(self.child_work(srv))
        finally:
            partner.stop()  # an immediate exit: the child never runs its caller's code

    def share(self, srv: Server) -> None:
        """Send the child the whole server, read to the end: it starts checking its files."""
        if self.partner:
            self.partner.send(Facts.of(srv))

    def collect(self) -> list | None:
        """The child's result, or None when it failed (its part is then the parent's to do)."""
        if not self.partner:
            return None
        try:
            theirs = self.partner.receive()
        finally:
            self.stop()
        return theirs if isinstance(theirs, list) else None

    def stop(self) -> None:
        if self.partner:
            self.partner.stop()
            self.partner = None
