"""Hostile input from a caller who may be running apachemaint through sudo: one clear line,
exit 2, nothing run, nothing written."""
from __future__ import annotations

from pathlib import Path

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
