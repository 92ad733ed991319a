"""Generated vhosts on a real Apache: each kind serves its app, and while the page file exists
every request gets the 503 page with nothing reaching the app.

`down`/`up` are another command's job; here the page file is written (0644) and removed
directly, which is the whole contract: maintenance is on exactly while it exists.
"""
from __future__ import annotations

import http.client
import ssl
import subprocess
from pathlib import Path

import pytest
from http_client import get
from test_new import make_cert, require_modules

from apachemaint import generate
from apachemaint.block import BlockOptions
from apachemaint.httpd import DEFAULT_MODULES, free_port
from apachemaint.sitevalues import SiteOptions

pytestmark = pytest.mark.apache

PAGE = b"<!doctype html><title>Down for maintenance</title><h1>Back soon</h1>\n"
BLOCK = BlockOptions(allow_paths=("/up",))


def public_dir(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "static").mkdir()
    for d in (root, root / "assets", root / "static"):
        d.chmod(0o755)
    (root / "assets" / "app.css").write_text("body{}\n")
    (root / "static" / "app.css").write_text("body{}\n")
    (root / "index.html").write_text("home\n")
    return root


def page_on(docroot: Path) -> None:
    (docroot / "system").mkdir(mode=0o755, exist_ok=True)
    page = docroot / "system" / "maintenance.html"
    page.write_bytes(PAGE)
    page.chmod(0o644)


def page_off(docroot: Path) -> None:
    (docroot / "system" / "maintenance.html").unlink()


def generate_to(tmp: Path, kind: str, opts: SiteOptions) -> tuple[Path, tuple[str, ...]]:
    site = generate.build(kind, opts)
    conf = tmp / f"{kind}.conf"
    generate.write(site, conf)
    return conf, site.modules


def assert_maintenance(fetch, hits, paths=("/", "/orders/42", "/index.html", "/system/maintenance.html")) -> None:
    before = hits()
    for path in paths:
        resp = fetch(path)
        assert (resp.status, resp.body) == (503, PAGE), path
        assert resp.headers["Retry-After"] == "300" and resp.headers.get_all("Cache-Control") == ["no-store"]
    assert hits() == before, "no request may reach the app while the page exists"


def test_proxy_in_front_of_a_backend(apache_factory, backend, served_tmp_path):
    docroot = public_dir(served_tmp_path / "shop" / "public")
    port = free_port()
    conf, modules = generate_to(served_tmp_path, "proxy", SiteOptions(
        server_name="shop.test", docroot=str(docroot), backend=f"http://127.0.0.1:{backend.port}",
        http_port=port, block=BLOCK))
    apache = apache_factory([conf], port=port, modules=DEFAULT_MODULES + modules)

    def fetch(path):
        return get(apache.url(path), headers={"Host": "shop.test"})

    assert fetch("/orders/42").text == "backend:/orders/42"
    seen = len(backend.log)
    assert fetch("/assets/app.css").text == "body{}\n" and len(backend.log) == seen  # from disk
    page_on(docroot)
    assert_maintenance(fetch, lambda: len(backend.log))
    assert fetch("/assets/app.css").status == 200
    assert fetch("/up").text == "backend:/up"
    page_off(docroot)
    resp = fetch("/orders/42")
    assert resp.text == "backend:/orders/42" and "Retry-After" not in resp.headers


