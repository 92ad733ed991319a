"""Spreading a pure, per-item job over two processes with fork, for whole-server checks.

The rules run over every vhost of a server after the whole config is read; the work is
CPU-bound Python, so a second process (which inherits the read config through fork, at no
copying cost) halves it on a machine with two cores or more.  Only the results travel back,
pickled through a pipe.  Anything unusual (no fork, one core, a small job, a child that
fails) falls back to doing the whole job in this process: the result is the same either
way, only the time differs.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 2000  # below this, forking costs more than it saves


def map_split(fn: Callable[[T], list[R]], items: Sequence[T], *, min_items: int | None = None,
              done: Callable[[int], None] | None = None) -> list[R]:
    """``[r for item in items for r in fn(item)]``, the second half computed in a child.

    ``done(n)`` is called as this process finishes items (the child's count arrives at
    the end, all at once)."""
    small = len(items) < (MIN_ITEMS if min_items is None else min_items)
    if small or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        return _run(fn, items, done)
    half = len(items) // 2
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the second half, pickled to the pipe, then gone at once
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                pickle.dump(_run(fn, items[half:], None), out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        first = _run(fn, items[:half], done)
    except BaseException:
        _reap(read_fd, pid)
        raise
    second = _collect(read_fd, pid)
    if second is None:  # the child failed: do its half here
        second = _run(fn, items[half:], None)
    if done:
        done(len(items) - half)
    return first + second


class Partner:
    """A second process made by fork in the middle of a job, and a way to talk with it.

    For jobs that cannot simply be cut into items up front, such as reading a server
    config, where half of a large ``Include`` can be read by the child while this process
    reads the other half, and the two halves then swap what they learnt.  Both processes
    run the same code after ``start``; ``child`` tells them apart.  Messages are pickled
    objects; ``receive`` gives None when the other side has gone or sent something broken,
    and callers then do the other side's part themselves, so that the result never depends
    on whether the split worked.
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
        to_child, to_parent = os.pipe(), os.pipe()
        pid = os.fork()
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
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0


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


def _run(fn: Callable[[T], list[R]], items: Sequence[T], done: Callable[[int], None] | None) -> list[R]:
    out: list[R] = []
    for item in items:
        out.extend(fn(item))
        if done:
            done(1)
    return out


def _collect(read_fd: int, pid: int) -> list | None:
    with os.fdopen(read_fd, "rb") as src:
        data = src.read()
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    try:
        return pickle.loads(data)
    except Exception:  # a truncated pickle: the child died mid-write
        return None


def _reap(read_fd: int, pid: int) -> None:
    os.close(read_fd)
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass
