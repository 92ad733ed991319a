"""The apachemaint.apache collection as a user gets it: built with `ansible-galaxy collection build`,
installed from the built tarball, its `site` module run by ansible-playbook over SSH against three real
web servers (Apache on loopback addresses): idempotence, check mode, diff mode, facts, and the lint."""
from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from fleet_hosts import (
    REPO,
    Fleet,
    argv_recorder,
    fleet_root,
    require_root,
    require_source_tree,
    require_tool,
    run_tool,
)
from http_client import get
from test_fleet_ansible import RECAP, Ansible

pytestmark = [pytest.mark.slow, pytest.mark.apache]

COLLECTION = REPO / "collection"
PLAY = """\
- name: The site module
  hosts: web
  gather_facts: false
  tasks:
    - name: Site
      apachemaint.apache.site:
        state: "{{ state }}"
        docroot: "{{ apachemaint_docroot }}"
        reason: "{{ reason | default('') }}"
        until: "{{ until | default(omit) }}"
        bypass_token: "{{ bypass_token | default(omit) }}"
        langs: "{{ langs | default(omit) }}"
        apachemaint: "{{ apachemaint_command }}"
    # Every "server" is this machine: the facts land in the test's folder.
    - name: Facts
      ansible.builtin.copy:
        content: "{{ apachemaint | to_json }}"
        dest: "{{ facts_dir }}/{{ inventory_hostname }}.json"
        mode: "0644"
      check_mode: false
      changed_when: false
"""
PATCH_PLAY = """\
- name: The site module, patched
  hosts: web
  gather_facts: false
  tasks:
    - name: Site
      apachemaint.apache.site:
        state: "{{ state }}"
        vhosts: ["{{ apachemaint_vhosts[0] }}"]
        patch_args: "{{ patch_args | default([]) }}"
        configtest: false
        apachemaint: "{{ apachemaint_command }}"
"""


class Collection(Ansible):
    def __init__(self, fleet: Fleet, root):
        super().__init__(fleet, root)
        galaxy = require_tool("ansible-galaxy")
        built = run_tool([galaxy, "collection", "build", str(COLLECTION), "--output-path", str(root / "dist")],
                         cwd=root, env=self.env)
        assert built.returncode == 0, built.stdout + built.stderr
        (tarball,) = (root / "dist").glob("apachemaint-apache-*.tar.gz")
        installed = run_tool([galaxy, "collection", "install", str(tarball), "-p", str(root / "collections")],
                             cwd=root, env=self.env)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        self.env["ANSIBLE_COLLECTIONS_PATH"] = str(root / "collections")
        self.facts = root / "facts"
        (root / "site.yml").write_text(PLAY)
        (root / "patch.yml").write_text(PATCH_PLAY)

    def run(self, play: str, *extra: str, **variables):
        shutil.rmtree(self.facts, ignore_errors=True)
        self.facts.mkdir()
        variables.setdefault("facts_dir", str(self.facts))
        done = run_tool([require_tool("ansible-playbook"), "-i", str(self.inventory), str(self.root / play),
                         "-e", json.dumps(variables), *extra], cwd=self.root, env=self.env)
        with open(self.root / "ansible.log", "a") as log:
            log.write(f"$ ansible-playbook {play} {variables} {extra}\n{done.stdout}{done.stderr}\n")
        done.recap = {m[1]: {"changed": int(m[3]), "failed": int(m[5])} for m in RECAP.finditer(done.stdout)}
        done.facts = {f.stem: json.loads(f.read_text()) for f in self.facts.glob("*.json")}
        return done


@pytest.fixture(scope="module")
def fleet(apache_binary):
    require_root()
    require_tool("ansible-playbook")
    with fleet_root("collection-fleet") as root:
        fleet = Fleet(root, apache_binary, patched=True).start()
        yield fleet
        fleet.close()


@pytest.fixture(scope="module")
def collection(fleet, tmp_path_factory):
    return Collection(fleet, tmp_path_factory.mktemp("collection"))


@pytest.fixture
def site(collection, fleet):
    fleet.reset()
    return collection


def changed(done) -> dict[str, int]:
    return {h: r["changed"] for h, r in done.recap.items()}


