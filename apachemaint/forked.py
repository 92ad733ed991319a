"""Sharing a big job with a second process made by fork: a whole-server check, a patch of
thousands of files.

The work is CPU-bound Python (or, for a checkpoint, system calls that overlap with other
work), so a second process, which inherits everything read so far through fork at no
copying cost, halves it on a machine with two cores or more.  ``Partner`` is the second
process and a way to talk with it; ``map_split`` is its simplest use, a per-item job cut
in two.  Anything unusual (no fork, one core, a fork or pipe the system refuses, a child
that fails) leaves the job to this process alone: the result is the same either way, only
the time differs.
"""
from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 2000  # below this, forking costs more than it saves


class Partner:
    """A second process made by fork in the middle of a job, and a way to talk with it.

    Both processes run the same code after ``start``; ``child`` tells them apart, and the
    child must end with ``stop`` (an immediate exit) whatever happens, so that it never
    runs its caller's code.  Messages are pickled objects; ``receive`` gives None when the
    other side has gone or sent something broken, and callers then do the other side's
    part themselves, so that the result never depends on whether the split worked.
    """

    def __init__(self) -> None:
        self.child = False
        self.pid = 0  # the child's pid in the parent, while it runs
        self._in = self._out = -1

    @property
    def started(self) -> bool:
        return self.child or self.pid > 0

    def start(self) -> bool:
        """Fork; True in both processes when there are two now."""
        if (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
            return False
        made: list[int] = []
        try:
            to_child = os.pipe()
            made += to_child
            to_parent = os.pipe()
            made += to_parent
            pid = os.fork()
        except OSError:  # out of processes, memory or descriptors: one process it is
            for fd in made:
                os.close(fd)
            return False
        if pid == 0:
            self.child = True
            self._in, self._out = to_child[0], to_parent[1]
            os.close(to_child[1])
            os.close(to_parent[0])
        else:
            self.pid = pid
            self._in, self._out = to_parent[0], to_child[1]
            os.close(to_parent[1])
            os.close(to_child[0])
        return True

    def send(self, obj: object) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            _write_all(self._out, len(data).to_bytes(8, "little") + data)
        except OSError:  # the other side has gone: its receive-side twin reports that
            pass

    def receive(self) -> object | None:
        try:
            size = int.from_bytes(_read_exactly(self._in, 8), "little")
            return pickle.loads(_read_exactly(self._in, size))
        except Exception:  # EOF, a broken pickle: the other side failed
            return None

    def stop(self) -> None:
        """In the child: leave at once.  In the parent: end the child and reap it."""
        if self.child:
            os._exit(0)
        if self.pid:
            for fd in (self._in, self._out):
                os.close(fd)
            self._in = self._out = -1
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0


def map_split(fn: Callable[[T], list[R]], items: Sequence[T], *, min_items: int | None = None,
              done: Callable[[int], None] | None = None) -> list[R]:
    """``[r for item in items for r in fn(item)]``, the second half computed in a child.

    ``done(n)`` is called as this process finishes items (the child's count arrives at
    the end, all at once)."""
    partner = Partner()
    if len(items) < (MIN_ITEMS if min_items is None else min_items) or not partner.start():
        return _run(fn, items, done)
    half = len(items) // 2
    try:
        if partner.child:
            partner.send(_run(fn, items[half:], None))
        else:
            first = _run(fn, items[:half], done)
            second = partner.receive()
    finally:
        partner.stop()  # the child's exit; the parent's reaping, also when its half raised
    if not isinstance(second, list):  # the child failed: do its half here
        second = _run(fn, items[half:], None)
    if done:
        done(len(items) - half)
    return first + second


def _run(fn: Callable[[T], list[R]], items: Sequence[T], done: Callable[[int], None] | None) -> list[R]:
    out: list[R] = []
    for item in items:
        out.extend(fn(item))
        if done:
            done(1)
    return out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
