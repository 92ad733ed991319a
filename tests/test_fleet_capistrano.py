"""The capistrano-apachemaint gem, built with `gem build` and installed from the built file,
driven by Debian's Capistrano 3 against three real web servers (Apache on loopback addresses,
reached over SSH): down, up, status, a failing server, --verify, the deploy hook around a real
`cap deploy` with a migrate task, and windows opened by hand."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fleet_hosts import (
    REPO,
    Fleet,
    argv_recorder,
    break_docroot,
    fleet_root,
    leftover_secrets,
    require_root,
    require_tool,
    run_tool,
    wait_for,
)
from http_client import get
from run_cli import apachemaint as apachemaint_cli

from apachemaint.httpd import LoopbackApache

pytestmark = [pytest.mark.slow, pytest.mark.apache]

# Where the gem_home fixture installed the built gem; every `cap` run loads it from there.
CAP_ENV: dict[str, str] = {}

GEM_SRC = REPO / "gem" / "capistrano-apachemaint"

# Capistrano-rails style: migrate after deploy:updated. Each probe writes what the web servers
# answer at that point of the deploy. MIGRATE=0 leaves deploy:migrate undefined.
PROBES = """\
require "net/http"

def probe(name)
  return unless (out = ENV["PROBE_DIR"])

  seen = fetch(:probe_urls).map { |url| Net::HTTP.get_response(URI(url)).code }
  File.write(File.join(out, name), seen.join(" "))
end

namespace :probe do
  task(:published) { probe("published") }
  task(:started) { probe("started") }
end
before "deploy:published", "probe:published"
after "deploy:started", "probe:started"

unless ENV["MIGRATE"] == "0"
  namespace :deploy do
    task :migrate do
      probe("migrate")
      raise "migration failed" if ENV["MIGRATE_FAIL"] == "1"
    end
  end
  after "deploy:updated", "deploy:migrate"
end
"""


@pytest.fixture(scope="module")
def gem_home(tmp_path_factory) -> Path:
    """The gem as a user gets it: `gem build` from the repo's gemspec, then `gem install` of
    that file into a GEM_HOME of its own (no network: the dependency is Debian's Capistrano)."""
    gem = require_tool("gem")
    build = tmp_path_factory.mktemp("gem-build")
    if os.environ.get("APACHEMAINT_CAP_GEM"):  # the file .ci/run built
        package = Path(os.environ["APACHEMAINT_CAP_GEM"])
    else:
        shutil.copytree(GEM_SRC, build / "src", ignore=shutil.ignore_patterns("*.gem"))
        built = subprocess.run([gem, "build", "capistrano-apachemaint.gemspec"], cwd=build / "src",
                               capture_output=True, text=True, timeout=120)
        assert built.returncode == 0, built.stdout + built.stderr
        (package,) = (build / "src").glob("capistrano-apachemaint-*.gem")
    home = tmp_path_factory.mktemp("gem-home")
    # GEM_HOME, not --install-dir: the latter hides the system's gems, Capistrano among them.
    installed = subprocess.run([gem, "install", "--local", "--no-document", str(package)], capture_output=True,
                               text=True, timeout=120,
                               env={"PATH": "/usr/bin:/bin", "HOME": str(build), "GEM_HOME": str(home)})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    CAP_ENV["GEM_HOME"] = str(home)
    return home


@pytest.fixture(scope="module")
def fleet(apache_binary):
    require_root()
    require_tool("cap")
    with fleet_root("cap-fleet") as root:
        fleet = Fleet(root, apache_binary, patched=True).start()
        yield fleet
        fleet.close()


def server_line(server, roles: str = "web", **extra: str) -> str:
    props = "".join(f", {k}: {v}" for k, v in extra.items())
    return (f'server "{server.address}", roles: %w[{roles}], apachemaint_docroot: "{server.docroot}", '
            f'apachemaint_verify_config: "{server.apache.conf}", '
            f'apachemaint_verify_connect: "{server.address}:{server.apache.port}"{props}\n')


@pytest.fixture
def project(fleet, tmp_path, gem_home):
    """A Capistrano project as a user has it: the gem required in the Capfile."""
    fleet.reset()
    tasks = tmp_path / "lib" / "capistrano" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "probes.rake").write_text(PROBES)
    (tmp_path / "Capfile").write_text('require "capistrano/setup"\nrequire "capistrano/deploy"\n'
                                      'require "capistrano/scm/git"\ninstall_plugin Capistrano::SCM::Git\n'
                                      'require "capistrano/apachemaint"\n'
                                      'Dir.glob("lib/capistrano/tasks/*.rake").each { |r| import r }\n')
    sshd = fleet.sshd
    (tmp_path / "config" / "deploy").mkdir(parents=True)
    (tmp_path / "config" / "deploy.rb").write_text(f"""\
set :application, "shop"
set :apachemaint_command, "{fleet.python} -m apachemaint"
set :apachemaint_on_failure, ENV.fetch("ON_FAILURE", "keep").to_sym
set :apachemaint_during_migrations, ENV["HOOK"] == "1"
set :probe_urls, {[s.url("/") for s in fleet.servers]!r}
set :ssh_options, {{
  user: "root", port: {sshd.port}, keys: ["{sshd.client_key}"], keys_only: true, use_agent: false,
  auth_methods: %w[publickey], config: false, verify_host_key: :always,
  user_known_hosts_file: "{sshd.known_hosts}", global_known_hosts_file: "/dev/null", timeout: 10,
}}
""")
    (tmp_path / "config" / "deploy" / "production.rb").write_text("".join(server_line(s) for s in fleet.servers))
    return tmp_path


def cap(project: Path, *tasks: str, **env: str):
    return run_tool([require_tool("cap"), "production", *tasks], cwd=project,
                    env={"HOME": str(project), "NO_COLOR": "1", "GEM_HOME": CAP_ENV["GEM_HOME"], **env})


def answers(fleet) -> list[tuple[int, str]]:
    return [(r.status, r.text) for r in (get(s.url("/")) for s in fleet.servers)]


def assert_all_down(fleet, reason: str = "") -> None:
    for server in fleet.servers:
        resp = get(server.url("/orders"))
        assert resp.status == 503, server.name
        assert resp.body == server.page.read_bytes() and reason.encode() in resp.body


def assert_all_up(fleet) -> None:
    assert answers(fleet) == [(200, f"app on {s.name}\n") for s in fleet.servers]


def test_the_installed_gem_has_the_tasks_named_for_what_they_do(project, gem_home):
    which = subprocess.run([require_tool("gem"), "which", "capistrano/apachemaint"], capture_output=True,
                           text=True, timeout=60, env={**os.environ, **CAP_ENV})
    assert which.stdout.startswith(f"{gem_home}/gems/capistrano-apachemaint-"), which.stdout + which.stderr
    listed = cap(project, "-T")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    for name in ("apachemaint:down", "apachemaint:up", "apachemaint:status"):
        assert f"cap {name} " in listed.stdout
    assert "apachemaint:disable" not in listed.stdout and "apachemaint:enable" not in listed.stdout
    assert "maintenance:enable in capistrano-maintenance" in listed.stdout


def test_the_old_contrib_file_is_a_pointer_that_loads_the_gem(project):
    """A Capfile that still imports contrib/capistrano/apachemaint.rake gets the gem's tasks."""
    shutil.copy(REPO / "contrib" / "capistrano" / "apachemaint.rake", project / "lib" / "capistrano" / "tasks")
    capfile = project / "Capfile"
    capfile.write_text(capfile.read_text().replace('require "capistrano/apachemaint"\n', ""))
    listed = cap(project, "-T")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "cap apachemaint:down " in listed.stdout and "apachemaint:disable" not in listed.stdout


