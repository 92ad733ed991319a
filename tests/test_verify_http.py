"""`apachemaint verify` on a real Apache: a patched vhost is covered, an unpatched one on the
same address is NOT covered, a redirect-only one is not applicable, and nobody else sees a
thing: requests without the token are served as usual, and no token outlives the run."""
from __future__ import annotations

import json
import os

import pytest
from http_client import get
from run_cli import apachemaint

from apachemaint import block, coverage
from apachemaint import patch as patching

pytestmark = pytest.mark.apache

SITE = """<VirtualHost *:${{APACHEMAINT_PORT}}>
    ServerName {name}.example.com
    ServerAlias www.{name}.example.com
    DocumentRoot ${{ROOT}}/{name}
    <Directory ${{ROOT}}/{name}>
        Require all granted
    </Directory>
</VirtualHost>
"""
REDIRECT = """<VirtualHost *:${APACHEMAINT_PORT}>
    ServerName old.example.com
    Redirect permanent / http://covered.example.com/
</VirtualHost>
"""


@pytest.fixture
def server(apache_factory, served_tmp_path):
    root = served_tmp_path / "sites"
    for name in ("covered", "bare"):
        (root / name).mkdir(parents=True)
        (root / name / "index.html").write_text(f"{name} content\n")
    covered = served_tmp_path / "covered.conf"
    covered.write_text(SITE.format(name="covered"))
    patching.apply([patching.plan(covered)], configtest=False)
    bare = served_tmp_path / "bare.conf"
    bare.write_text(REDIRECT + SITE.format(name="bare"))
    apache = apache_factory([covered, bare], defines={"ROOT": str(root)})
    return apache, root


def test_verify_tells_covered_from_not_covered_without_downtime(server):
    apache, root = server
    seen_during = []
    real_fetch = coverage.fetch

    def fetch(address, name, tls, headers=None, path="/"):
        # While the tokens are live, a client without one still gets the site.
        seen_during.append(get(apache.url("/"), headers={"Host": "covered.example.com"}).status)
        return real_fetch(address, name, tls, headers, path)

    coverage.fetch = fetch
    try:
        probes = coverage.verify(apache.conf)
    finally:
        coverage.fetch = real_fetch
    results = {(p.host, p.result) for p in probes}
    assert results == {("covered.example.com", coverage.COVERED), ("www.covered.example.com", coverage.COVERED),
                       ("bare.example.com", coverage.NOT_COVERED), ("www.bare.example.com", coverage.NOT_COVERED),
                       ("old.example.com", coverage.NOT_APPLICABLE)}
    assert "answered 200" in next(p.detail for p in probes if p.host == "bare.example.com")
    assert seen_during and set(seen_during) == {200}
    assert coverage.exit_code(probes) == 1
    # Nothing is left: no token, no preview page, no folder verify made.
    assert not (root / "covered" / "system").exists()


def test_a_guessed_or_stale_token_is_no_preview(server):
    apache, root = server
    state = root / "covered" / "system" / block.STATE_DIR / block.PREVIEW_DIR
    probes = coverage.verify(apache.conf)
    token = "A" * 43
    for value in (token, "../../../index.html", "x" * 40):
        resp = get(apache.url("/"), headers={"Host": "covered.example.com", block.PREVIEW_HEADER: value})
        assert resp.status == 200, value
    assert not state.exists() and probes


def test_verify_command(server):
    apache, _ = server
    result = apachemaint("verify", "--config", apache.conf, "--format", "json")
    assert result.returncode == 1, result.stderr
    hosts = json.loads(result.stdout)["hosts"]
    assert {h["result"] for h in hosts} == {coverage.COVERED, coverage.NOT_COVERED, coverage.NOT_APPLICABLE}
    text = apachemaint("verify", "--config", apache.conf)
    assert "2 covered, 2 NOT covered, 1 not applicable" in text.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it plays root among deploy users")
