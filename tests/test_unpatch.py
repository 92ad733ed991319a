"""unpatch: the block out again, every other byte as it was before patch, and a classic
Capistrano recipe the block replaced put back where it stood."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from corpus import FIXTURES, corpus_params, debian_tree, fixture_params
from run_cli import apachemaint
from test_reader import KNOWN_BAD

from apachemaint import block, reader, vhosts
from apachemaint import patch as patching
from apachemaint.block import State
from apachemaint.errors import BlockError
from apachemaint.patch import Action, plan_text, unplan_text

LEGACY = ("<VirtualHost *:80>\n  ServerName a\n  DocumentRoot /srv/a/public\n  RewriteEngine On\n"
          "  RewriteCond %{REQUEST_URI} !\\.(css|gif|jpg|png)$\n"
          "  RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f\n"
          "  RewriteCond %{SCRIPT_FILENAME} !maintenance.html\n"
          "  RewriteRule ^.*$ /system/maintenance.html [L]\n"
          "  RewriteRule ^/old$ /new [R=301,L]\n"
          "  ErrorDocument 503 /system/maintenance.html\n"
          "  ProxyPass / http://127.0.0.1:3000/\n</VirtualHost>\n")
PROXY = "<VirtualHost *:80>\n    ServerName a\n    ProxyPass / http://127.0.0.1:3000/\n</VirtualHost>\n"


def parse(text: str | bytes, path: str = "t.conf") -> reader.ConfigFile:
    return reader.parse(text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text, path)


def patch_text(text: str, **given) -> str:
    return plan_text(parse(text), given)[0]


def unpatch_text(text: str) -> tuple[str, list]:
    return unplan_text(parse(text))


def blocks_in(text: str) -> list[block.Found]:
    cf = parse(text)
    return [f for vh in vhosts.find(cf) for f in block.find_managed(cf, vh.section)]


@pytest.mark.parametrize("path", fixture_params() + corpus_params())
def test_patch_then_unpatch_gives_back_every_byte(path):
    if path.name in KNOWN_BAD:
        pytest.skip("httpd rejects this file too")
    cf = reader.parse(path.read_bytes(), str(path))
    patched, _ = plan_text(cf, {"allow_paths": ("/up",)})
    back, _ = unplan_text(reader.parse(cf.to_bytes(patched), str(path)))
    if blocks_in(cf.text):  # patched before: what comes back is the file without its block
        alone, _ = unplan_text(cf)
        assert back == alone and not blocks_in(alone)
    else:
        assert cf.to_bytes(back) == cf.to_bytes()


@pytest.mark.parametrize("variant", ["as is", "crlf", "tabs", "two vhosts", "in ifmodule"])
def test_a_replaced_classic_recipe_comes_back_byte_for_byte(variant):
    text = {"as is": LEGACY, "crlf": LEGACY.replace("\n", "\r\n"), "tabs": LEGACY.replace("  ", "\t"),
            "two vhosts": PROXY + "\n" + LEGACY + LEGACY.replace("ServerName a", "ServerName b"),
            "in ifmodule": "<IfModule mod_rewrite.c>\n" + LEGACY.replace("\n", "\n  ").rstrip(" ")
                           + "</IfModule>\n"}[variant]
    patched, results = plan_text(parse(text), {})
    assert Action.LEGACY in {r.action for r in results}
    assert all(r.detail.endswith(", kept in the marker for apachemaint unpatch") for r in results
               if r.action is Action.LEGACY)
    assert "RewriteRule ^.*$ /system/maintenance.html [L]" not in patched
    back, results = unpatch_text(patched)
    assert back == text
    assert Action.LEGACY_BACK in {r.action for r in results}
    assert [r.detail for r in results if r.action is Action.LEGACY_BACK][0] == "5 line(s) back"


def test_the_record_survives_a_repatch_with_other_options_and_a_hand_edit():
    patched = patch_text(LEGACY)
    again = patch_text(patched, allow_paths=("/up",), retry_after=60)
    assert blocks_in(again)[0].marker.options.retry_after == 60
    edited = again.replace("[R=503,L]", "[R=503]")
    assert block.state_of(blocks_in(edited)[0]) is State.EDITED
    assert unpatch_text(patch_text(edited))[0] == LEGACY
    back, results = unpatch_text(edited)  # unpatched straight from the edited block
    assert back == LEGACY and results[0].detail == "5 line(s) back, it was edited by hand"


def test_a_block_with_the_record_is_current_and_one_without_it_stays_current():
    with_record = blocks_in(patch_text(LEGACY))[0]
    assert with_record.marker.legacy and block.state_of(with_record) is State.CURRENT
    without = blocks_in(patch_text(PROXY))[0]
    assert without.marker.legacy == "" and block.state_of(without) is State.CURRENT
    assert f" {block.LEGACY_KEY}=" not in patch_text(PROXY)


def test_a_patched_legacy_vhost_checks_clean_of_block_findings(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text(patch_text(LEGACY))
    out = apachemaint("check", "--select", "AM001,AM002,AM003,AM004", "--format", "json", conf)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_block_without_a_record_says_nothing_comes_back():
    back, results = unpatch_text(patch_text(PROXY))
    assert back == PROXY
    assert results[0].action is Action.REMOVED
    assert "nothing put back" in results[0].action.value


def test_duplicates_go_too_and_vhosts_without_a_block_are_named():
    once = patch_text(PROXY)
    cf = parse(once)
    first = blocks_in(once)[0]
    doubled = once[:first.end] + once[first.start:first.end] + once[first.end:]
    back, results = unpatch_text(doubled)
    assert back == PROXY and results[0].detail == "1 duplicate block(s) removed too"
    back, results = unpatch_text(PROXY)
    assert back == PROXY and results[0].action is Action.NO_BLOCK
    assert cf  # parsed fine


def test_a_record_that_cannot_be_read_is_an_error_with_its_line():
    patched = patch_text(LEGACY)
    broken = patched.replace(f"{block.LEGACY_KEY}=W", f"{block.LEGACY_KEY}=!W")
    with pytest.raises(BlockError, match="cannot be read") as err:
        unpatch_text(broken)
    assert err.value.line == 2


def _with_record(records) -> str:
    """LEGACY patched, its marker's record replaced by ``records`` (JSON-able, or raw bytes)."""
    import base64
    import json

    patched = patch_text(LEGACY)
    raw = records if isinstance(records, bytes) else json.dumps(records).encode()
    old = blocks_in(patched)[0].marker.legacy
    return patched.replace(f"{block.LEGACY_KEY}={old}", f"{block.LEGACY_KEY}={base64.b64encode(raw).decode()}")