def test_down_status_up_on_every_server_verified(project, fleet):
    done = cap(project, "apachemaint:down", REASON="database upgrade", UNTIL="30m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_down(fleet, "database upgrade")
    # --verify is on by default: each server asked its own vhosts and reported it.
    for server in fleet.servers:
        asked = f"http://{server.address}:{server.apache.port}"
        assert f"{server.address}: {server.vhost}:1: {server.name} on {asked}: covered" in done.stdout
    status = cap(project, "apachemaint:status")
    assert status.returncode == 0, status.stdout + status.stderr
    for server in fleet.servers:
        assert f"{server.address}: DOWN {server.page}" in status.stdout
    assert "(database upgrade) until" in status.stdout

    done = cap(project, "apachemaint:up")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_up(fleet)
    assert all(f"{s.address}: 1 up, 0 still down" in done.stdout for s in fleet.servers), done.stdout


def test_one_bypass_token_for_every_server(project, fleet):
    """APACHEMAINT_BYPASS_TOKEN in cap's environment reaches every server's `down`: the
    secret URL sets the same cookie on each, and it lets its holder through to the app."""
    token = "cap-fleet-token-0123456789"
    done = cap(project, "apachemaint:down", REASON="upgrade", APACHEMAINT_BYPASS_TOKEN=token)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_down(fleet, "upgrade")
    for server in fleet.servers:
        opened = get(server.url(f"/.apachemaint/bypass/{token}"))
        assert opened.status == 302, server.name
        cookie = opened.headers["Set-Cookie"].split(";")[0]
        assert cookie == f"apachemaint_bypass={token}"
        assert get(server.url("/"), headers={"Cookie": cookie}).text == f"app on {server.name}\n"
    done = cap(project, "apachemaint:up")
    assert done.returncode == 0, done.stdout + done.stderr
    for server in fleet.servers:  # after up the URL is the site's own again: no cookie, no redirect
        after = get(server.url(f"/.apachemaint/bypass/{token}"))
        assert after.status not in (302, 503) and not after.headers.get_all("Set-Cookie"), after.status


def assert_token_opens_every_server(fleet, token: str) -> None:
    for server in fleet.servers:
        opened = get(server.url(f"/.apachemaint/bypass/{token}"))
        assert opened.status == 302, server.name
        assert opened.headers["Set-Cookie"].split(";")[0] == f"apachemaint_bypass={token}"
        assert get(server.url("/"), headers={"Cookie": f"apachemaint_bypass={token}"}).status == 200


def set_in(project: Path, *lines: str) -> None:
    with open(project / "config" / "deploy.rb", "a") as f:
        f.write("".join(f"{line}\n" for line in lines))


@pytest.mark.parametrize("through", ["ssh", "sudo"])
def test_the_bypass_token_is_in_no_command_line_on_the_servers(project, fleet, tmp_path, through):
    """F4: the token reaches `down` on stdin, not in argv (which ps and sudo's log show): a
    recording apachemaint on the servers logs the command line of itself and of every process
    above it. Through sudo too, whose reset environment would drop an env-passed token."""
    if through == "sudo":
        require_tool("sudo")
    token = f"cap-argv-token-{through}-0123456789"
    log = tmp_path / "argv.log"
    wrapper = argv_recorder(tmp_path, log, fleet.state, fleet.python)
    set_in(project, f'set :apachemaint_command, "{"sudo -n " if through == "sudo" else ""}{wrapper}"',
           f'set :apachemaint_bypass_token, "{token}"')
    done = cap(project, "apachemaint:down", REASON="upgrade")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_down(fleet, "upgrade")
    assert_token_opens_every_server(fleet, token)
    seen = log.read_text()
    assert token not in seen
    lines = seen.splitlines()
    assert sum(ln.startswith(f"/bin/sh {wrapper} down --reason upgrade --bypass-token-file - ")
               for ln in lines) == len(fleet.servers), seen
    assert sum(ln.startswith("sshd: ") for ln in lines) == len(fleet.servers), seen  # the whole chain
    assert through != "sudo" or sum(ln.startswith(f"sudo -n {wrapper} down ") for ln in lines) == 3, seen
    assert leftover_secrets(token) == []  # the private folder on each server is gone
    assert cap(project, "apachemaint:up").returncode == 0


def test_apachemaint_bypass_makes_one_new_token_per_run_for_every_server(project, fleet):
    set_in(project, "set :apachemaint_bypass, true")
    tokens = []
    for _ in range(2):
        done = cap(project, "apachemaint:down", REASON="upgrade")
        assert done.returncode == 0, done.stdout + done.stderr
        log = done.stdout + done.stderr
        sent = re.findall(r"bypass token \(every server\): ([A-Za-z0-9_-]+)", log)
        assert len(sent) == 1, log  # one token for the fleet, shown once: no server echoes it
        assert log.count(sent[0]) == 1, log
        tokens.append(sent[0])
        assert_token_opens_every_server(fleet, tokens[-1])
        assert cap(project, "apachemaint:up").returncode == 0
    assert tokens[0] != tokens[1]  # a token per window


def test_apachemaint_langs_renders_a_page_per_language(project, fleet):
    """`set :apachemaint_langs, "en,de"`; a server's own property (a list) wins for that server."""
    last = fleet.servers[-1]
    (project / "config" / "deploy" / "production.rb").write_text("".join(
        server_line(s, **({"apachemaint_langs": "%w[de en]"} if s is last else {})) for s in fleet.servers))
    set_in(project, 'set :apachemaint_langs, "en,de"')
    done = cap(project, "apachemaint:down", REASON="upgrade")
    assert done.returncode == 0, done.stdout + done.stderr
    for server in fleet.servers:
        german = get(server.url("/"), headers={"Accept-Language": "de"})
        assert german.status == 503 and b"Wartungsarbeiten" in german.body, server.name
        default = get(server.url("/"), headers={"Accept-Language": "ja"})
        assert (b"Wartungsarbeiten" if server is last else b"Down for maintenance") in default.body, server.name


def reload_with(server, vhost: bytes, answers_while_page_in_place: int) -> None:
    """Serve `vhost` instead; graceful reload is asynchronous, so wait until a page put in
    place by hand gets the answer only the new config gives."""
    server.vhost.write_bytes(vhost)
    server.page.parent.mkdir(exist_ok=True)
    server.page.write_text("by hand\n")
    reload = subprocess.run(server.reload_command, capture_output=True, text=True, timeout=60)
    assert reload.returncode == 0, reload.stderr
    assert wait_for(lambda: get(server.url("/")).status == answers_while_page_in_place, timeout=10.0)
    server.page.unlink()


@pytest.fixture
def unpatched(fleet, project):
    """The second server's vhost without the maintenance block: down writes a page nobody serves."""
    server = fleet.servers[1]
    patched = server.vhost.read_bytes()
    plain = (f"<VirtualHost *:{server.apache.port}>\n    ServerName {server.name}\n"
             f'    DocumentRoot "{server.docroot}"\n    <Directory "{server.docroot}">\n'
             "        Require all granted\n    </Directory>\n</VirtualHost>\n")
    reload_with(server, plain.encode(), 200)
    yield server
    reload_with(server, patched, 503)


def test_verify_is_on_by_default_and_fails_down_on_an_unpatched_vhost(project, fleet, unpatched):
    done = cap(project, "apachemaint:down", REASON="upgrade")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and f"apachemaint down failed on {unpatched.address}" in out, out
    # The server's page is where no vhost looks: verify says so instead of "maintenance on".
    assert f"{unpatched.address}: " in out and "no vhost of this server serves that page" in out, out
    assert get(unpatched.url("/")).status == 200
    # Turned off, the same run "succeeds" although that server still answers 200.
    with open(project / "config" / "deploy.rb", "a") as f:
        f.write("set :apachemaint_verify, false\n")
    done = cap(project, "apachemaint:down", REASON="upgrade")
    assert done.returncode == 0, done.stdout + done.stderr
    assert get(unpatched.url("/")).status == 200


def test_maintenance_template_path_is_the_page(project, fleet):
    template = project / "page.html.j2"
    template.write_text("<h1>Back soon: {{ reason }}</h1>\n")
    with open(project / "config" / "deploy.rb", "a") as f:
        f.write(f'set :maintenance_template_path, "{template}"\n')
    done = cap(project, "apachemaint:down", REASON="upgrade")
    assert done.returncode == 0, done.stdout + done.stderr
    for server in fleet.servers:
        assert b"Back soon: upgrade" in get(server.url("/")).body


@pytest.mark.parametrize("policy, others", [("keep", 503), ("lift", 200)])
def test_one_failing_server_fails_the_task_and_others_follow_the_setting(project, fleet, policy, others):
    broken = fleet.servers[1]
    break_docroot(broken)
    done = cap(project, "apachemaint:down", REASON="upgrade", ON_FAILURE=policy)
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert f"apachemaint down failed on {broken.address}" in out
    assert "not a folder" in out, "the failed server's own message is shown"
    for server in fleet.servers:
        expected = 200 if server is broken else others
        assert get(server.url("/")).status == expected, (server.name, out)
    if policy == "keep":
        status = cap(project, "apachemaint:status")
        assert status.returncode == 0 and "mixed fleet, 2 of 3 servers in maintenance" in status.stdout + status.stderr


# --- the deploy hook around a real `cap deploy` ---------------------------------------------

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
def app_repo(fleet, project):
    """A git repo that `cap deploy` releases to the first server (the others are web servers
    with no release of their own: one machine, one deploy_to)."""
    base = fleet.root / "deploy"
    shutil.rmtree(base, ignore_errors=True)
    repo = base / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commit_release(repo, "v1")
    first, *rest = fleet.servers
    (project / "config" / "deploy" / "production.rb").write_text(
        server_line(first, "web app") + "".join(server_line(s, no_release="true") for s in rest))
    with open(project / "config" / "deploy.rb", "a") as f:
        f.write(f'set :repo_url, "file://{repo}"\nset :branch, "main"\nset :deploy_to, "{base}/app"\n'
                'set :keep_releases, 5\n')
    (project / "probe").mkdir()
    yield repo
    shutil.rmtree(base, ignore_errors=True)


def probes(project: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in (project / "probe").iterdir()}


def test_hook_keeps_the_site_down_from_migration_until_the_new_release_is_live(project, fleet, app_repo):
    done = cap(project, "deploy", HOOK="1", REASON="migrating", PROBE_DIR=str(project / "probe"))
    assert done.returncode == 0, done.stdout + done.stderr
    # Down only once the code is in place, and still down after current points to the new release.
    assert probes(project) == {"started": "200 200 200", "migrate": "503 503 503", "published": "503 503 503"}
    assert_all_up(fleet)


def test_hook_without_a_migrate_task_goes_down_before_deploy_updated(project, fleet, app_repo):
    done = cap(project, "deploy", HOOK="1", MIGRATE="0", PROBE_DIR=str(project / "probe"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert probes(project) == {"started": "200 200 200", "published": "503 503 503"}
    assert_all_up(fleet)


def test_hook_is_opt_in(project, fleet, app_repo):
    done = cap(project, "deploy", PROBE_DIR=str(project / "probe"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(probes(project).values()) == {"200 200 200"}


@pytest.mark.parametrize("policy, after", [("keep", 503), ("lift", 200)])
def test_hook_on_a_failed_migration(project, fleet, app_repo, policy, after):
    done = cap(project, "deploy", HOOK="1", MIGRATE_FAIL="1", ON_FAILURE=policy, PROBE_DIR=str(project / "probe"))
    assert done.returncode != 0 and "migration failed" in done.stdout + done.stderr
    assert probes(project)["migrate"] == "503 503 503"
    assert [a[0] for a in answers(fleet)] == [after] * 3


def test_hook_lifts_on_failure_a_page_whose_down_failed_only_at_verify(project, fleet, app_repo, unpatched):
    """down on the unpatched server places its page and then fails --verify: that window is the
    deploy's own, so the lift policy ends it with the others instead of leaving it behind."""
    done = cap(project, "deploy", HOOK="1", ON_FAILURE="lift", PROBE_DIR=str(project / "probe"))
    out = done.stdout + done.stderr
    assert done.returncode != 0 and f"apachemaint down failed on {unpatched.address}" in out, out
    assert [s.page.exists() for s in fleet.servers] == [False, False, False], out
    assert [a[0] for a in answers(fleet)] == [200] * 3


def test_hook_leaves_a_window_opened_by_hand_alone(project, fleet, app_repo):
    by_hand = fleet.servers[1]
    opened = apachemaint_cli("down", "--docroot", by_hand.docroot, "--reason", "disk swap", "--until", "2h",
                             state=fleet.state)
    assert opened.returncode == 0, opened.stderr
    page = by_hand.page.read_bytes()
    done = cap(project, "deploy", HOOK="1", REASON="migrating", PROBE_DIR=str(project / "probe"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert probes(project)["migrate"] == "503 503 503"
    # Neither re-rendered (its reason and end kept) nor lifted with the others.
    assert by_hand.page.read_bytes() == page and b"disk swap" in page
    assert [s.status for s in (get(s.url("/")) for s in fleet.servers)] == [200, 503, 200]
    status = cap(project, "apachemaint:status")
    assert f"{by_hand.address}: DOWN {by_hand.page}" in status.stdout and "(disk swap) until" in status.stdout


def test_hook_leaves_a_fleet_taken_down_before_the_deploy_down(project, fleet, app_repo):
    done = cap(project, "apachemaint:down", REASON="by hand")
    assert done.returncode == 0, done.stdout + done.stderr
    done = cap(project, "deploy", HOOK="1", REASON="migrating", PROBE_DIR=str(project / "probe"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert_all_down(fleet, "by hand")


# --- a real `cap deploy` and `cap deploy:rollback` while down (issue 14, item 6) ---------------

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
    conf = base / "app.conf"
    apache = LoopbackApache(base / "apache", [conf], binary=fleet.apache_binary, host=server.address)
    (project / "config" / "deploy" / "production.rb").write_text(
        f'server "{server.address}", roles: %w[web app], apachemaint_vhost: "{conf}", '
        f'apachemaint_verify_config: "{apache.conf}", apachemaint_verify_connect: "{server.address}:{apache.port}"\n')
    with open(project / "config" / "deploy.rb", "a") as f:
        f.write(f'set :repo_url, "file://{repo}"\nset :branch, "main"\nset :deploy_to, "{deploy_to}"\n'
                'set :keep_releases, 5\n')
    done = cap(project, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    for d in (base, deploy_to):
        d.chmod(0o755)
    conf.write_text(f"<VirtualHost {server.address}:${{APACHEMAINT_PORT}}>\n    ServerName shop.test\n"
                    f"    DocumentRoot {deploy_to}/current/public\n    <Directory {deploy_to}>\n"
                    "        Require all granted\n    </Directory>\n    ProxyPass /release.txt !\n"
                    f"    ProxyPass / http://127.0.0.1:{backend.port}/\n</VirtualHost>\n")
    patched = apachemaint_cli("patch", "--no-configtest", conf, state=fleet.state)
    assert patched.returncode == 0, patched.stderr
    apache.start()
    try:
        yield repo, deploy_to, apache
    finally:
        apache.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_maintenance_survives_cap_deploy_and_rollback(project, deployed_app, backend):
    """A window opened by hand, then a deploy and a rollback with the hook on: it stays down."""
    repo, deploy_to, apache = deployed_app
    page = deploy_to / "shared" / "public" / "system" / "maintenance.html"

    def status(path: str = "/orders/1") -> int:
        return get(apache.url(path)).status

    assert get(apache.url("/release.txt")).text == "v1\n"
    done = cap(project, "apachemaint:down", REASON="deploying")
    assert done.returncode == 0, done.stdout + done.stderr
    assert page.is_file() and status() == 503
    seen = len(backend.log)
    commit_release(repo, "v2")
    done = cap(project, "deploy", HOOK="1", MIGRATE="0")  # a deploy while down: current now points to a new release
    assert done.returncode == 0, done.stdout + done.stderr
    assert status() == 503 and status("/release.txt") == 503
    done = cap(project, "deploy:rollback", HOOK="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert status() == 503 and len(backend.log) == seen
    done = cap(project, "apachemaint:up")
    assert done.returncode == 0, done.stdout + done.stderr
    assert get(apache.url("/release.txt")).text == "v1\n" and status() == 200
    done = cap(project, "deploy")  # and no old page comes back with a later deploy
    assert done.returncode == 0, done.stdout + done.stderr
    assert get(apache.url("/release.txt")).text == "v2\n" and status() == 200