class _HTTPS(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but speaks TLS for ``sni``, checking the certificate against it."""

    def __init__(self, sni: str, *args, **kwargs):
        self.sni = sni
        super().__init__(*args, **kwargs)

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.sni)


def https_get(port: int, host: str, path: str, cafile: str):
    from http_client import Response

    conn = _HTTPS(host, "127.0.0.1", port, timeout=10, context=ssl.create_default_context(cafile=cafile))
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def test_tls_with_redirect_over_https(apache_factory, backend, served_tmp_path):
    require_modules(["ssl"])
    tls = make_cert(served_tmp_path, "secure.test")
    docroot = public_dir(served_tmp_path / "secure" / "public")
    http_port, https_port = free_port(), free_port()
    conf, modules = generate_to(served_tmp_path, "proxy", SiteOptions(
        server_name="secure.test", docroot=str(docroot), backend=f"http://127.0.0.1:{backend.port}",
        tls=True, **tls, redirect_http=True, hsts=True, http_port=http_port, https_port=https_port, block=BLOCK))
    apache = apache_factory([conf], port=http_port, modules=DEFAULT_MODULES + modules,
                            extra_config=f"Listen 127.0.0.1:{https_port} https")

    def fetch(path):
        return https_get(https_port, "secure.test", path, tls["cert"])

    resp = fetch("/orders/42")
    assert resp.text == "backend:/orders/42"
    assert resp.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert backend.log[-1][0].headers["X-Forwarded-Proto"] == "https"
    plain = get(apache.url("/orders/42"), headers={"Host": "secure.test"})
    assert plain.status == 301
    assert plain.headers["Location"] == f"https://secure.test:{https_port}/orders/42"
    page_on(docroot)
    assert_maintenance(fetch, lambda: len(backend.log))
    assert get(apache.url("/x"), headers={"Host": "secure.test"}).status == 301  # the redirect has no block
    page_off(docroot)
    assert fetch("/orders/42").status == 200


WSGI_APP = '''\
import os
import sys

HITS = os.path.join(os.path.dirname(__file__), "hits.log")


def application(environ, start_response):
    with open(HITS, "a") as log:
        log.write(environ["PATH_INFO"] + "\\n")
    body = ("wsgi:%s prefix=%s" % (environ["PATH_INFO"], sys.prefix)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def _counting_app(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    (folder / name).write_text(source)
    hits = folder / "hits.log"
    hits.touch()
    hits.chmod(0o666)  # the app runs as Apache's user (or Passenger's)
    return hits


def _count(hits: Path) -> int:
    return len(hits.read_text().splitlines())


def test_wsgi_runs_a_wsgi_app_in_its_venv(apache_factory, served_tmp_path):
    require_modules(["wsgi"])
    app = served_tmp_path / "api" / "current"
    hits = _counting_app(app, "wsgi.py", WSGI_APP)
    docroot = public_dir(app / "public")
    # Debian's mod_wsgi embeds the system python3; a venv for it must be made by that one.
    venv = served_tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    port = free_port()
    conf, modules = generate_to(served_tmp_path, "wsgi", SiteOptions(
        server_name="api.test", wsgi_script=str(app / "wsgi.py"), venv=str(venv), http_port=port, block=BLOCK))
    apache = apache_factory([conf], port=port, modules=DEFAULT_MODULES + modules)

    def fetch(path):
        return get(apache.url(path), headers={"Host": "api.test"})

    assert fetch("/orders/42").text == f"wsgi:/orders/42 prefix={venv}"
    seen = _count(hits)
    assert fetch("/static/app.css").text == "body{}\n" and _count(hits) == seen  # Alias, not the app
    page_on(docroot)
    assert_maintenance(fetch, lambda: _count(hits))
    assert fetch("/up").text.startswith("wsgi:/up")
    page_off(docroot)
    assert fetch("/orders/42").status == 200


RACK_APP = '''\
hits = File.join(__dir__, "hits.log")
run lambda { |env|
  File.open(hits, "a") { |f| f.puts env["PATH_INFO"] }
  [200, { "Content-Type" => "text/plain" }, ["rack:#{env["PATH_INFO"]}"]]
}
'''
PASSENGER_CONF = Path("/etc/apache2/mods-available/passenger.conf")


def test_passenger_runs_a_rack_app(apache_factory, served_tmp_path):
    """Debian's Passenger and ruby-rack need no network to start a config.ru app."""
    require_modules(["passenger"])
    if not PASSENGER_CONF.is_file():
        pytest.skip(f"{PASSENGER_CONF} (PassengerRoot) not found")
    app = served_tmp_path / "shop"
    hits = _counting_app(app, "config.ru", RACK_APP)
    docroot = public_dir(app / "public")
    port = free_port()
    conf, modules = generate_to(served_tmp_path, "passenger", SiteOptions(
        server_name="rack.test", app_root=str(app), http_port=port, block=BLOCK))
    server_level = PASSENGER_CONF.read_text() + "\nPassengerDisableAnonymousTelemetry on\n"
    apache = apache_factory([conf], port=port, modules=DEFAULT_MODULES + modules, extra_config=server_level)

    def fetch(path):
        return get(apache.url(path), headers={"Host": "rack.test"})

    assert fetch("/orders/42").text == "rack:/orders/42"
    assert fetch("/assets/app.css").text == "body{}\n"
    page_on(docroot)
    assert_maintenance(fetch, lambda: _count(hits))
    assert fetch("/up").text == "rack:/up"
    page_off(docroot)
    assert fetch("/orders/42").text == "rack:/orders/42"


def test_static_site(apache_factory, served_tmp_path):
    docroot = public_dir(served_tmp_path / "docs")
    port = free_port()
    conf, modules = generate_to(served_tmp_path, "static", SiteOptions(
        server_name="docs.test", docroot=str(docroot), http_port=port))
    apache = apache_factory([conf], port=port, modules=DEFAULT_MODULES + modules)

    def fetch(path):
        return get(apache.url(path), headers={"Host": "docs.test"})

    assert fetch("/").text == "home\n"
    page_on(docroot)
    assert_maintenance(fetch, lambda: 0, paths=("/", "/index.html", "/missing"))
    assert fetch("/assets/app.css").status == 200
    page_off(docroot)
    assert fetch("/").text == "home\n"


def test_listen_is_where_the_vhost_answers(apache_factory, served_tmp_path):
    # Addresses of this suite's own (the brief's 127.0.40.x), so suites side by side do not meet.
    docroot = public_dir(served_tmp_path / "docs")
    port, other = free_port("127.0.40.2"), free_port()
    conf, modules = generate_to(served_tmp_path, "static", SiteOptions(
        server_name="docs.test", docroot=str(docroot), listen=f"127.0.40.2:{port}"))
    apache = apache_factory([conf], port=port, host="127.0.40.2", modules=DEFAULT_MODULES + modules,
                            extra_config=f"Listen 127.0.0.1:{other}")
    assert get(apache.url("/"), headers={"Host": "docs.test"}).text == "home\n"
    # The same server on another address: the vhost is not there, the main server answers.
    elsewhere = get(f"http://127.0.0.1:{other}/", headers={"Host": "docs.test"})
    assert elsewhere.text != "home\n"


@pytest.mark.parametrize("www, serving, redirecting", [
    ("redirect-to-www", "www.docs.test", "docs.test"),
    ("redirect-to-bare", "docs.test", "www.docs.test"),
])
def test_www_redirects_and_down_takes_the_serving_host_down(www, serving, redirecting, apache_factory,
                                                            served_tmp_path):
    from run_cli import apachemaint

    docroot = public_dir(served_tmp_path / "docs")
    port = free_port("127.0.40.3")
    conf, modules = generate_to(served_tmp_path, "static", SiteOptions(
        server_name="docs.test", docroot=str(docroot), listen=f"127.0.40.3:{port}", www=www))
    apache = apache_factory([conf], port=port, host="127.0.40.3", modules=DEFAULT_MODULES + modules)

    def fetch(host, path="/index.html"):
        return get(apache.url(path), headers={"Host": f"{host}:{port}"})

    assert fetch(serving).text == "home\n"
    moved = fetch(redirecting, "/a/b?c=1")
    assert (moved.status, moved.headers["Location"]) == (301, f"http://{serving}:{port}/a/b?c=1")
    state = served_tmp_path / "state"
    result = apachemaint("down", "--docroot", docroot, state=state)
    assert result.returncode == 0, result.stderr
    assert fetch(serving).status == 503
    assert fetch(redirecting).status == 301  # the redirect vhost has no block and needs none
    assert apachemaint("up", "--docroot", docroot, state=state).returncode == 0
    assert fetch(serving).text == "home\n"


def _ws_accept(key: str) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


def _ws_frame(payload: bytes, mask: bool) -> bytes:
    import os

    head = bytes([0x81, (0x80 if mask else 0) | len(payload)])  # one text frame, < 126 bytes
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _ws_read(sock) -> bytes:
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed mid-frame")
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    key = exactly(4) if second & 0x80 else None
    payload = exactly(length)
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if key else payload


def _ws_echo_backend():
    """A websocket echo server of the stdlib: answers the upgrade, then echoes frames with the path."""
    import socketserver
    import threading

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                data += chunk
            lines = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
            path = lines[0].split()[1]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            if headers.get("upgrade", "").lower() != "websocket":
                self.request.sendall(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n")
                return
            self.request.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                                  f"{_ws_accept(headers['sec-websocket-key'])}\r\n\r\n").encode())
            try:
                while True:
                    self.request.sendall(_ws_frame(f"{path}:".encode() + _ws_read(self.request), mask=False))
            except (ConnectionError, OSError, ValueError):
                return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ws_open(port: int, path: str = "/cable", host: str = "chat.test", timeout: float = 10):
    """A websocket handshake through Apache: the socket and the response head; a 101 must
    carry the accept key of the handshake's own key."""
    import base64
    import os
    import socket

    key = base64.b64encode(os.urandom(16)).decode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    if head.startswith(b"HTTP/1.1 101"):
        assert f"Sec-WebSocket-Accept: {_ws_accept(key)}".lower().encode() in head.lower()
    return sock, head


def test_the_websocket_route_proxies_a_websocket(apache_factory, served_tmp_path):
    server = _ws_echo_backend()
    try:
        docroot = public_dir(served_tmp_path / "chat" / "public")
        port = free_port()
        conf, modules = generate_to(served_tmp_path, "proxy", SiteOptions(
            server_name="chat.test", docroot=str(docroot), backend=f"http://127.0.0.1:{server.server_address[1]}",
            websocket=("/cable",), http_port=port))
        apache = apache_factory([conf], port=port, modules=DEFAULT_MODULES + modules)
        sock, head = ws_open(port)
        with sock:
            assert head.startswith(b"HTTP/1.1 101"), head
            for text in (b"hello", b"again"):
                sock.sendall(_ws_frame(text, mask=True))
                assert _ws_read(sock) == b"/cable:" + text
        # Without the route the catch-all ProxyPass does not upgrade: the backend sees plain HTTP.
        plain = get(apache.url("/other"), headers={"Host": "chat.test", "Upgrade": "websocket",
                                                   "Connection": "Upgrade"})
        assert plain.status == 426
    finally:
        server.shutdown()
        server.server_close()
