"""Apache itself as the judge: what the reader rejects Apache rejects, what patch writes
Apache accepts, and a patch Apache rejects is rolled back byte for byte."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from corpus import FIXTURES, SHARED_CORPUS, debian_tree
from run_cli import apachemaint
from test_reader import MODULE_DEPENDENT, _expected_malformed

from apachemaint import patch as patching
from apachemaint import reader
from apachemaint.errors import ConfigSyntaxError
from apachemaint.httpd import DEFAULT_MODULES, LoopbackApache, module_dir

pytestmark = pytest.mark.apache

# Modules some fixtures need beyond the test bed's defaults, loaded where installed.
OPTIONAL_MODULES = ("ssl", "socache_shmcb", "proxy_fcgi", "macro", "passenger", "wsgi")


def checker(tmp: Path, conf: Path) -> LoopbackApache:
    mods = module_dir()
    extra = tuple(m for m in OPTIONAL_MODULES if mods and (mods / f"mod_{m}.so").is_file())
    tmp.mkdir(parents=True, exist_ok=True)
    return LoopbackApache(tmp, [conf], modules=DEFAULT_MODULES + extra,
                          defines={"APACHE_LOG_DIR": str(tmp)})


@pytest.mark.parametrize("name, line, message", _expected_malformed())
def test_apache_rejects_what_the_reader_rejects(name, line, message, tmp_path):
    conf = FIXTURES / "malformed" / name
    ok, out = checker(tmp_path, conf).configtest()
    if name in MODULE_DEPENDENT:
        pytest.skip("httpd's verdict depends on which modules are loaded")
    assert not ok
    assert f"line {line} of {conf}" in out


def _vhost_fixtures() -> list:
    return [pytest.param(p, id=p.name) for p in sorted((FIXTURES / "vhosts").glob("*.conf"))
            + sorted((FIXTURES / "edge").glob("*.conf"))]


@pytest.mark.parametrize("src", _vhost_fixtures())
def test_apache_accepts_every_fixture_after_patching(src, tmp_path):
    conf = tmp_path / src.name
    shutil.copy(src, conf)
    ok, out = checker(tmp_path / "apache", conf).configtest()
    if not ok:
        pytest.skip(f"Apache rejects the unpatched fixture here: {out.splitlines()[0]}")
    plan = patching.plan(conf, {"allow_paths": ("/up",), "allow_ips": ("192.0.2.0/24",),
                                "bypass_cookie": "pass"})
    conf.write_bytes(plan.new_bytes)
    ok, out = checker(tmp_path / "apache", conf).configtest()
    assert ok, out


DEBIAN_CORPUS = SHARED_CORPUS / "certbot-compat-debian-stock" / "apache2"


def test_debian_corpus_tree_passes_apache_t_after_patching(tmp_path):
    if not DEBIAN_CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS}")
    tree = tmp_path / "apache2"
    shutil.copytree(DEBIAN_CORPUS, tree, symlinks=True)
    # The corpus stores its sites-enabled link as a file holding the link's target, and
    # keeps no module links and no envvars: put the link back, and lend it ours.
    shutil.copy(FIXTURES / "debian" / "etc-apache2" / "envvars", tree / "envvars")
    for stored in (tree / "sites-enabled").iterdir():
        target = stored.read_text().strip()
        if not stored.is_symlink() and (stored.parent / target).is_file():
            stored.unlink()
            stored.symlink_to(target)
    shutil.copytree(FIXTURES / "debian" / "etc-apache2" / "mods-available", tree / "mods-enabled",
                    dirs_exist_ok=True)
    sites = sorted({p.resolve() for p in (tree / "sites-enabled").iterdir()})
    assert sites
    # --config alone patches every vhost file the server includes (naming one it does not is refused).
    result = apachemaint("patch", "--config", tree / "apache2.conf", state=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stdout
    for site in sites:
        cf = reader.read(site)
        assert cf.text.count("# BEGIN apachemaint") >= 1


def test_patch_through_a_sites_enabled_link_is_config_tested(tmp_path):
    tree = debian_tree(tmp_path, "etc-apache2")
    link = tree / "sites-enabled" / "shop.example.com.conf"
    real = tree / "sites-available" / "shop.example.com.conf"
    result = apachemaint("patch", "--config", tree / "apache2.conf", link, state=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert f"symlink followed to {real}" in result.stdout
    assert f"config test of {tree / 'apache2.conf'}: Syntax OK" in result.stdout
    assert link.is_symlink() and "# BEGIN apachemaint" in real.read_text()


def test_a_patch_apache_rejects_is_rolled_back_byte_for_byte(tmp_path):
    tree = debian_tree(tmp_path, "etc-apache2-no-rewrite")
    sites = sorted((tree / "sites-available").glob("*.conf"))
    before = {p: p.read_bytes() for p in sites}
    # --config alone: every vhost file the server includes (a named file it does not include is refused).
    result = apachemaint("patch", "--config", tree / "apache2.conf", state=tmp_path / "state")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "rolled back" in result.stderr and "RewriteEngine" in result.stderr
    assert {p: p.read_bytes() for p in sites} == before
    assert not list((tmp_path / "state" / "checkpoints").iterdir())


def test_reader_error_stops_patch_before_any_write(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("<VirtualHost *:80>\n  DocumentRoot /srv/a\n</VirtualHost>\n")
    bad = tmp_path / "bad.conf"
    shutil.copy(FIXTURES / "malformed" / "mismatched-close.conf", bad)
    before = (good.read_bytes(), bad.read_bytes())
    result = apachemaint("patch", good, bad, state=tmp_path / "state")
    assert result.returncode == 2
    assert result.stderr == f"{bad}:8: Expected </VirtualHost> but saw </Directory>\n"
    assert (good.read_bytes(), bad.read_bytes()) == before
    with pytest.raises(ConfigSyntaxError):
        reader.read(bad)


def test_apache_rejects_the_byte_order_mark_that_am016_reports(tmp_path):
    bom, clean = FIXTURES / "rules" / "AM016.vhost", FIXTURES / "rules" / "AM016_fp.vhost"
    ok, out = checker(tmp_path / "bom", bom).configtest()
    assert not ok and "Invalid command '\\xef\\xbb\\xbf#" in out
    ok, out = checker(tmp_path / "clean", clean).configtest()
    assert ok, out
