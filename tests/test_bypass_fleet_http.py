"""One bypass for a fleet (issue 16, item 4): `down --bypass-token TOKEN` (or
APACHEMAINT_BYPASS_TOKEN) opens the same token on every server, and the secret URL
`/.apachemaint/bypass/TOKEN` sets the bypass cookie through Apache itself and redirects to
`/`, only while that token's window is open.  Two real Apaches on their own loopback
addresses (APACHEMAINT_FLEET_ADDRESSES) in front of one counting backend."""
from __future__ import annotations

from pathlib import Path

import pytest
from corpus import FIXTURES
from fleet_hosts import ADDRESSES
from http_client import request
from run_cli import apachemaint

from apachemaint import patch as patching

pytestmark = pytest.mark.apache

TOKEN = "fleet-Token_0123456789abcdef"
COOKIE = "apachemaint_bypass"


class Server:
    """A patched proxy vhost on its own loopback address, with its own docroot."""

    def __init__(self, apache_factory, backend, root: Path, host: str, given: dict | None = None):
        self.docroot = root / "www"
        self.docroot.mkdir(parents=True)
        conf = self.conf = root / "proxy.conf"
        text = (FIXTURES / "served" / "proxy.conf").read_text()
        conf.write_text(text.replace("<VirtualHost 127.0.0.1:", f"<VirtualHost {host}:"))
        patching.apply([patching.plan(conf, given or {})], configtest=False)
        self.apache = apache_factory([conf], host=host, defines={"DOCROOT": str(self.docroot),
                                                                 "BACKEND_PORT": str(backend.port)})
        self.host = f"proxy.test:{self.apache.port}"  # as a browser sends it

    def get(self, path: str, cookie: str | None = None, headers: dict | None = None):
        headers = {"Host": self.host, **(headers or {})}
        if cookie:
            headers["Cookie"] = cookie
        return request("GET", self.apache.url(path), headers=headers)

    @property
    def page(self) -> Path:
        return self.docroot / "system" / "maintenance.html"


@pytest.fixture
def fleet(apache_factory, backend, served_tmp_path) -> list[Server]:
    return [Server(apache_factory, backend, served_tmp_path / f"web{n}", host)
            for n, host in enumerate(ADDRESSES[:2])]


def _cookie_from(resp) -> str:
    """The NAME=VALUE the server set, after checking how it was set."""
    [set_cookie] = resp.headers.get_all("Set-Cookie")
    parts = [p.strip() for p in set_cookie.split(";")]
    attrs = {p.split("=")[0].lower() for p in parts[1:]}
    # Over http no Secure, and so no HttpOnly either: httpd's CO= flag drops every attribute
    # after a false "secure" (the https rule sets both).
    assert {"path", "domain", "samesite"} <= attrs and "secure" not in attrs, set_cookie
    assert "path=/" in parts and "domain=proxy.test" in parts, set_cookie
    return parts[0]


def test_one_token_opens_every_server_through_the_secret_url(fleet, backend, own_state_dir):
    # One server is given the token on the command line, the other through the environment.
    first = apachemaint("down", "--docroot", fleet[0].docroot, "--bypass-token", TOKEN, state=own_state_dir)
    assert first.returncode == 0, first.stderr
    # A token the caller gave is not echoed into deploy logs.
    assert "/.apachemaint/bypass/<token>" in first.stdout and TOKEN not in first.stdout
    second = apachemaint("down", "--docroot", fleet[1].docroot, env={"APACHEMAINT_BYPASS_TOKEN": TOKEN},
                         state=own_state_dir)
    assert second.returncode == 0, second.stderr
    for server in fleet:
        assert server.get("/").status == 503
        opened = server.get(f"/.apachemaint/bypass/{TOKEN}")
        assert opened.status == 302 and opened.headers["Location"] == f"http://{server.host}/"
        # The 503's headers are the ErrorDocument's alone: a Retry-After would delay the redirect.
        assert "Retry-After" not in opened.headers and "no-store" not in opened.headers.get("Cache-Control", "")
        cookie = _cookie_from(opened)
        assert cookie == f"{COOKIE}={TOKEN}"
        hits = len(backend.log)
        passed = server.get("/", cookie=cookie)
        assert (passed.status, passed.body) == (200, b"backend:/")
        assert len(backend.log) == hits + 1
    hits = len(backend.log)
    # A wrong token, in either form, gets the page and no cookie.
    for server in fleet:
        for wrong in ("fleet-Token_0123456789abcdeX", "short", TOKEN + "/x", "x" * 129):
            resp = server.get(f"/.apachemaint/bypass/{wrong}")
            assert resp.status == 503 and not resp.headers.get_all("Set-Cookie"), wrong
            assert server.get("/", cookie=f"{COOKIE}={wrong}").status == 503
    assert len(backend.log) == hits

    # After `up` the token is worthless: the URL is the app's again, nothing sets the cookie,
    for server in fleet:
        assert apachemaint("up", "--docroot", server.docroot, state=own_state_dir).returncode == 0
    for server in fleet:
        resp = server.get(f"/.apachemaint/bypass/{TOKEN}")
        assert resp.status == 200 and not resp.headers.get_all("Set-Cookie")
    # and in the next window (opened without it) neither the URL nor the cookie lets anyone in.
    for server in fleet:
        assert apachemaint("down", "--docroot", server.docroot, state=own_state_dir).returncode == 0
    hits = len(backend.log)
    for server in fleet:
        resp = server.get(f"/.apachemaint/bypass/{TOKEN}")
        assert resp.status == 503 and not resp.headers.get_all("Set-Cookie")
        assert server.get("/", cookie=f"{COOKIE}={TOKEN}").status == 503
    assert len(backend.log) == hits


