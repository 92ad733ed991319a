"""Splitting a whole-server check over two processes changes the time, never the result."""
from __future__ import annotations

import os
import shutil

import pytest
from corpus import FIXTURES

from apachemaint import check, forked


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


def test_a_server_check_gives_the_same_findings_split_or_not(tmp_path, monkeypatch):
    sites = tmp_path / "sites"
    sites.mkdir()
    vhosts = sorted((FIXTURES / "vhosts").glob("*.conf")) + sorted((FIXTURES / "rules").glob("*.vhost"))
    for n, src in enumerate(vhosts):
        shutil.copy(src, sites / f"{n:03d}-{src.stem}.conf")
    main = tmp_path / "httpd.conf"
    main.write_text("LoadModule rewrite_module modules/mod_rewrite.so\n"
                    f"IncludeOptional {sites}/*.conf\n")
    monkeypatch.setattr(forked, "MIN_ITEMS", 10**9)
    alone = check.check_server(main)
    monkeypatch.setattr(forked, "MIN_ITEMS", 0)
    split = check.check_server(main)
    assert len({f.code for f in alone}) > 5, "the tree should give the rules something to find"
    assert split == alone
