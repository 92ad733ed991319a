"""Websockets across a maintenance window (issue 19), on a real Apache in front of a stdlib
websocket echo backend: a websocket opened before `down` is one request that was decided
"up", so it keeps working through the window; one opened after `down` gets the 503 page
and never reaches the backend; after `up` new ones work again.  Every socket has a timeout."""
from __future__ import annotations

import base64
import os
import socket

import pytest
from http_client import get
from test_new_http import PAGE, _ws_echo_backend, _ws_frame, _ws_read, generate_to, public_dir, ws_open

from apachemaint import maintenance
from apachemaint.httpd import DEFAULT_MODULES, free_port
from apachemaint.sitevalues import SiteOptions

pytestmark = pytest.mark.apache


def _echo(sock: socket.socket, text: bytes) -> bytes:
    sock.sendall(_ws_frame(text, mask=True))
    return _ws_read(sock)


def test_an_open_websocket_survives_down_and_a_new_one_gets_the_page(apache_factory, served_tmp_path):
    server = _ws_echo_backend()
    hits: list[str] = []
    base = server.RequestHandlerClass

    class Counting(base):  # every connection Apache opens to the backend
        def handle(self):
            hits.append("connection")
            super().handle()

    server.RequestHandlerClass = Counting
    before = None
    try:
        docroot = public_dir(served_tmp_path / "chat" / "public")
        port = free_port()
        conf, modules = generate_to(served_tmp_path, "proxy", SiteOptions(
            server_name="chat.test", docroot=str(docroot), backend=f"http://127.0.0.1:{server.server_address[1]}",
            websocket=("/cable",), http_port=port))
        apache_factory([conf], port=port, modules=DEFAULT_MODULES + modules)

        before, head = ws_open(port)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert _echo(before, b"hello") == b"/cable:hello"

        targets = maintenance.from_docroot(docroot)
        maintenance.down(targets, reason="an upgrade")
        assert len(hits) == 1
        # The websocket that was open keeps working, both ways, through the window.
        for text in (b"during", b"still"):
            assert _echo(before, text) == b"/cable:" + text
        # A new one gets the 503 page, with nothing reaching the backend.
        after, head = ws_open(port)
        with after:
            assert head.startswith(b"HTTP/1.1 503"), head
        upgrade = get(f"http://127.0.0.1:{port}/cable", headers={
            "Host": "chat.test", "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": "13"})
        assert upgrade.status == 503 and b"an upgrade" in upgrade.body and upgrade.headers["Retry-After"]
        assert upgrade.body != PAGE  # the page `down` wrote, not the test's own
        assert len(hits) == 1, "a websocket opened during maintenance reached the backend"
        assert _echo(before, b"last") == b"/cable:last"

        maintenance.up(targets, grace=0)
        again, head = ws_open(port)
        with again:
            assert head.startswith(b"HTTP/1.1 101"), head
            assert _echo(again, b"back") == b"/cable:back"
        assert _echo(before, b"through") == b"/cable:through"
    finally:
        if before is not None:
            before.close()
        server.shutdown()
        server.server_close()
