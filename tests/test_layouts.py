"""Platform records (apachemaint/layouts.py) against fixture trees of each platform
(fixtures/layouts/<platform>/, a machine's ``/`` in miniature): each is recognised as its
platform, and check, patch and new --enable work on it through the command line.  The
Debian record is also tried against the real apache2 here."""
from __future__ import annotations

import json
import os

import pytest
from conftest import require_apache
from corpus import FIXTURES, layout_root
from run_cli import apachemaint

from apachemaint import layouts, server

PLATFORMS = sorted(p.name for p in (FIXTURES / "layouts").iterdir() if p.is_dir())
# The vhost each tree ships (or an admin added the platform's way) before apachemaint comes.
DEFAULT_SITE = {"debian": "sites-enabled/000-default.conf", "rhel": "conf.d/ssl.conf",
                "gentoo": "vhosts.d/www.example.com.conf"}
NEW = ("--backend", "http://127.0.0.1:3000", "--docroot", "/srv/app/public")


def default_site(lay: layouts.Layout) -> str:
    rel = DEFAULT_SITE.get(lay.name)
    return os.path.realpath(lay.base / rel if rel else lay.sites_folder() / "www.example.com.conf")


def unblocked(root, main) -> set[str]:
    """The files ``check --config MAIN`` finds a vhost without a maintenance block in (AM001)."""
    done = apachemaint("check", "--config", main, "--format", "json", env={"APACHEMAINT_ROOT": str(root)})
    assert done.returncode in (0, 1), done.stderr
    return {os.path.realpath(f["file"]) for f in json.loads(done.stdout)["findings"] if f["code"] == "AM001"}


def test_every_record_has_a_fixture_tree():
    assert PLATFORMS == sorted(lay.name for lay in layouts.LAYOUTS)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_tree_is_recognised_as_its_platform(tmp_path, platform):
    root = layout_root(tmp_path, platform)
    lay = layouts.recognise(root)
    assert lay is not None and lay.name == platform
    assert lay.main.is_file() and str(lay.main).startswith(str(root))


@pytest.mark.parametrize("tree, os_release, expected", [
    ("alpine", "ID=gentoo\n", "gentoo"),  # all three have /etc/apache2/httpd.conf
    ("gentoo", 'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n', "suse"),
    ("rhel", "ID=arch\n", "arch"),  # both have /etc/httpd/conf/httpd.conf
    ("arch", 'ID=ol\nID_LIKE="fedora"\n', "rhel"),  # a clone known only by ID_LIKE
])
def test_recognition_goes_by_os_release_not_the_main_path(tmp_path, tree, os_release, expected):
    root = layout_root(tmp_path, tree)
    for marker in layouts.by_name(tree).markers:  # a tree moved to another platform keeps its folders
        if (root / str(marker).lstrip("/")).is_file():
            (root / str(marker).lstrip("/")).unlink()
    (root / "etc/os-release").write_text(os_release)
    assert layouts.recognise(root).name == expected


def test_nothing_is_recognised_on_an_empty_root(tmp_path):
    assert layouts.recognise(tmp_path) is None


@pytest.mark.parametrize("platform", PLATFORMS)
def test_check_patch_and_new_enable_on_the_platform(tmp_path, platform):
    root = layout_root(tmp_path, platform)
    lay = layouts.recognise(root)
    env = {"APACHEMAINT_ROOT": str(root)}
    main, site = lay.main, default_site(lay)

    before = unblocked(root, main)
    assert site in before  # the server's own walk reached the platform's site

    done = apachemaint("patch", site, "--config", main, "--no-configtest", env=env, state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert unblocked(root, main) == before - {site}

    main_before = main.read_bytes()
    done = apachemaint("new", "proxy", "--server-name", "app.example.com", *NEW, "--enable",
                       "--config", main, "--no-configtest", env=env, state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    written = lay.sites_folder() / "app.example.com.conf"
    assert written.is_file() and "app.example.com" in written.read_text()
    if lay.enable_by == "link":
        link = lay.enabled_folder() / "app.example.com.conf"
        assert link.is_symlink() and os.readlink(link) == f"../{lay.sites}/app.example.com.conf"
    if lay.enable_by == "include":
        assert f"Include {written}" in main.read_text().splitlines()
    else:
        assert main.read_bytes() == main_before
    srv = server.load(main, lay)
    assert srv.includes(written) and not srv.errors
    assert unblocked(root, main) == before - {site}  # the new site came with its block


@pytest.mark.parametrize("platform", ["debian", "httpd-image"])
def test_new_enable_finds_the_platform_without_config(tmp_path, platform):
    root = layout_root(tmp_path, platform)
    lay = layouts.recognise(root)
    done = apachemaint("new", "proxy", "--server-name", "app.example.com", *NEW, "--enable",
                       "--no-configtest", env={"APACHEMAINT_ROOT": str(root)}, state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert (lay.sites_folder() / "app.example.com.conf").is_file()


def test_a_main_config_behind_a_link_is_not_written_through(tmp_path):
    root = layout_root(tmp_path, "httpd-image")
    lay = layouts.recognise(root)
    real = tmp_path / "elsewhere.conf"
    real.write_bytes(lay.main.read_bytes())
    lay.main.unlink()
    lay.main.symlink_to(real)
    done = apachemaint("new", "proxy", "--server-name", "app.example.com", *NEW, "--enable",
                       "--config", lay.main, "--no-configtest", env={"APACHEMAINT_ROOT": str(root)},
                       state=tmp_path / "state")
    assert done.returncode == 2 and "symlink" in done.stderr
    assert "app.example.com" not in real.read_text()
    assert not (lay.sites_folder() / "app.example.com.conf").exists()


@pytest.mark.apache
def test_the_debian_record_against_the_real_apache2(tmp_path):
    require_apache()
    root = layout_root(tmp_path, "debian")
    lay = layouts.recognise(root)
    env = {"APACHEMAINT_ROOT": str(root)}
    done = apachemaint("new", "proxy", "--server-name", "app.example.com", *NEW, "--enable",
                       "--config", lay.main, env=env, state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert f"config test of {lay.main}: Syntax OK" in done.stdout
    done = apachemaint("patch", default_site(lay), "--config", lay.main, env=env, state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert f"config test of {lay.main}" in done.stdout and "Syntax OK" in done.stdout
    ok, out = server.load(lay.main, lay).configtest()
    assert ok, out


@pytest.mark.parametrize("platform", ["debian", "suse", "arch", "homebrew-intel"])
def test_the_layouts_command_marks_the_recognised_one(tmp_path, platform):
    root = layout_root(tmp_path, platform)
    done = apachemaint("layouts", env={"APACHEMAINT_ROOT": str(root)})
    assert done.returncode == 0, done.stderr
    marked = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("*")]
    assert marked == [platform]
    assert {line.split()[0] for line in done.stdout.splitlines()[1:-1] if not line.startswith("*")} == \
        {lay.name for lay in layouts.LAYOUTS} - {platform}


def test_the_layouts_command_on_a_machine_without_apache(tmp_path):
    done = apachemaint("layouts", env={"APACHEMAINT_ROOT": str(tmp_path)})
    assert done.returncode == 0 and "recognised: none" in done.stdout
    assert not [line for line in done.stdout.splitlines() if line.startswith("*")]
