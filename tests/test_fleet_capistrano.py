"""contrib/capistrano/apachemaint.rake with Debian's Capistrano 3 against three real web
servers (Apache on 127.0.0.2-4, reached over SSH): disable, enable, status, a failing server,
and the hook around deploy:migrate."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fleet_hosts import CONTRIB, Fleet, break_docroot, fleet_root, require_root, require_tool, run_tool
from http_client import get
from run_cli import apachemaint as apachemaint_cli

from apachemaint.httpd import LoopbackApache

pytestmark = [pytest.mark.slow, pytest.mark.apache]

# What the web servers answer while the stub migration runs, then the migration's outcome.
MIGRATE_STUB = """\
require "net/http"

namespace :deploy do
  task :migrate do
    seen = fetch(:probe_urls).map { |url| Net::HTTP.get_response(URI(url)).code }
    File.write(ENV.fetch("PROBE_OUT"), seen.join(" "))
    raise "migration failed" if ENV["MIGRATE_FAIL"] == "1"
  end
end
"""


@pytest.fixture(scope="module")
def fleet(apache_binary):
    require_root()
    require_tool("cap")
    with fleet_root("cap-fleet") as root:
        fleet = Fleet(root, apache_binary, patched=True).start()
        yield fleet
        fleet.close()


@pytest.fixture
def project(fleet, tmp_path):
    """A Capistrano project as a user has it: the task file copied into lib/capistrano/tasks."""
    fleet.reset()
    tasks = tmp_path / "lib" / "capistrano" / "tasks"
    tasks.mkdir(parents=True)
    shutil.copy(CONTRIB / "capistrano" / "apachemaint.rake", tasks)
    # Loaded after apachemaint.rake (import order is alphabetical): the hook must not care.
    (tasks / "migrate_stub.rake").write_text(MIGRATE_STUB)
    (tmp_path / "Capfile").write_text('require "capistrano/setup"\nrequire "capistrano/deploy"\n'
                                      'require "capistrano/scm/git"\ninstall_plugin Capistrano::SCM::Git\n'
                                      'Dir.glob("lib/capistrano/tasks/*.rake").each { |r| import r }\n')
    sshd = fleet.sshd
    (tmp_path / "config" / "deploy").mkdir(parents=True)
    (tmp_path / "config" / "deploy.rb").write_text(f"""\
