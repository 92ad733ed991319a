"""The program's fast path for a plain `check FILE...`: the same core as the Typer command,
the same bytes out and the same exit status, without importing Typer; anything else goes to
the Typer command line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import FIXTURES

from apachemaint.entry import plain_check

RULES = sorted((FIXTURES / "rules").glob("*.vhost"))
FULL_CLI = "import sys; from apachemaint.cli import entry; sys.argv[0] = 'apachemaint'; entry()"


def _run(how: str, args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    head = ["-m", "apachemaint"] if how == "fast" else ["-c", FULL_CLI]
    return subprocess.run([sys.executable, *head, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.mark.parametrize(("args", "plain"), [
    (["check", "a.conf"], True),
    (["check", "a.conf", "b.conf"], True),
    (["check"], False),  # the whole server
    (["check", "-"], False),  # stdin
    (["check", "--format", "json", "a.conf"], False),
    (["check", "a.conf", "-o", "out"], False),
    (["check", "--", "a.conf"], False),
    (["check", ""], False),
    (["patch", "a.conf"], False),
    (["--version"], False),
])
def test_only_check_and_file_names_take_the_fast_path(args, plain):
    assert plain_check(args) is plain


@pytest.mark.parametrize("env", [{}, {"GITHUB_ACTIONS": "true"}], ids=["text", "github"])
def test_the_fast_path_gives_what_the_typer_command_gives(tmp_path, env):
    broken = tmp_path / "broken.conf"
    broken.write_text("<VirtualHost *:80>\n    ServerName b.test\n")
    skipped = tmp_path / "skipped.conf"
    skipped.write_text((FIXTURES / "rules" / "AM001.vhost").read_text())
    # A settings file in the working folder: ignore and exclude resolve alike on both ways in.
    (tmp_path / "pyproject.toml").write_text('[tool.apachemaint]\nignore = ["AM011"]\nexclude = ["skipped.conf"]\n')
    for files in ([str(p) for p in RULES], [str(broken), str(skipped), str(RULES[0])], [str(tmp_path / "none.conf")]):
        fast, full = _run("fast", ["check", *files], tmp_path, env), _run("full", ["check", *files], tmp_path, env)
        assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
        assert fast.stdout or fast.stderr


def test_the_fast_path_imports_neither_typer_nor_jinja2(tmp_path):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "apachemaint", "check",
                           str(FIXTURES / "rules" / "AM001.vhost")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and "AM001" in done.stdout
    imported = {ln.rsplit("|", 1)[-1].strip().split(".")[0] for ln in done.stderr.splitlines() if "|" in ln}
    assert "apachemaint" in imported and not imported & {"typer", "click", "jinja2", "rich"}


def test_anything_else_goes_to_the_typer_command_line(tmp_path):
    done = _run("fast", ["check", "--format", "json", str(FIXTURES / "rules" / "AM001.vhost")], tmp_path)
    assert done.returncode == 1 and '"findings"' in done.stdout
    assert _run("fast", ["--version"], tmp_path).stdout.startswith("apachemaint ")
