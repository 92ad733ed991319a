"""Hostile input from a caller who may be running apachemaint through sudo: one clear line,
exit 2, nothing run, nothing written."""
from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from run_cli import apachemaint

ESCAPE = "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ cycler.__init__.__globals__.os.system('touch PWNED') }}"


def test_a_page_template_cannot_reach_os(tmp_path: Path):
    template = tmp_path / "page.html.j2"
    template.write_text(ESCAPE)
    out = tmp_path / "page.html"
    result = apachemaint("render", "--template", template, "-o", out, cwd=tmp_path)
    assert result.returncode == 2
    assert "template does not render" in result.stderr and "unsafe" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "PWNED").exists() and not out.exists()


def test_a_vhost_template_cannot_reach_os(tmp_path: Path):
    run = "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}"
    (tmp_path / "evil.conf.j2").write_text("{{ server_name }} " + run + "\n")
    result = apachemaint("new", "evil", "--templates", tmp_path, "--server-name", "a.example.com",
                         "--no-configtest", cwd=tmp_path)
    assert result.returncode == 2 and "unsafe" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_until_far_beyond_the_calendar_is_a_clear_error(tmp_path: Path):
    result = apachemaint("render", "--until", "999999999d", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "--until '999999999d': too far in the future"


def test_a_fifo_or_device_as_template_or_config_is_refused_without_hanging(tmp_path: Path):
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for source in (fifo, Path("/dev/zero")):
        result = apachemaint("render", "--template", source, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (2, f"{source}: cannot read template: not a regular file\n")
        result = apachemaint("patch", "--no-configtest", source, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (
            2, f"{source}: is not a regular file (a FIFO, device or socket); not read\n")


def test_include_of_a_device_names_the_right_reason():
    from apachemaint.server import _include_targets

    assert _include_targets("/dev/zero", Path("/")) == "Could not open configuration file /dev/zero: not a regular file"


NOT_UTF8 = os.fsdecode(b"db \xff\xfe upgrade")  # bytes as argv and the environment can carry them


def test_reason_and_until_that_are_not_utf8_are_clear_errors_and_write_nothing(tmp_path: Path):
    docroot = tmp_path / "www"
    docroot.mkdir()
    for args, env, option in ((("--reason", NOT_UTF8), {}, "--reason"),
                              ((), {"REASON": NOT_UTF8}, "--reason"),
                              (("--until", NOT_UTF8), {}, "--until"),
                              ((), {"UNTIL": NOT_UTF8}, "--until")):
        for command in (("down", "--docroot", docroot), ("render",)):
            result = apachemaint(*command, *args, env=env, cwd=tmp_path)
            assert (result.returncode, result.stderr) == (2, f"{option}: not valid UTF-8 text\n"), command
    assert list(docroot.iterdir()) == []


def test_retry_after_is_capped_at_a_year_and_says_so(tmp_path: Path):
    docroot = tmp_path / "www"
    docroot.mkdir()
    result = apachemaint("down", "--docroot", docroot, "--until", "800000h", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(Retry-After 31536000, capped at a year, sent as " in result.stdout
    # The end is a time: clients get it as a date, a year from `down` at most.
    sent = parsedate_to_datetime((docroot / "system/.apachemaint/retry-after").read_text())
    assert timedelta(days=364) < sent - datetime.now(timezone.utc) <= timedelta(days=365)
    assert apachemaint("up", "--docroot", docroot, cwd=tmp_path).returncode == 0


def _nested(depth: int, docroot: Path) -> str:
    return ("<IfModule mod_ssl.c>\n" * (depth - 1) + "<VirtualHost *:80>\nServerName a.example.com\n"
            f"DocumentRoot {docroot}\n</VirtualHost>\n" + "</IfModule>\n" * (depth - 1))


def test_sections_nested_beyond_the_limit_are_a_clear_error_and_patch_writes_nothing(tmp_path: Path):
    from apachemaint.reader import MAX_NESTING

    deep = tmp_path / "deep.conf"
    deep.write_text(_nested(MAX_NESTING + 50, tmp_path))
    result = apachemaint("check", deep, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"sections nested more than {MAX_NESTING} deep" in result.stdout
    # At the limit the file reads, but the block's own <If> would pass it: refused, untouched.
    edge = tmp_path / "edge.conf"
    edge.write_text(before := _nested(MAX_NESTING, tmp_path))
    assert apachemaint("check", edge, cwd=tmp_path).returncode == 1  # AM001: readable, unpatched
    result = apachemaint("patch", "--no-configtest", edge, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == (f"{edge}:{MAX_NESTING}: <VirtualHost *:80> is nested too deep for the block's "
                             f"sections (apachemaint reads {MAX_NESTING} levels)\n")
    assert edge.read_text() == before
    # Two levels less: patched, and what patch wrote reads back.
    ok = tmp_path / "ok.conf"
    ok.write_text(_nested(MAX_NESTING - 2, tmp_path))
    assert apachemaint("patch", "--no-configtest", ok, cwd=tmp_path).returncode == 0
    assert "AM000" not in apachemaint("check", ok, cwd=tmp_path).stdout


def _httpd_include_verdict(apache: str, tmp_path: Path, directive: str) -> str:
    """What httpd says of the Include line alone: its error, or "" when it read past it
    (the next complaint, no MPM loaded, comes after every Include is read)."""
    conf = tmp_path / "httpd-include.conf"
    conf.write_text(f"ServerRoot {tmp_path}\n{directive}\n")
    out = subprocess.run([apache, "-t", "-f", str(conf)], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "APACHE_RUN_DIR": str(tmp_path)})
    m = re.search(r"Syntax error on line 2 of [^:]+: (.*)", out.stderr)
    return m.group(1).strip() if m else ""


def test_an_include_with_wildcard_folders_is_walked_as_httpd_walks_it(tmp_path: Path):
    """httpd walks a wildcard part by part, only into folders, and stops at the first folder
    with no match; globbing the whole pattern instead read the whole disk for
    ``Include /*/*/*/*.conf`` (13.8 s where httpd fails in 0.01 s) and read files httpd never reads."""
    from conftest import require_apache

    from apachemaint.server import _include_targets

    apache = require_apache()
    root = tmp_path / "conf"
    (root / "a-empty").mkdir(parents=True)
    (root / "b-site/x").mkdir(parents=True)
    (root / "b-site/x/site.conf").write_text("# a\n")
    (root / "c-link").symlink_to("b-site")  # httpd takes no link for a folder part
    pattern = f"{root}/*/*/*.conf"
    want = f"No matches for the wildcard '*' in '{root}/a-empty', failing"
    assert _include_targets(pattern, tmp_path) == f"Include/IncludeOptional: {want}"
    assert _httpd_include_verdict(apache, tmp_path, f"Include {pattern}").endswith(want)
    # IncludeOptional passes over the empty folder and over the link, as httpd does.
    assert _include_targets(pattern, tmp_path, optional=True) == [f"{root}/b-site/x/site.conf"]
    assert _httpd_include_verdict(apache, tmp_path, f"IncludeOptional {pattern}") == ""
    (root / "a-empty/y").mkdir()
    (root / "a-empty/y/first.conf").write_text("# b\n")
    assert _include_targets(pattern, tmp_path) == [f"{root}/a-empty/y/first.conf", f"{root}/b-site/x/site.conf"]
    assert _httpd_include_verdict(apache, tmp_path, f"Include {pattern}") == ""


def test_a_vhost_turned_into_a_link_between_plan_and_write_is_not_written_through(tmp_path: Path):
    from apachemaint import patch
    from apachemaint.errors import UnsafeWrite

    vhost, other = tmp_path / "site.conf", tmp_path / "other.conf"
    vhost.write_text(text := "<VirtualHost *:80>\nServerName a.example.com\nDocumentRoot /srv/a\n</VirtualHost>\n")
    other.write_text(text)
    plans = patch.plan_all([vhost])
    vhost.unlink()
    vhost.symlink_to(other)
    with pytest.raises(UnsafeWrite, match="changed since apachemaint read it; nothing written"):
        patch.apply(plans, configtest=False)
    assert other.read_text() == text and vhost.is_symlink()


# --- a state.json its docroot's owner rewrote: `status` reports it, `down`/`up` go on ---------

_WRONG = [None, True, 7, 1.5, "x", [], ["x"], {}, {"a": 1}, "2026-13-45T00:00:00+00:00",
          "2026-01-01T00:00:00", "9999-12-31T23:59:59+00:00", "\x1b[2J"]
_FIELDS = ["since", "reason", "until", "until_given", "until_iso", "by", "retry_after", "langs", "page_id",
           "window"]


def _downed(tmp_path: Path) -> tuple[Path, Path]:
    docroot, state = tmp_path / "www", tmp_path / "state"
    docroot.mkdir()
    done = apachemaint("down", "--docroot", docroot, "--reason", "r", "--until", "30m", "--bypass", state=state)
    assert done.returncode == 0, done.stderr
    return docroot, docroot / "system" / ".apachemaint" / "state.json"


def test_every_field_of_state_json_with_a_wrong_type_is_reported_not_a_traceback(tmp_path: Path, monkeypatch):
    from apachemaint import maintenance

    docroot, state_json = _downed(tmp_path)
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(tmp_path / "state"))
    now = datetime.now(timezone.utc)
    shapes = [(key, value) for key in _FIELDS for value in _WRONG] + [(None, v) for v in ([], "x", 3, None)]
    for key, value in shapes:
        good = json.loads(state_json.read_text())  # this window's, page_id included
        state_json.write_text(json.dumps({**good, key: value} if key else value))
        targets = maintenance.from_docroot(docroot)
        (seen,) = maintenance.status(targets)
        shown = seen.as_dict(now)  # what `status` prints: no field may crash it
        assert shown["maintenance"] is True
        if key is None or type(value) in (bool, float, dict) or (key == "until_iso" and value == "x"):
            assert "state.json: " in shown["state_problem"] and seen.record is None, (key, value)
        maintenance.down(targets, reason="again", until="30m")  # reads the old record for its window
        assert json.loads(state_json.read_text())["reason"] == "again"
    state_json.write_text("[" * 100_000)
    assert "not JSON" in maintenance.status(maintenance.from_docroot(docroot))[0].problem


def test_status_of_a_state_json_with_a_bad_until_is_one_line_of_report(tmp_path: Path):
    docroot, state_json = _downed(tmp_path)
    state_json.write_text(json.dumps({**json.loads(state_json.read_text()), "until_iso": "tomorrow"}))
    for args in ((), ("--json",)):
        out = apachemaint("status", "--docroot", docroot, *args, state=tmp_path / "state")
        assert out.returncode == 3 and "Traceback" not in out.stderr, out.stderr
        assert "until_iso is not an ISO date and time (ignored)" in out.stdout
    assert apachemaint("up", "--docroot", docroot, state=tmp_path / "state").returncode == 0
