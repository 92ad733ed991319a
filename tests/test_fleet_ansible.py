"""contrib/ansible (the apachemaint role and its example playbooks) with ansible-core against
three real web servers (Apache on 127.0.0.2-4, reached over SSH): patch with a reload only on
change, a second run that changes nothing, down/status/up, a failing server, a migration."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from fleet_hosts import CONTRIB, Fleet, break_docroot, fleet_root, require_root, require_tool, run_tool, wait_for
from http_client import get

pytestmark = [pytest.mark.slow, pytest.mark.apache]

RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class Ansible:
    def __init__(self, fleet: Fleet, root):
        self.root = root
        sshd = fleet.sshd
        hosts = {s.name: {
            "ansible_host": s.address,
            "apachemaint_vhosts": [str(s.vhost)],
            "apachemaint_config": str(s.apache.conf),
            "apachemaint_docroot": str(s.docroot),
            "apachemaint_verify_url": s.url("/"),
            "apachemaint_reload_command": s.reload_command,
        } for s in fleet.servers}
        group_vars = {
            "ansible_port": sshd.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(sshd.client_key),
            "ansible_ssh_common_args": f"-F /dev/null -o UserKnownHostsFile={sshd.known_hosts} "
                                       "-o StrictHostKeyChecking=yes -o ConnectTimeout=10",
            "ansible_python_interpreter": fleet.python,
            # This machine's apachemaint, as the servers' own install.
            "apachemaint_install": False,
            "apachemaint_command": [fleet.python, "-m", "apachemaint"],
        }
        self.inventory = root / "inventory.json"  # JSON is YAML, which Ansible reads
        self.inventory.write_text(json.dumps({"web": {"hosts": hosts, "vars": group_vars}}))
        (root / "ansible.cfg").write_text("")
        self.env = {
            "ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_HOME": str(root / "home"),
            "ANSIBLE_LOCAL_TEMP": str(root / "tmp"), "ANSIBLE_REMOTE_TMP": str(root / "remote-tmp"),
            # No ControlPersist: its ssh masters would outlive the test.
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=no", "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_FORKS": "3", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_GATHERING": "explicit", "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
        }

    def playbook(self, name: str, *extra: str, **env: str):
        done = run_tool([require_tool("ansible-playbook"), "-i", str(self.inventory),
                         str(CONTRIB / "ansible" / name), *extra], cwd=self.root, env={**self.env, **env})
        with open(self.root / "ansible.log", "a") as log:  # the whole story, when a test fails
            log.write(f"$ ansible-playbook {name} {' '.join(extra)}\n{done.stdout}{done.stderr}\n")
        done.recap = {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
                      for m in RECAP.finditer(done.stdout)}
        return done


@pytest.fixture(scope="module")
def fleet(apache_binary):
    require_root()
    require_tool("ansible-playbook")
    with fleet_root("ansible-fleet") as root:
        fleet = Fleet(root, apache_binary, patched=False).start()
        yield fleet
        fleet.close()


@pytest.fixture(scope="module")
def setup_run(fleet, tmp_path_factory):
    """The role's first run over unpatched vhosts of running servers."""
    ansible = Ansible(fleet, tmp_path_factory.mktemp("ansible"))
    return ansible, ansible.playbook("setup.yml")


@pytest.fixture
def ansible(setup_run, fleet):
    fleet.reset()
    assert setup_run[1].returncode == 0, setup_run[1].stdout
    return setup_run[0]


def output(done) -> str:
    return done.stdout + done.stderr


def test_role_patches_reloads_once_and_a_second_run_changes_nothing(setup_run, fleet):
    ansible, first = setup_run
    assert first.returncode == 0, output(first)
    # Changed twice per server: the patch, and the handler's graceful reload.
    assert {h: r["changed"] for h, r in first.recap.items()} == {s.name: 2 for s in fleet.servers}, first.stdout
    assert first.stdout.count("RUNNING HANDLER [apachemaint : Reload Apache gracefully]") == 1
    for server in fleet.servers:
        assert "# BEGIN apachemaint" in server.vhost.read_text()

    again = ansible.playbook("setup.yml")
    assert again.returncode == 0, output(again)
    assert {h: r["changed"] for h, r in again.recap.items()} == {s.name: 0 for s in fleet.servers}, again.stdout
    assert "RUNNING HANDLER" not in again.stdout


def test_down_status_up_across_the_fleet(ansible, fleet):
    down = ansible.playbook("down.yml", REASON="database upgrade", UNTIL="30m")
    assert down.returncode == 0, output(down)
    for server in fleet.servers:
        # The reload made the patched vhost live: without it the old config would answer 200.
        resp = get(server.url("/"))
        assert resp.status == 503 and b"database upgrade" in resp.body, server.name
        assert resp.body == server.page.read_bytes()
    status = ansible.playbook("status.yml")
    assert status.returncode == 0, output(status)
    assert status.stdout.count('"msg": "DOWN since ') == 3 and "(database upgrade)" in status.stdout
    assert all(r["changed"] == 0 for r in status.recap.values())

    up = ansible.playbook("up.yml")
    assert up.returncode == 0, output(up)
    assert all(r["changed"] == 1 for r in up.recap.values()), up.stdout
    for server in fleet.servers:
        resp = get(server.url("/"))
        assert (resp.status, resp.text) == (200, f"app on {server.name}\n")