HOSTILE = [[0, "</VirtualHost>\n"], [0, 'CustomLog "|/bin/sh -c \'id > /tmp/pwned\'" common\n'],
           [0, "<VirtualHost *:80>\n"]]


@pytest.mark.parametrize("records", [
    HOSTILE,
    [[0, "RewriteRule ^ - [L]\nCustomLog \"|/bin/sh\" common\n"]],  # two lines in one text
    [[0, "  ErrorDocument 404 /x\n"]], [[0, "RewriteEngine On\n"]], [[0, "# a comment\n"]],
    [[0, "<If true>\n"]], [[0, "RewriteRule ^ - [L]\0\n"]],
], ids=["section and piped log", "two directives", "errordocument 404", "engine", "comment", "if", "nul"])
def test_a_record_holding_more_than_the_recipe_is_refused_by_unpatch_and_patch(records):
    crafted = _with_record(records)
    with pytest.raises(BlockError, match="not a classic recipe") as err:
        unpatch_text(crafted)
    assert err.value.line == 2
    with pytest.raises(BlockError, match="not a classic recipe"):
        patch_text(crafted, retry_after=60)  # a re-render would carry the record into a new marker


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000, b'[[1e999, "RewriteRule ^ - [L]\\n"]]', b'[[1.5, "x\\n"]]',
    b'{"a": 1}', b"[]", b"[[0]]", b'[[0, 1]]', b'[[true, "RewriteRule ^ - [L]\\n"]]', b'["ab"]',
    b'[[99999999999999999999999, "RewriteRule ^ - [L]\\n"]]', b'[[-1, "RewriteRule ^ - [L]\\n"]]',
    b"\xff\xfe", b"null", b'"text"',
], ids=lambda r: repr(r[:24]))
def test_a_malformed_record_is_an_error_with_its_line_not_a_traceback(raw):
    with pytest.raises(BlockError) as err:
        unpatch_text(_with_record(raw))
    assert err.value.line == 2