def test_down_is_idempotent_returns_facts_and_up_ends_it(site, fleet):
    names = [s.name for s in fleet.servers]
    down = site.run("site.yml", state="down", reason="database upgrade", until="30m")
    assert down.returncode == 0, down.stdout + down.stderr
    assert changed(down) == dict.fromkeys(names, 1), down.stdout
    for server in fleet.servers:
        resp = get(server.url("/"))
        assert resp.status == 503 and b"database upgrade" in resp.body, server.name
        fact = down.facts[server.name]
        assert fact["maintenance"] is True and fact["reason"] == "database upgrade" and fact["until_given"] == "30m"

    again = site.run("site.yml", state="down", reason="database upgrade", until="30m")
    assert again.returncode == 0 and changed(again) == dict.fromkeys(names, 0), again.stdout
    # Another reason is another window's text: a change.
    other = site.run("site.yml", state="down", reason="disk swap", until="30m")
    assert changed(other) == dict.fromkeys(names, 1), other.stdout
    assert all(b"disk swap" in get(s.url("/")).body for s in fleet.servers)

    up = site.run("site.yml", state="up")
    assert up.returncode == 0 and changed(up) == dict.fromkeys(names, 1), up.stdout
    assert all(f["maintenance"] is False for f in up.facts.values())
    assert [get(s.url("/")).status for s in fleet.servers] == [200] * 3
    up_again = site.run("site.yml", state="up")
    assert changed(up_again) == dict.fromkeys(names, 0), up_again.stdout


def test_one_bypass_token_for_every_host(site, fleet):
    """bypass_token: the same token on every host; the secret URL sets its cookie on each."""
    token = "ansible-fleet-token-0123456789"
    down = site.run("site.yml", state="down", reason="upgrade", bypass_token=token)
    assert down.returncode == 0, down.stdout + down.stderr
    assert token not in down.stdout  # no_log
    for server in fleet.servers:
        assert get(server.url("/")).status == 503
        opened = get(server.url(f"/.apachemaint/bypass/{token}"))
        assert opened.status == 302 and opened.headers["Set-Cookie"].startswith(f"apachemaint_bypass={token};")
        assert get(server.url("/"), headers={"Cookie": f"apachemaint_bypass={token}"}).status == 200
    assert site.run("site.yml", state="up").returncode == 0


def test_the_bypass_token_is_in_no_command_line(site, fleet, tmp_path):
    """bypass_token reaches apachemaint on stdin: a command line shows in ps and in sudo's log."""
    token = "ansible-argv-token-0123456789"
    log = tmp_path / "argv.log"
    wrapper = argv_recorder(tmp_path, log, fleet.state, fleet.python)
    down = site.run("site.yml", state="down", reason="upgrade", bypass_token=token,
                    apachemaint_command=[str(wrapper)])
    assert down.returncode == 0, down.stdout + down.stderr
    for server in fleet.servers:
        assert get(server.url(f"/.apachemaint/bypass/{token}")).status == 302
    seen = log.read_text()
    assert " down " in seen and token not in seen, seen
    assert site.run("site.yml", state="up").returncode == 0


def test_langs_give_a_page_per_language_and_stay_idempotent(site, fleet):
    names = [s.name for s in fleet.servers]
    down = site.run("site.yml", state="down", reason="upgrade", langs=["en", "de"])
    assert down.returncode == 0 and changed(down) == dict.fromkeys(names, 1), down.stdout + down.stderr
    for server in fleet.servers:
        german = get(server.url("/"), headers={"Accept-Language": "de"})
        assert german.status == 503 and b"Wartungsarbeiten" in german.body, server.name
        assert b"Down for maintenance" in get(server.url("/"), headers={"Accept-Language": "ja"}).body
        assert down.facts[server.name]["langs"] == ["en", "de"]
    again = site.run("site.yml", state="down", reason="upgrade", langs=["en", "de"])
    assert changed(again) == dict.fromkeys(names, 0), again.stdout
    # The same reason in one other language is another page: a change, and German is the default.
    german = site.run("site.yml", state="down", reason="upgrade", langs=["de"])
    assert changed(german) == dict.fromkeys(names, 1), german.stdout
    for server in fleet.servers:
        assert b"Wartungsarbeiten" in get(server.url("/"), headers={"Accept-Language": "en"}).body, server.name
    # Without langs the page is the default language's again.
    plain = site.run("site.yml", state="down", reason="upgrade")
    assert changed(plain) == dict.fromkeys(names, 1), plain.stdout
    assert all(b"Down for maintenance" in get(s.url("/")).body for s in fleet.servers)
    assert site.run("site.yml", state="up").returncode == 0


