"""Run the real command line in a child process, as a user or a deploy script would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def apachemaint(*args: str | Path, state: Path | None = None, env: dict | None = None,
                cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    if state is not None:
        full_env["APACHEMAINT_STATE_DIR"] = str(state)
    return subprocess.run([sys.executable, "-m", "apachemaint", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=120, input=input)


def cli_runner():
    """Typer's CliRunner with stderr apart from stdout, on every click apachemaint runs with: click
    8.2+ (Python >= 3.10) always keeps them apart; 8.1 (the newest on 3.9) mixes them unless told
    not to (`mix_stderr`, gone in 8.2), and then reads stderr without flushing it first (only
    stdout), so its stderr here writes through."""
    import contextlib

    from typer.testing import CliRunner

    class Click81Runner(CliRunner):
        @contextlib.contextmanager
        def isolation(self, *args, **kwargs):
            with super().isolation(*args, **kwargs) as streams:
                sys.stderr.reconfigure(write_through=True)
                yield streams

    try:
        return Click81Runner(mix_stderr=False)
    except TypeError:
        return CliRunner()