set :application, "shop"
set :apachemaint_command, "{fleet.python} -m apachemaint"
set :apachemaint_on_failure, ENV.fetch("ON_FAILURE", "keep").to_sym
set :apachemaint_wrap_migrate, ENV["WRAP"] == "1"
set :probe_urls, {[s.url("/") for s in fleet.servers]!r}
set :ssh_options, {{
  user: "root", port: {sshd.port}, keys: ["{sshd.client_key}"], keys_only: true, use_agent: false,
  auth_methods: %w[publickey], config: false, verify_host_key: :always,
  user_known_hosts_file: "{sshd.known_hosts}", global_known_hosts_file: "/dev/null", timeout: 10,
}}
""")
    (tmp_path / "config" / "deploy" / "production.rb").write_text("".join(
        f'server "{s.address}", roles: %w[web], apachemaint_docroot: "{s.docroot}", '
        f'apachemaint_verify_url: "{s.url("/")}"\n' for s in fleet.servers))
    return tmp_path


def cap(project: Path, *tasks: str, **env: str):
    return run_tool([require_tool("cap"), "production", *tasks], cwd=project,
                    env={"HOME": str(project), "NO_COLOR": "1", **env})


def answers(fleet) -> list[tuple[int, str]]:
    return [(r.status, r.text) for r in (get(s.url("/")) for s in fleet.servers)]


def assert_all_down(fleet, reason: str = "") -> None:
    for server in fleet.servers:
        resp = get(server.url("/orders"))
        assert resp.status == 503, server.name
        assert resp.body == server.page.read_bytes() and reason.encode() in resp.body


def assert_all_up(fleet) -> None:
    assert answers(fleet) == [(200, f"app on {s.name}\n") for s in fleet.servers]


def test_disable_status_enable_on_every_server(project, fleet):
    done = cap(project, "apachemaint:disable", REASON="database upgrade", UNTIL="30m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_down(fleet, "database upgrade")
    status = cap(project, "apachemaint:status")
    assert status.returncode == 0, status.stdout + status.stderr
    for server in fleet.servers:
        assert f"{server.address}: DOWN {server.page}" in status.stdout
    assert "(database upgrade) until" in status.stdout

    done = cap(project, "apachemaint:enable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_up(fleet)
    assert all(f"{s.address}: verified" in done.stdout for s in fleet.servers)


@pytest.mark.parametrize("policy, others", [("keep", 503), ("lift", 200)])
def test_one_failing_server_fails_the_task_and_others_follow_the_setting(project, fleet, policy, others):
    broken = fleet.servers[1]
    break_docroot(broken)
    done = cap(project, "apachemaint:disable", REASON="upgrade", ON_FAILURE=policy)
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert f"apachemaint disable failed on {broken.address}" in out
    assert "not a folder" in out, "the failed server's own message is shown"
    for server in fleet.servers:
        expected = 200 if server is broken else others
        assert get(server.url("/")).status == expected, (server.name, out)
    if policy == "keep":
        status = cap(project, "apachemaint:status")
        assert status.returncode == 0 and "mixed fleet, 2 of 3 servers in maintenance" in status.stdout + status.stderr


def test_migrate_hook_wraps_a_successful_migration(project, fleet):
    probe = project / "seen"
    done = cap(project, "deploy:migrate", WRAP="1", REASON="migrating", PROBE_OUT=str(probe))
    assert done.returncode == 0, done.stdout + done.stderr
    assert probe.read_text() == "503 503 503", "every server is down while the migration runs"
    assert_all_up(fleet)


@pytest.mark.parametrize("policy, after", [("keep", 503), ("lift", 200)])
def test_migrate_hook_on_a_failed_migration(project, fleet, policy, after):
    probe = project / "seen"
    done = cap(project, "deploy:migrate", WRAP="1", MIGRATE_FAIL="1", ON_FAILURE=policy, PROBE_OUT=str(probe))
    assert done.returncode != 0 and "migration failed" in done.stdout + done.stderr
    assert probe.read_text() == "503 503 503"
    assert [a[0] for a in answers(fleet)] == [after] * 3


def test_migrate_hook_is_opt_in(project, fleet):
    probe = project / "seen"
    done = cap(project, "deploy:migrate", PROBE_OUT=str(probe))
    assert done.returncode == 0, done.stdout + done.stderr
    assert probe.read_text() == "200 200 200"


# --- a real `cap deploy` and `cap deploy:rollback` while down (issue 14, item 6) ---------------

def git(repo: Path, *args: str) -> None:
    run = run_tool(["git", "-C", str(repo), *args], cwd=repo, env={
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo)})
    assert run.returncode == 0, run.stderr


def commit_release(repo: Path, version: str) -> None:
    (repo / "public").mkdir(parents=True, exist_ok=True)
    (repo / "public" / "release.txt").write_text(f"{version}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", version)


@pytest.fixture
def deployed_app(fleet, project, backend):
    """A git repo, deployed by `cap production deploy` to one server of the fleet; a vhost on
    that server's address with DocumentRoot deploy_to/current/public, patched after the first
    deploy (so patch sees the Capistrano tree), served by an Apache of its own."""
    base = fleet.root / "deploy"
    shutil.rmtree(base, ignore_errors=True)
    repo, deploy_to = base / "repo", base / "app"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commit_release(repo, "v1")
    server = fleet.servers[0]
    (project / "config" / "deploy" / "production.rb").write_text(
        f'server "{server.address}", roles: %w[web app], apachemaint_vhost: "{base}/app.conf"\n')
    with open(project / "config" / "deploy.rb", "a") as f:
        f.write(f'set :repo_url, "file://{repo}"\nset :branch, "main"\nset :deploy_to, "{deploy_to}"\n'
                'set :keep_releases, 5\n')
    done = cap(project, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    for d in (base, deploy_to):
        d.chmod(0o755)
    conf = base / "app.conf"
    conf.write_text(f"<VirtualHost {server.address}:${{APACHEMAINT_PORT}}>\n    ServerName shop.test\n"
                    f"    DocumentRoot {deploy_to}/current/public\n    <Directory {deploy_to}>\n"
                    "        Require all granted\n    </Directory>\n    ProxyPass /release.txt !\n"
                    f"    ProxyPass / http://127.0.0.1:{backend.port}/\n</VirtualHost>\n")
    patched = apachemaint_cli("patch", "--no-configtest", conf, state=fleet.state)
    assert patched.returncode == 0, patched.stderr
    apache = LoopbackApache(base / "apache", [conf], binary=fleet.apache_binary, host=server.address).start()
    try:
        yield repo, deploy_to, apache
    finally:
        apache.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_maintenance_survives_cap_deploy_and_rollback(project, deployed_app, backend):
    repo, deploy_to, apache = deployed_app
    page = deploy_to / "shared" / "public" / "system" / "maintenance.html"

    def status(path: str = "/orders/1") -> int:
        return get(apache.url(path)).status

    assert get(apache.url("/release.txt")).text == "v1\n"
    done = cap(project, "apachemaint:disable", REASON="deploying")
    assert done.returncode == 0, done.stdout + done.stderr
    assert page.is_file() and status() == 503
    seen = len(backend.log)
    commit_release(repo, "v2")
    done = cap(project, "deploy")  # a deploy while down: current now points to a new release
    assert done.returncode == 0, done.stdout + done.stderr
    assert status() == 503 and status("/release.txt") == 503
    done = cap(project, "deploy:rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert status() == 503 and len(backend.log) == seen
    done = cap(project, "apachemaint:enable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert get(apache.url("/release.txt")).text == "v1\n" and status() == 200
    done = cap(project, "deploy")  # and no old page comes back with a later deploy
    assert done.returncode == 0, done.stdout + done.stderr
    assert get(apache.url("/release.txt")).text == "v2\n" and status() == 200