def test_verify_never_writes_through_a_deploy_users_link(server, tmp_path):
    """The page folder is a deploy user's link into a folder only root controls: verify must
    not put its preview there (the page cannot be proven) and still asks every other host."""
    apache, root = server
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    site = root / "covered"
    os.chown(site, 12345, 12345)
    (site / "system").symlink_to(victim)
    os.lchown(site / "system", 12345, 12345)
    probes = coverage.verify(apache.conf)
    assert list(victim.iterdir()) == []
    mine = [p for p in probes if p.host.endswith("covered.example.com") and p.result != coverage.NOT_APPLICABLE]
    assert mine and all(p.result == coverage.NOT_COVERED and "refused" in p.detail for p in mine), mine
    assert any(p.host == "bare.example.com" and p.result == coverage.NOT_COVERED for p in probes)


def test_down_verify_proves_every_name_and_up_verify_brings_them_back(server):
    apache, root = server
    covered = root.parent / "covered.conf"
    env = {"ROOT": str(root)}  # down takes ${ROOT} from its environment, as httpd would
    result = apachemaint("down", "--vhost", covered, "--verify", "--config", apache.conf, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 covered, 0 NOT covered" in result.stdout, result.stdout
    assert get(apache.url("/"), headers={"Host": "www.covered.example.com"}).status == 503
    result = apachemaint("up", "--vhost", covered, "--verify", "--config", apache.conf, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 up, 0 still down" in result.stdout
    assert get(apache.url("/"), headers={"Host": "www.covered.example.com"}).status == 200


def test_down_verify_fails_on_the_unpatched_vhost_of_the_same_file(apache_factory, served_tmp_path):
    """One vhost of the file carries the block, the other does not: `down` puts the page in
    place, and --verify says which host is still up (exit 1), where a URL check of the
    patched host alone passed."""
    root = served_tmp_path / "sites"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "index.html").write_text(f"{name} content\n")
    conf = served_tmp_path / "mixed.conf"
    conf.write_text(SITE.format(name="a"))
    patching.apply([patching.plan(conf)], configtest=False)
    conf.write_text(conf.read_text() + SITE.format(name="b"))
    apache = apache_factory([conf], defines={"ROOT": str(root)})
    result = apachemaint("down", "--vhost", conf, "--verify", "--config", apache.conf, env={"ROOT": str(root)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "b.example.com on http" in result.stdout and "NOT covered (answered 200; no maintenance block)" \
        in result.stdout, result.stdout
    assert "2 covered, 2 NOT covered" in result.stdout
    assert "Traceback" not in result.stderr and "NOT in maintenance" in result.stderr


def test_a_name_inside_a_conditional_of_the_vhost_is_asked_too(apache_factory, served_tmp_path):
    # httpd reads a ServerAlias inside the vhost's <IfDefine>/<IfModule> when the condition
    # holds; verify must ask it like any other name, or that host goes unproven.
    root = served_tmp_path / "sites"
    (root / "cond").mkdir(parents=True)
    (root / "cond" / "index.html").write_text("cond content\n")
    conf = served_tmp_path / "cond.conf"
    conf.write_text(SITE.format(name="cond").replace(
        "    DocumentRoot", "    <IfDefine ROOT>\n        ServerAlias cdn.cond.example.com\n    </IfDefine>\n"
                           "    <IfModule dir_module>\n        <IfDefine ROOT>\n"
                           "            ServerAlias static.cond.example.com\n        </IfDefine>\n"
                           "    </IfModule>\n    DocumentRoot"))
    patching.apply([patching.plan(conf)], configtest=False)
    apache = apache_factory([conf], defines={"ROOT": str(root)})
    assert get(apache.url("/"), headers={"Host": "static.cond.example.com"}).body == b"cond content\n"
    results = {(p.host, p.result) for p in coverage.verify(apache.conf)}
    assert results == {(h, coverage.COVERED) for h in ("cond.example.com", "www.cond.example.com",
                                                         "cdn.cond.example.com", "static.cond.example.com")}
