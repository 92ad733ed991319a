"""Run the real command line in a child process, as a user or a deploy script would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def apachemaint(*args: str | Path, state: Path | None = None, env: dict | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    if state is not None:
        full_env["APACHEMAINT_STATE_DIR"] = str(state)
    return subprocess.run([sys.executable, "-m", "apachemaint", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=120)