def test_a_hostile_record_is_reported_by_check_and_refused_by_the_command(tmp_path):
    conf = _site(tmp_path, _with_record(HOSTILE))
    before = conf.read_bytes()
    out = apachemaint("check", "--select", "AM002", "--format", "json", conf)
    assert out.returncode == 1 and "AM002" in out.stdout and "not a classic recipe" in out.stdout
    out = apachemaint("unpatch", "--no-configtest", conf)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"{conf}:2: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert conf.read_bytes() == before


def test_a_vhost_cut_short_since_the_patch_is_refused_not_guessed():
    patched = patch_text(LEGACY)
    cut = "".join(ln for ln in patched.splitlines(True) if "ProxyPass" not in ln and "/old" not in ln)
    with pytest.raises(BlockError, match="cannot be put back"):
        unpatch_text(cut)


# --- the command ----------------------------------------------------------------------------

def _site(tmp_path: Path, text: str = LEGACY, name: str = "a.conf") -> Path:
    conf = tmp_path / name
    conf.write_text(text)
    return conf


def test_check_and_diff_write_nothing_and_tell_with_the_exit_status(tmp_path):
    conf = _site(tmp_path, patch_text(LEGACY))
    before = conf.read_bytes()
    out = apachemaint("unpatch", "--check", conf)
    assert out.returncode == 1 and f"{conf}: would change" in out.stderr
    out = apachemaint("unpatch", "--diff", conf)
    assert out.returncode == 0
    assert f"--- {conf}\n+++ {conf}\n" in out.stdout
    assert "+  RewriteRule ^.*$ /system/maintenance.html [L]\n" in out.stdout
    assert "-  # BEGIN apachemaint v2 " in out.stdout
    assert conf.read_bytes() == before
    out = apachemaint("unpatch", "--no-configtest", conf)
    assert out.returncode == 0, out.stderr
    assert "block removed; the classic Capistrano block it replaced put back (5 line(s) back)" in out.stdout
    assert "originals saved in " in out.stdout
    assert conf.read_text() == LEGACY
    out = apachemaint("unpatch", "--check", conf)
    assert out.returncode == 0 and out.stderr == ""
    assert "no managed block" in out.stdout


def test_the_command_round_trips_patch_and_is_undone_by_restore(tmp_path):
    conf = _site(tmp_path, PROXY)
    assert apachemaint("patch", "--no-configtest", conf).returncode == 0
    patched = conf.read_bytes()
    out = apachemaint("unpatch", "--no-configtest", conf)
    assert out.returncode == 0 and conf.read_text() == PROXY
    assert "nothing put back" in out.stdout
    assert apachemaint("restore").returncode == 0
    assert conf.read_bytes() == patched


def test_without_files_or_config_it_is_a_usage_error(tmp_path):
    out = apachemaint("unpatch")
    assert out.returncode == 2 and "--config MAIN" in out.stderr