@pytest.mark.parametrize("policy, others", [("keep", 503), ("lift", 200)])
def test_one_failing_server_fails_the_play_and_others_follow_the_setting(ansible, fleet, policy, others):
    broken = fleet.servers[2]
    break_docroot(broken)
    down = ansible.playbook("down.yml", "-e", f"apachemaint_on_failure={policy}")
    assert down.returncode != 0
    assert {h: r["failed"] for h, r in down.recap.items()} == {s.name: 1 for s in fleet.servers}, down.stdout
    assert "apachemaint down failed here" in down.stdout and "not a folder" in down.stdout
    assert f"apachemaint down failed on {broken.name}" in down.stdout
    for server in fleet.servers:
        assert get(server.url("/")).status == (200 if server is broken else others), server.name


PROBE = ("import sys, urllib.request, urllib.error\n"
         "def code(u):\n"
         "    try:\n        return urllib.request.urlopen(u, timeout=10).status\n"
         "    except urllib.error.HTTPError as e:\n        return e.code\n"
         "open(sys.argv[1], 'w').write(' '.join(str(code(u)) for u in sys.argv[3:]))\n"
         "sys.exit(int(sys.argv[2]))\n")


@pytest.mark.parametrize("exit_code, after", [(0, 200), (1, 503)])
def test_migrate_playbook_keeps_the_fleet_down_while_the_migration_runs(ansible, fleet, tmp_path, exit_code, after):
    seen = tmp_path / "seen"
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    command = " ".join([fleet.python, str(script), str(seen), str(exit_code), *(s.url("/") for s in fleet.servers)])
    done = ansible.playbook("migrate.yml", "-e", json.dumps({"migrate_command": command}), REASON="migrating")
    assert (done.returncode == 0) == (exit_code == 0), output(done)
    assert seen.read_text() == "503 503 503", "every server is down while the migration runs"
    assert wait_for(lambda: [get(s.url("/")).status for s in fleet.servers] == [after] * 3, timeout=2.0)
    if exit_code:
        assert "migration failed (exit 1)" in done.stdout and "maintenance kept on" in done.stdout
        assert all(r["failed"] == 1 for r in done.recap.values()), done.stdout


def readme_playbook_lines() -> dict[str, list[str]]:
    """The README's `ansible-playbook` lines, split as a shell splits them (comments dropped)."""
    text = (CONTRIB.parent / "README.md").read_text()
    lines = [shlex.split(line, comments=True) for line in text.splitlines()
             if line.startswith("ansible-playbook -i inventory ")]
    return {argv[3]: argv[4:] for argv in lines}


def test_readme_down_line_publishes_the_whole_reason(ansible, fleet):
    extra = readme_playbook_lines()["down.yml"]
    down = ansible.playbook("down.yml", *extra)
    assert down.returncode == 0, output(down)
    for server in fleet.servers:
        assert b"database upgrade" in get(server.url("/")).body, server.name
    status = ansible.playbook("status.yml")
    assert status.stdout.count("(database upgrade)") == 3, status.stdout
    assert ansible.playbook("up.yml").returncode == 0


def test_readme_migrate_line_runs_a_shell_command_line_and_brings_the_fleet_up(ansible, fleet, tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    extra = readme_playbook_lines()["migrate.yml"]
    # The README's quoting, with this machine's migration in place of rails.
    (key, value), = (a.split("=", 1) for a in extra if a.startswith("migrate_command="))
    assert value.startswith('"cd ') and " && " in value, value
    urls = " ".join(s.url("/") for s in fleet.servers)
    command = f'migrate_command="cd {tmp_path} && {fleet.python} probe.py seen 0 {urls}"'
    done = ansible.playbook("migrate.yml", *(command if a.startswith("migrate_command=") else a for a in extra),
                            REASON="migrating")
    assert done.returncode == 0, output(done)
    assert (tmp_path / "seen").read_text() == "503 503 503"
    assert [get(s.url("/")).status for s in fleet.servers] == [200] * 3


def test_down_again_with_the_same_window_changes_nothing_and_another_reason_does(ansible, fleet):
    first = ansible.playbook("down.yml", REASON="database upgrade", UNTIL="30m")
    assert first.returncode == 0 and all(r["changed"] == 1 for r in first.recap.values()), output(first)
    pages = {s.name: s.page.read_bytes() for s in fleet.servers}
    again = ansible.playbook("down.yml", REASON="database upgrade", UNTIL="30m")
    assert again.returncode == 0 and all(r["changed"] == 0 for r in again.recap.values()), again.stdout
    assert {s.name: s.page.read_bytes() for s in fleet.servers} == pages, "the page was left alone"
    other = ansible.playbook("down.yml", REASON="disk swap", UNTIL="30m")
    assert other.returncode == 0 and all(r["changed"] == 1 for r in other.recap.values()), other.stdout
    assert all(b"disk swap" in get(s.url("/")).body for s in fleet.servers)
    assert ansible.playbook("up.yml").returncode == 0
