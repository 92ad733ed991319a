"""Splitting a whole-server check over two processes changes the time, never the result."""
from __future__ import annotations

import errno
import os
import pickle
import shutil

import pytest
from corpus import FIXTURES

from apachemaint import check, forked, reader, server, split_read
from apachemaint.errors import ConfigSyntaxError
from apachemaint.safewrite import PartialWrite


def _square_twice(n: int) -> list[int]:
    return [n * n, -n]


def test_the_split_result_is_the_sequential_result_in_order():
    items = list(range(501))
    counted = []
    got = forked.map_split(_square_twice, items, min_items=0, done=counted.append)
    assert got == [r for n in items for r in _square_twice(n)]
    assert sum(counted) == len(items)


def test_a_child_that_fails_is_replaced_by_doing_its_half_here():
    parent = os.getpid()

    def only_here(n: int) -> list[int]:
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        return [n]

    assert forked.map_split(only_here, list(range(100)), min_items=0) == list(range(100))


def test_an_error_in_this_process_is_raised_and_the_child_reaped(monkeypatch):
    children = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    def boom(n: int) -> list[int]:
        if n == 3:
            raise ValueError("bad item")
        return [n]

    monkeypatch.setattr(os, "fork", fork)
    with pytest.raises(ValueError, match="bad item"):
        forked.map_split(boom, list(range(100)), min_items=0)
    assert len(children) == 1
    with pytest.raises(ChildProcessError):  # already reaped: no zombie left behind
        os.waitpid(children[0], os.WNOHANG)


def _tree(tmp_path, extra: dict[str, str] | None = None):
    """A server including every fixture vhost (and ``extra`` files) through one glob."""
    sites = tmp_path / "sites"
    sites.mkdir()
    vhosts = sorted((FIXTURES / "vhosts").glob("*.conf")) + sorted((FIXTURES / "rules").glob("*.vhost"))
    for n, src in enumerate(vhosts):
        shutil.copy(src, sites / f"{n:03d}-{src.stem}.conf")
    for name, text in (extra or {}).items():
        (sites / name).write_text(text)
    main = tmp_path / "httpd.conf"
    main.write_text("LoadModule rewrite_module modules/mod_rewrite.so\n"
                    f"IncludeOptional {sites}/*.conf\n")
    return main


def _check(main, monkeypatch, *, split: bool):
    """check_server with the two ways of splitting either forced on or off; the number of
    files the child read and checked comes back too, to show which way was taken."""
    elsewhere = []
    real_load = server.load

    def load(*args, **kwargs):
        srv = real_load(*args, **kwargs)
        elsewhere.append(srv.elsewhere)
        return srv

    monkeypatch.setattr(server, "load", load)
    monkeypatch.setattr(split_read, "SPLIT_FROM", 2 if split else 10**9)
    monkeypatch.setattr(forked, "MIN_ITEMS", 10**9)  # the other split (rules only) stays out of the way
    found = check.check_server(main)
    monkeypatch.undo()
    return found, elsewhere[-1]


def test_a_server_read_in_two_processes_gives_the_same_findings(tmp_path, monkeypatch):
    main = _tree(tmp_path, {"zz-broken.conf": "<VirtualHost *:80>\n    ServerName b.test\n"})
    alone, none = _check(main, monkeypatch, split=False)
    split, elsewhere = _check(main, monkeypatch, split=True)
    assert none == 0 and elsewhere > 10, "the split should have happened"
    assert len({f.code for f in alone}) > 5, "the tree should give the rules something to find"
    assert split == alone
    # The unparsable file sits in the child's half: its error crosses over once, file and line kept.
    broken = [f for f in split if f.code == check.PARSE_ERROR]
    assert [(f.file.endswith("zz-broken.conf"), f.line) for f in broken] == [(True, 1)]