def test_config_unpatches_every_vhost_file_of_the_server_in_one_run(tmp_path):
    tree = debian_tree(tmp_path)
    main = tree / "apache2.conf"
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file() and not p.is_symlink()}
    out = apachemaint("patch", "--no-configtest", "--config", main,
                      *sorted((tree / "sites-enabled").iterdir()))
    assert out.returncode == 0, out.stderr
    out = apachemaint("unpatch", "--no-configtest", "--config", main)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("originals saved in ") == 1
    assert {p: p.read_bytes() for p in before} == before


def test_config_refuses_a_named_file_the_server_does_not_include(tmp_path):
    tree = debian_tree(tmp_path)
    stray = _site(tmp_path, patch_text(PROXY), "stray.conf")
    before = stray.read_bytes()
    out = apachemaint("unpatch", "--no-configtest", "--config", tree / "apache2.conf", stray)
    assert out.returncode == 2
    assert out.stderr.startswith(f"{stray}: not included by {tree / 'apache2.conf'}")
    assert len(out.stderr.splitlines()) == 1 and stray.read_bytes() == before


def test_unpatch_shows_no_progress_when_stderr_is_piped(tmp_path):
    files = [_site(tmp_path, patch_text(PROXY), f"s{i}.conf") for i in range(40)]
    out = apachemaint("unpatch", "--no-configtest", *files)
    assert out.returncode == 0 and out.stderr == ""
    assert all(f.read_text() == PROXY for f in files)


def test_unpatch_progress_line_names_unpatching(capsys):
    from apachemaint.cli import _Progress

    p = _Progress("unpatching")
    p._start -= 1
    p._last -= 1
    p(3, 7)
    p.done()
    assert capsys.readouterr().err == "\runpatching 3/7 files\r\033[K"


# --- a real Apache: the unpatched vhost serves as it did, the page in place --------------------

@pytest.mark.apache
@pytest.mark.parametrize("name", ["proxy.conf", "legacy-capistrano.conf", "static.conf"])
def test_an_unpatched_vhost_serves_as_before_with_the_page_in_place(name, apache_factory, backend,
                                                                    served_tmp_path):
    from http_client import get

    docroot = served_tmp_path / "www"
    (docroot / "system").mkdir(parents=True)
    (docroot / "index.html").write_text("home\n")
    page = docroot / "system" / "maintenance.html"
    page.write_text("<!doctype html><title>Down</title>\n")
    page.chmod(0o644)
    conf = served_tmp_path / "sites" / name
    conf.parent.mkdir()
    shutil.copy(FIXTURES / "served" / name, conf)
    original = conf.read_bytes()
    defines = {"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)}
    host = {"proxy.conf": "proxy.test", "legacy-capistrano.conf": "legacy.test", "static.conf": "static.test"}[name]

    def answers() -> list[tuple]:
        apache = apache_factory([conf], defines=defines)
        try:
            out = []
            for path in ("/", "/index.html", "/orders/42"):
                r = get(apache.url(path), headers={"Host": host})
                out.append((r.status, r.body))
            return out
        finally:
            apache.stop()

    before = answers()
    patching.apply([patching.plan(conf, {})], configtest=False)
    assert {status for status, _ in answers()} == {503}
    patching.apply([patching.plan(conf, edit=unplan_text)], configtest=False)
    assert conf.read_bytes() == original
    after = answers()
    assert after == before
    if name != "legacy-capistrano.conf":  # the recipe answers 200 with the page, as it always did
        assert {status for status, _ in after} <= {200, 404} and 200 in {status for status, _ in after}


def test_a_batch_planned_in_two_processes_unpatches_every_file(tmp_path):
    from apachemaint import forked

    files = [_site(tmp_path, patch_text(LEGACY if i % 2 else PROXY), f"s{i}.conf")
             for i in range(forked.MIN_ITEMS + 2)]
    plans = patching.plan_all(files, edit=unplan_text)
    assert [p.new_text for p in plans] == [LEGACY if i % 2 else PROXY for i in range(len(files))]
    assert {r.action for p in plans for r in p.results} == {Action.REMOVED, Action.LEGACY_BACK}