def test_check_mode_predicts_and_diff_shows_the_page_without_touching_the_site(site, fleet):
    names = [s.name for s in fleet.servers]
    check = site.run("site.yml", "--check", "--diff", state="down", reason="planned work")
    assert check.returncode == 0, check.stdout + check.stderr
    assert changed(check) == dict.fromkeys(names, 1), check.stdout
    assert check.stdout.count("+") and "planned work" in check.stdout
    assert [get(s.url("/")).status for s in fleet.servers] == [200] * 3
    assert not any(s.page.exists() for s in fleet.servers)

    site.run("site.yml", state="down", reason="planned work")
    check_up = site.run("site.yml", "--check", "--diff", state="up")
    assert changed(check_up) == dict.fromkeys(names, 1), check_up.stdout
    assert "-" in check_up.stdout and "planned work" in check_up.stdout
    assert [get(s.url("/")).status for s in fleet.servers] == [503] * 3
    site.run("site.yml", state="up")


def test_patched_check_diff_shows_the_vhost_change_and_writes_nothing(site, fleet):
    names = [s.name for s in fleet.servers]
    before = {s.name: s.vhost.read_bytes() for s in fleet.servers}
    same = site.run("patch.yml", state="patched")
    assert same.returncode == 0 and changed(same) == dict.fromkeys(names, 0), same.stdout + same.stderr

    plan = site.run("patch.yml", "--check", "--diff", state="patched", patch_args=["--allow-path=/healthz"])
    assert plan.returncode == 0 and changed(plan) == dict.fromkeys(names, 1), plan.stdout + plan.stderr
    assert "/healthz" in plan.stdout and "+++" in plan.stdout
    assert {s.name: s.vhost.read_bytes() for s in fleet.servers} == before


def test_unpatched_takes_the_block_out_once_and_patched_puts_it_back(site, fleet):
    names = [s.name for s in fleet.servers]
    before = {s.name: s.vhost.read_bytes() for s in fleet.servers}
    assert all(b"# BEGIN apachemaint" in b for b in before.values())
    plan = site.run("patch.yml", "--check", "--diff", state="unpatched")
    assert plan.returncode == 0 and changed(plan) == dict.fromkeys(names, 1), plan.stdout + plan.stderr
    assert "-    # BEGIN apachemaint" in plan.stdout or "-# BEGIN apachemaint" in plan.stdout
    assert {s.name: s.vhost.read_bytes() for s in fleet.servers} == before
    try:
        done = site.run("patch.yml", state="unpatched")
        assert done.returncode == 0 and changed(done) == dict.fromkeys(names, 1), done.stdout + done.stderr
        assert not any(b"# BEGIN apachemaint" in s.vhost.read_bytes() for s in fleet.servers)
        again = site.run("patch.yml", state="unpatched")
        assert again.returncode == 0 and changed(again) == dict.fromkeys(names, 0), again.stdout
    finally:
        back = site.run("patch.yml", state="patched")
    assert back.returncode == 0 and changed(back) == dict.fromkeys(names, 1), back.stdout + back.stderr
    assert {s.name: s.vhost.read_bytes() for s in fleet.servers} == before


def test_unpatched_fails_cleanly_without_apachemaint_unpatch(site, fleet):
    has_unpatch = "unpatch" in (REPO / "apachemaint" / "cli.py").read_text()
    if has_unpatch:
        pytest.skip("this apachemaint has unpatch")
    done = site.run("patch.yml", state="unpatched")
    assert done.returncode != 0
    assert "needs `apachemaint unpatch`" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("tree", [COLLECTION, REPO / "contrib" / "ansible"], ids=["collection", "role"])
def test_ansible_lint_production_profile_passes(tmp_path, tree):
    require_source_tree()
    lint = shutil.which("ansible-lint", path=os.path.dirname(sys.executable)) or shutil.which("ansible-lint")
    if lint is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but ansible-lint is not installed (pip install ansible-lint)", pytrace=False)
        pytest.skip("ansible-lint not installed (pip install ansible-lint)")
    work = tmp_path / tree.name
    shutil.copytree(tree, work)
    done = run_tool([lint, "--profile", "production", "--offline", "."], cwd=work,
                    env={"ANSIBLE_HOME": str(tmp_path / "home"), "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
