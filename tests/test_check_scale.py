"""What `check --config` finds on a large Debian-layout server is fixed by how the tree was
made, not by how fast the check is: facts worked out once per server (AM009's server-level
scan), short cuts in the rules (AM004 on a patched vhost) and the cheap link resolution of
``sites-enabled`` must leave every finding where it was.  The expected findings are counted
from the kinds of vhost the tree was built from, never from the code under test."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from apachemaint import block, check, forked, server, split_read
from apachemaint.block import BlockOptions

BLOCK = block.render(BlockOptions(), indent="    ")
LEGACY = ("    RewriteEngine On\n"
          "    RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f\n"
          "    RewriteCond %{SCRIPT_FILENAME} !maintenance.html\n"
          "    RewriteRule ^.*$ /system/maintenance.html [L]\n")
PASSENGER = "    PassengerHighPerformance on\n"
# What each kind of vhost holds at the top, and the one finding it gives on a server without
# Passenger at server level (None: none).  Every kind names its page, so the AM004 pre-check
# (the word "maintenance") never skips one.
KINDS = {
    "patched": (BLOCK, None),
    "unpatched": ("", "AM001"),
    "legacy": (LEGACY, "AM004"),
    "patched-passenger": (BLOCK + PASSENGER, "AM009"),
    "legacy-passenger": (LEGACY + PASSENGER, "AM004"),  # and AM009, counted below
}
MAINTENANCE = {"patched", "legacy", "patched-passenger", "legacy-passenger"}  # carry maintenance rules
OWN_PASSENGER = {"patched-passenger", "legacy-passenger"}


def _vhost(n: int, kind: str, www: Path) -> str:
    return (f"<VirtualHost *:80>\n{KINDS[kind][0]}    ServerName s{n}.example.test\n"
            f"    DocumentRoot {www}\n    <Directory {www}>\n        Require all granted\n    </Directory>\n"
            f"    ProxyPass / http://127.0.0.1:{3000 + n}/\n</VirtualHost>\n")


def _tree(root: Path, per_kind: int, *, passenger_on_server: bool) -> tuple[Path, list[str]]:
    """A Debian-style server: files in sites-available, links to them in sites-enabled (relative
    ones as a2ensite makes, an absolute one, a link to a link, one through a linked folder, one
    plain file).  Returns the main config and the kind of each enabled file, in include order."""
    avail, enabled, www = root / "sites-available", root / "sites-enabled", root / "www"
    for d in (avail, enabled, www):
        d.mkdir(parents=True)
    (root / "also").symlink_to(avail)  # a folder reached through a link
    kinds = [k for k in KINDS for _ in range(per_kind)]
    for n, kind in enumerate(kinds):
        name = f"{n:04d}-{kind}.conf"
        text = _vhost(n, kind, www)
        if n == 1:
            (enabled / name).write_text(text)  # a plain file, no link
            continue
        (avail / name).write_text(text)
        if n == 2:
            (enabled / name).symlink_to(avail / name)  # absolute
        elif n == 3:
            (avail / f"alias-{name}").symlink_to(name)
            (enabled / name).symlink_to(f"../sites-available/alias-{name}")  # a link to a link
        elif n == 4:
            (enabled / name).symlink_to(f"../also/{name}")  # through the linked folder
        else:
            (enabled / name).symlink_to(f"../sites-available/{name}")
    main = root / "apache2.conf"
    modules = "".join(f"LoadModule {m}_module modules/mod_{m}.so\n" for m in block.MODULES)
    main.write_text(modules + "ServerName localhost\n"
                    + ("PassengerHighPerformance on\n" if passenger_on_server else "")
                    + f"IncludeOptional {enabled}/*.conf\n")
    return main, kinds


def _expected(kinds: list[str], passenger_on_server: bool) -> Counter:
    want = Counter(KINDS[k][1] for k in kinds if KINDS[k][1])
    want["AM009"] += sum(k == "legacy-passenger" for k in kinds)  # its own line, besides AM004
    if passenger_on_server:  # every vhost with maintenance rules and no "on" of its own, once
        want["AM009"] += sum(k in MAINTENANCE - OWN_PASSENGER for k in kinds)
    return +want


def _codes(found) -> Counter:
    return Counter(f.code for f in found)


@pytest.mark.parametrize("passenger_on_server", [False, True])
@pytest.mark.parametrize("split", [False, True])
def test_findings_on_a_linked_debian_tree_are_the_counts_it_was_built_with(
        tmp_path, monkeypatch, passenger_on_server, split):
    main, kinds = _tree(tmp_path, 8, passenger_on_server=passenger_on_server)
    monkeypatch.setattr(split_read, "SPLIT_FROM", 2 if split else 10**9)  # the two-process read, or one
    monkeypatch.setattr(forked, "MIN_ITEMS", 10**9)
    found = check.check_server(main)
    assert _codes(found) == _expected(kinds, passenger_on_server)
    if passenger_on_server:  # reported at the vhost's own line, one per vhost
        server_level = [f for f in found if f.code == "AM009" and "server level" in f.message]
        assert all(f.line == 1 for f in server_level)
        assert len({f.file for f in server_level}) == len(server_level)


def test_every_included_file_is_known_by_its_real_path(tmp_path):
    main, kinds = _tree(tmp_path, 2, passenger_on_server=False)
    srv = server.load(main)
    enabled = sorted((tmp_path / "sites-enabled").iterdir())
    assert srv.files == {os.path.realpath(main)} | {os.path.realpath(p) for p in enabled}
    assert all(srv.includes(p) for p in enabled)
    assert len(srv.configs) == len(kinds) + 1


def test_a_link_resolves_as_realpath_resolves_it(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "f.conf").write_text("")
    links = {
        "rel": "d/f.conf", "abs": str(tmp_path / "d" / "f.conf"), "up": "d/sub/../f.conf",
        "chain": "rel", "dangling": "d/missing.conf", "loop-a": "loop-b", "loop-b": "loop-a",
        "dirlink": "d",
    }
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    folders: dict[str, str] = {}  # one walk's, shared by every file it reads
    paths = [str(tmp_path / n) for n in links] + [str(tmp_path / "dirlink" / "f.conf"),
                                                   str(tmp_path / "d" / "f.conf"), str(tmp_path / "nothing")]
    assert [server.real_path(p, folders) for p in paths] == [os.path.realpath(p) for p in paths]