@pytest.mark.parametrize(("first_half", "reported"), [
    # Files of the first half that change how the second half reads: the split is dropped.
    ({"000-define.conf": "Define LATER_ON\n"}, 0),  # the vhost is skipped, as httpd skips it
    ({"000-module.conf": "LoadModule headers_module modules/mod_headers.so\n"}, 0),
    ({"000-include.conf": "Include {sites}/zz-conditional.conf\n"}, 1),  # read here, not twice
])
def test_a_first_half_that_changes_the_walk_makes_this_process_read_everything(tmp_path, monkeypatch,
                                                                                first_half, reported):
    later = ("<IfDefine !LATER_ON>\n<IfModule !headers_module>\n<VirtualHost *:80>\n"
             "    ServerName hidden.test\n    ProxyPass / http://127.0.0.1:3000/\n"
             "</VirtualHost>\n</IfModule>\n</IfDefine>\n")
    main = _tree(tmp_path, {"zz-conditional.conf": later})
    sites = tmp_path / "sites"
    for name, text in first_half.items():
        (sites / name).write_text(text.format(sites=sites))
    alone, _ = _check(main, monkeypatch, split=False)
    split, elsewhere = _check(main, monkeypatch, split=True)
    assert elsewhere == 0
    assert split == alone
    assert len([f for f in split if f.file.endswith("zz-conditional.conf") and f.code == "AM001"]) == reported


def _fails_in_the_child(monkeypatch, module, name):
    parent, real = os.getpid(), getattr(module, name)

    def only_here(*args, **kwargs):
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, only_here)


@pytest.mark.parametrize("breaks", ["reading", "checking"])
def test_a_child_that_fails_leaves_the_same_findings(tmp_path, monkeypatch, breaks):
    main = _tree(tmp_path)
    alone, _ = _check(main, monkeypatch, split=False)
    if breaks == "reading":
        _fails_in_the_child(monkeypatch, reader, "read")
    else:
        _fails_in_the_child(monkeypatch, check, "check_config")
    monkeypatch.setattr(split_read, "SPLIT_FROM", 2)
    monkeypatch.setattr(forked, "MIN_ITEMS", 10**9)
    assert check.check_server(main) == alone


def test_errors_cross_processes_with_file_and_line():
    err = pickle.loads(pickle.dumps(ConfigSyntaxError("<VirtualHost> was not closed.", "/etc/x.conf", 7)))
    assert (type(err), err.message, err.file, err.line) == (ConfigSyntaxError, "<VirtualHost> was not closed.",
                                                            "/etc/x.conf", 7)
    err = pickle.loads(pickle.dumps(PartialWrite("cannot write: EIO", "/etc/b.conf", ["/etc/a.conf"])))
    assert (type(err), err.file, err.replaced) == (PartialWrite, "/etc/b.conf", ["/etc/a.conf"])


def test_a_fork_the_system_refuses_leaves_the_job_to_this_process(tmp_path, monkeypatch):
    main = _tree(tmp_path)
    alone, _ = _check(main, monkeypatch, split=False)

    def refused() -> int:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    assert forked.map_split(_square_twice, list(range(10)), min_items=0) == [
        r for n in range(10) for r in _square_twice(n)]
    monkeypatch.setattr(split_read, "SPLIT_FROM", 2)
    assert check.check_server(main) == alone


def test_an_include_folder_that_cannot_be_read_is_httpds_error(tmp_path, monkeypatch):
    def denied(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    monkeypatch.setattr(os, "scandir", denied)
    assert server._include_targets(str(tmp_path / "*.conf"), tmp_path) == (
        f"Include/IncludeOptional: Could not open directory {tmp_path}: Permission denied")


def test_a_glob_matches_files_as_glob_does(tmp_path):
    import glob

    for name in ("b.conf", "a.conf", ".hidden.conf", "c.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "dir.conf").mkdir()
    (tmp_path / "link.conf").symlink_to(tmp_path / "a.conf")
    (tmp_path / "dangling.conf").symlink_to(tmp_path / "gone")
    for pattern in ("*.conf", ".*.conf", "[ab].conf", "*"):
        want = [m for m in sorted(glob.glob(str(tmp_path / pattern))) if os.path.isfile(m)]
        assert server._include_targets(str(tmp_path / pattern), tmp_path) == want
    assert server._include_targets(str(tmp_path / "*.conf"), tmp_path) == [
        str(tmp_path / n) for n in ("a.conf", "b.conf", "link.conf")]
