"""A window ended the classic way (the page removed by hand or by `cap deploy:web:enable`) leaves
apachemaint's state beside the page until apachemaint runs again.  When another tool then writes
a page of its own (`cap deploy:web:disable`), that page is the window: visitors and API clients
get its text, never the last window's armed copy or JSON twin, and the last window's bypass
tokens and secret URL are dead.  A real Apache in front of a counting backend."""
from __future__ import annotations

import json

import pytest
from run_cli import apachemaint
from test_bypass_fleet_http import COOKIE, TOKEN, Server

from apachemaint.block import RETRY_AFTER, STATE_DIR

pytestmark = pytest.mark.apache

THEIRS = b"<!doctype html><title>Down</title><p>cap deploy:web:disable was here</p>\n"


@pytest.fixture
def server(apache_factory, backend, served_tmp_path) -> Server:
    return Server(apache_factory, backend, served_tmp_path / "web", "127.0.0.1")


@pytest.mark.parametrize("langs", [None, "en,de"])
def test_another_tool_s_page_after_a_window_ended_by_hand_is_what_is_served(server, backend, own_state_dir,
                                                                             langs):
    down = ["down", "--docroot", server.docroot, "--reason", "OLD WINDOW", "--bypass-token", TOKEN]
    assert apachemaint(*down, *(["--langs", langs] if langs else []), state=own_state_dir).returncode == 0
    assert b"OLD WINDOW" in server.get("/").body
    assert server.get("/", cookie=f"{COOKIE}={TOKEN}").status == 200
    server.page.unlink()  # cap deploy:web:enable
    assert (server.page.parent / STATE_DIR / RETRY_AFTER).exists()  # apachemaint has not run since
    server.page.write_bytes(THEIRS)  # cap deploy:web:disable
    hits = len(backend.log)

    for accept_language in ("en", "de", None):
        headers = {"Accept-Language": accept_language} if accept_language else {}
        resp = server.get("/orders", headers=headers)
        assert (resp.status, resp.body) == (503, THEIRS), accept_language
    api = server.get("/api/orders", headers={"Accept": "application/json"})
    assert api.status == 503 and b"OLD WINDOW" not in api.body
    if api.headers.get("Content-Type", "").startswith("application/json"):
        json.loads(api.body)
    # The last window's token opens nothing now.
    assert server.get("/", cookie=f"{COOKIE}={TOKEN}").status == 503
    assert server.get(f"/.apachemaint/bypass/{TOKEN}").status == 503
    assert len(backend.log) == hits
