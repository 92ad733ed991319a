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
