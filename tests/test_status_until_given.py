"""`status --json` keeps `until` as asked (`until_given`) beside the end worked out from it: a deploy
tool re-running `down --until 30m` tells its own window from a new one by it."""
from __future__ import annotations

import json

from run_cli import apachemaint


def test_status_json_gives_until_as_asked_beside_the_end(tmp_path):
    docroot, state = tmp_path / "www", tmp_path / "state"
    docroot.mkdir()
    done = apachemaint("down", "--docroot", docroot, "--reason", "r", "--until", " 30m ", state=state)
    assert done.returncode == 0, done.stderr
    status = json.loads(apachemaint("status", "--docroot", docroot, "--json", state=state).stdout)
    assert status["until_given"] == "30m" and status["until"] != "30m" and status["until"].endswith("UTC")

    apachemaint("down", "--docroot", docroot, "--reason", "r", state=state)
    assert json.loads(apachemaint("status", "--docroot", docroot, "--json", state=state).stdout)["until_given"] is None