def test_a_token_handed_over_on_stdin_or_in_a_private_file_opens_every_server(fleet, backend, own_state_dir,
                                                                                  tmp_path):
    """`--bypass-token-file -|FILE`, as the gem and the collection pass it (out of argv)."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    first = apachemaint("down", "--docroot", fleet[0].docroot, "--bypass-token-file", "-", input=TOKEN + "\n",
                        state=own_state_dir)
    assert first.returncode == 0, first.stderr
    second = apachemaint("down", "--docroot", fleet[1].docroot, "--bypass-token-file", token_file,
                         state=own_state_dir)
    assert second.returncode == 0, second.stderr
    for server in fleet:
        hits = len(backend.log)
        assert server.get("/").status == 503 and len(backend.log) == hits
        cookie = _cookie_from(server.get(f"/.apachemaint/bypass/{TOKEN}"))
        assert cookie == f"{COOKIE}={TOKEN}"
        assert (server.get("/", cookie=cookie).body, len(backend.log)) == (b"backend:/", hits + 1)


def test_a_window_ended_by_hand_takes_its_token_with_it(fleet, backend, own_state_dir):
    server = fleet[0]
    assert apachemaint("down", "--docroot", server.docroot, "--bypass-token", TOKEN,
                       state=own_state_dir).returncode == 0
    assert server.get(f"/.apachemaint/bypass/{TOKEN}").status == 302
    server.page.unlink()  # the classic way: cap deploy:web:enable
    assert apachemaint("down", "--docroot", server.docroot, state=own_state_dir).returncode == 0
    hits = len(backend.log)
    assert server.get(f"/.apachemaint/bypass/{TOKEN}").status == 503
    assert server.get("/", cookie=f"{COOKIE}={TOKEN}").status == 503
    assert len(backend.log) == hits


@pytest.mark.parametrize("token", ["short", "x" * 129, "has space in it!!", "dots.are.not.allowed", "ä" * 20])
def test_a_bad_token_is_one_line_and_exit_2_with_nothing_written(token, served_tmp_path, own_state_dir):
    docroot = served_tmp_path / "www"
    docroot.mkdir()
    for given in (["--bypass-token", token], []):
        env = {} if given else {"APACHEMAINT_BYPASS_TOKEN": token}
        result = apachemaint("down", "--docroot", docroot, *given, env=env, state=own_state_dir)
        assert result.returncode == 2, result
        assert result.stderr.count("\n") == 1 and "bypass-token" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert list(docroot.iterdir()) == []


def test_an_empty_environment_token_is_no_token(served_tmp_path, own_state_dir):
    docroot = served_tmp_path / "www"
    docroot.mkdir()
    result = apachemaint("down", "--docroot", docroot, env={"APACHEMAINT_BYPASS_TOKEN": ""}, state=own_state_dir)
    assert result.returncode == 0 and "bypass" not in result.stdout, result


def test_the_secret_url_path_is_set_at_patch_time(apache_factory, backend, served_tmp_path, own_state_dir):
    server = Server(apache_factory, backend, served_tmp_path / "web", ADDRESSES[0],
                    given={"bypass_url": "/let-the-team-in"})
    # --vhost: the block's own options (the URL it answers) come from the vhost.
    result = apachemaint("down", "--vhost", server.conf, "--bypass-token", TOKEN, state=own_state_dir,
                         env={"DOCROOT": str(server.docroot)})
    assert result.returncode == 0 and "/let-the-team-in/<token>" in result.stdout, result
    assert server.get(f"/.apachemaint/bypass/{TOKEN}").status == 503
    opened = server.get(f"/let-the-team-in/{TOKEN}")
    assert opened.status == 302 and _cookie_from(opened) == f"{COOKIE}={TOKEN}"
    assert server.get("/", cookie=f"{COOKIE}={TOKEN}").status == 200


def test_over_https_the_cookie_is_secure_and_httponly(apache_factory, backend, served_tmp_path, own_state_dir):
    """A `new --tls` vhost: the secret URL answers over https with a Secure, HttpOnly cookie."""
    from test_new import make_cert, require_modules
    from test_new_http import generate_to, https_get, public_dir

    from apachemaint.httpd import DEFAULT_MODULES, free_port
    from apachemaint.sitevalues import SiteOptions

    require_modules(["ssl"])
    tls = make_cert(served_tmp_path, "secure.test")
    docroot = public_dir(served_tmp_path / "secure" / "public")
    http_port, https_port = free_port(), free_port()
    conf, modules = generate_to(served_tmp_path, "proxy", SiteOptions(
        server_name="secure.test", docroot=str(docroot), backend=f"http://127.0.0.1:{backend.port}",
        tls=True, **tls, http_port=http_port, https_port=https_port))
    apache_factory([conf], port=http_port, modules=DEFAULT_MODULES + modules,
                   extra_config=f"Listen 127.0.0.1:{https_port} https")
    assert apachemaint("down", "--vhost", conf, "--bypass-token", TOKEN, state=own_state_dir).returncode == 0
    opened = https_get(https_port, "secure.test", f"/.apachemaint/bypass/{TOKEN}", tls["cert"])
    assert opened.status == 302 and opened.headers["Location"] == "https://secure.test/"  # the Host sent has no port
    [set_cookie] = opened.headers.get_all("Set-Cookie")
    parts = [p.strip().lower() for p in set_cookie.split(";")]
    assert parts[0] == f"{COOKIE}={TOKEN}".lower() and {"secure", "httponly", "samesite=lax", "path=/",
                                                         "domain=secure.test"} <= set(parts), set_cookie
    assert https_get(https_port, "secure.test", "/", tls["cert"]).status == 503
