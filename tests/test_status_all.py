"""`status --all`: a whole server tree in a temp dir, several vhosts, some down."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_cli import apachemaint

from apachemaint import patch as patching

SITE = """<VirtualHost *:8080>
    ServerName {name}
    ServerAlias www.{name}
    DocumentRoot {root}
</VirtualHost>
"""
REDIRECT = """<VirtualHost *:8081>
    ServerName {name}
    Redirect permanent / https://{name}/
</VirtualHost>
"""


@pytest.fixture
def tree(tmp_path: Path) -> dict:
    """A server root with a main config and four vhosts: two patched, one not, one redirect-only."""
    srv = tmp_path / "srv"
    (srv / "sites").mkdir(parents=True)
    main = srv / "httpd.conf"
    main.write_text(f"ServerRoot {srv}\nServerName main.test\nListen 127.0.0.1:8080\n"
                    "IncludeOptional sites/*.conf\n")
    files = {}
    for name in ("alpha", "beta", "gamma"):
        root = tmp_path / "www" / name
        root.mkdir(parents=True)
        files[name] = srv / "sites" / f"{name}.conf"
        files[name].write_text(SITE.format(name=f"{name}.test", root=root))
    files["redirect"] = srv / "sites" / "redirect.conf"
    files["redirect"].write_text(REDIRECT.format(name="alpha.test"))
    patching.apply([patching.plan(files["alpha"]), patching.plan(files["beta"])], configtest=False)
    return {"main": main, "files": files, "www": tmp_path / "www"}


def _by_file(rows: list[dict]) -> dict[str, dict]:
    return {Path(r["file"]).stem: r for r in rows}


def test_status_all_lists_every_vhost_and_exits_3_when_one_is_down(tree):
    result = apachemaint("down", "--vhost", tree["files"]["alpha"], "--reason", "db upgrade", "--until", "2h")
    assert result.returncode == 0, result.stderr
    before = {p: p.read_bytes() for p in tree["files"].values()}

    result = apachemaint("status", "--all", "--config", tree["main"], "--json")
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["version"] == 1
    rows = _by_file(data["vhosts"])
    assert set(rows) == {"alpha", "beta", "gamma", "redirect"}
    alpha, beta, gamma, redirect = rows["alpha"], rows["beta"], rows["gamma"], rows["redirect"]
    assert alpha["maintenance"] is True and alpha["block"] == "current"
    assert alpha["reason"] == "db upgrade" and alpha["by"] and alpha["since"]
    assert alpha["until_iso"] and 0 < alpha["seconds_left"] <= 7200
    assert alpha["names"] == ["alpha.test", "www.alpha.test"] and alpha["ports"] == [8080]
    assert alpha["line"] == 1
    assert alpha["page"] == str(tree["www"] / "alpha" / "system" / "maintenance.html")
    assert beta["maintenance"] is False and beta["block"] == "current" and beta["reason"] is None
    assert gamma["block"] == "missing" and gamma["maintenance"] is False
    assert gamma["page"] == str(tree["www"] / "gamma" / "system" / "maintenance.html")
    assert redirect["block"] == "not applicable" and "redirect" in redirect["detail"]
    assert {p: p.read_bytes() for p in tree["files"].values()} == before

    text = apachemaint("status", "--all", "--config", tree["main"])
    assert text.returncode == 3
    lines = text.stdout.splitlines()
    assert len(lines) == 5
    alpha_line = next(ln for ln in lines if "alpha.conf" in ln)
    assert "DOWN" in alpha_line and "db upgrade" in alpha_line and "block current" in alpha_line
    assert lines[-1].startswith("4 vhosts: 1 down, 3 up; block 2 current, 0 outdated, 1 missing, 1 not applicable")


def test_status_all_exits_0_when_none_is_down_and_sees_an_outdated_block(tree):
    beta = tree["files"]["beta"]
    # A hand edit inside the block makes it no longer the one patch wrote.
    beta.write_text(beta.read_text().replace("RewriteEngine On", "RewriteEngine  On", 1))
    result = apachemaint("status", "--all", "--config", tree["main"], "--json")
    assert result.returncode == 0, result.stderr
    rows = _by_file(json.loads(result.stdout)["vhosts"])
    assert not any(r["maintenance"] for r in rows.values())
    assert rows["beta"]["block"] == "outdated"


def test_status_all_a_broken_config_is_one_line_and_exit_2(tree):
    tree["files"]["gamma"].write_text("<VirtualHost *:8080>\n    ServerName gamma.test\n")
    result = apachemaint("status", "--all", "--config", tree["main"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "gamma.conf" in result.stderr


def test_status_all_takes_no_docroot_and_config_needs_all(tree):
    assert apachemaint("status", "--all", "--docroot", tree["www"] / "alpha").returncode == 2
    assert apachemaint("status", "--docroot", tree["www"] / "alpha", "--config", tree["main"]).returncode == 2


def _state_json(tree) -> Path:
    return tree["www"] / "alpha" / "system" / ".apachemaint" / "state.json"


def test_status_all_shows_a_state_problem_as_status_does(tree):
    """A state.json its docroot's owner broke: `status` reports it for the one site, and the
    server-wide view must not hide it."""
    assert apachemaint("down", "--vhost", tree["files"]["alpha"], "--reason", "r").returncode == 0
    state_json = _state_json(tree)
    state_json.write_text(json.dumps({**json.loads(state_json.read_text()), "reason": {"a": 1}}))
    one = json.loads(apachemaint("status", "--vhost", tree["files"]["alpha"], "--json").stdout)
    assert "state.json: " in one["state_problem"]
    every = apachemaint("status", "--all", "--config", tree["main"], "--json")
    assert every.returncode == 3, every.stderr
    rows = _by_file(json.loads(every.stdout)["vhosts"])
    assert rows["alpha"]["state_problem"] == one["state_problem"] and rows["alpha"]["reason"] is None
    assert rows["beta"]["state_problem"] is None
    text = apachemaint("status", "--all", "--config", tree["main"]).stdout
    alpha_line = next(ln for ln in text.splitlines() if "alpha.conf" in ln)
    assert f"state problem {one['state_problem']}" in alpha_line


def test_status_and_status_all_show_hostile_state_the_same_way(tree):
    """Terminal escapes in a state.json field come out of both views stripped, the JSON keeps them."""
    assert apachemaint("down", "--vhost", tree["files"]["alpha"], "--reason", "r").returncode == 0
    state_json = _state_json(tree)
    hostile = "db\x1b[2J\x1b]0;pwned\x07 upgrade"
    state_json.write_text(json.dumps({**json.loads(state_json.read_text()), "reason": hostile, "by": "\x1b[31mx"}))
    one = apachemaint("status", "--vhost", tree["files"]["alpha"])
    every = apachemaint("status", "--all", "--config", tree["main"])
    for out in (one.stdout, every.stdout):
        assert "\x1b" not in out and "\x07" not in out
        assert "db[2J]0;pwned upgrade" in out and "[31mx" in out
    rows = _by_file(json.loads(apachemaint("status", "--all", "--config", tree["main"], "--json").stdout)["vhosts"])
    assert rows["alpha"]["reason"] == hostile


def test_status_of_a_docroot_whose_name_holds_escapes_prints_none(tmp_path):
    docroot = tmp_path / "www\x1b]0;owned\x07\x1b[2J"
    docroot.mkdir()
    assert apachemaint("down", "--docroot", docroot).returncode == 0
    text = apachemaint("status", "--docroot", docroot)
    assert text.returncode == 3 and "\x1b" not in text.stdout and "\x07" not in text.stdout
    assert "www]0;owned[2J/system/maintenance.html" in text.stdout
