"""Every host really goes down: the vhost shapes operators write, each patched, put down with
`down --vhost` on a real Apache in front of counting backends (HTTP and FastCGI), and asked on
every name, address and path it answers.  Down, each answer is the 503 with the page byte for
byte and nothing reaches a backend; `up` gives back the answers from before; `check --config`
and `verify` agree.  A shape the block cannot cover must be reported by `check` and refused by
`down --vhost` (see the tests at the end).  One Apache per group of shapes."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from fcgi_responder import FcgiResponder
from run_cli import apachemaint
from test_new import make_cert, require_modules

from apachemaint import coverage, location
from apachemaint import patch as patching
from apachemaint.httpd import DEFAULT_MODULES, free_port

pytestmark = pytest.mark.apache


@dataclass(frozen=True)
class Shape:
    """One vhost file; ``conf`` is formatted with ``root`` (the shape's own folder) and ``docroot``.
    ``asks`` are (scheme, address, host, path): scheme http, https or h2; address a key of the
    group's ports.  ``reaches``: what answers them while up (backend, fcgi or static)."""
    name: str
    conf: str
    asks: tuple[tuple[str, str, str, str], ...]
    reaches: str = "backend"
    headers: tuple[tuple[str, str], ...] = ()  # sent while up, and down too (besides without)


def asks(host: str, *paths: str, scheme: str = "http", address: str = "main") -> tuple:
    return tuple((scheme, address, host, p) for p in paths)


@pytest.fixture
def fcgi():
    with FcgiResponder() as responder:
        yield responder


def _ask(scheme: str, address: str, host: str, path: str, headers: tuple = ()) -> tuple[int, bytes]:
    if scheme == "h2":
        port = address.rpartition(":")[2]
        done = subprocess.run(["curl", "-sk", "--http2", "--resolve", f"{host}:{port}:127.0.0.1",
                               "-w", "\n%{http_version} %{http_code}", f"https://{host}:{port}{path}"],
                              capture_output=True, timeout=20, check=True)
        body, _, tail = done.stdout.rpartition(b"\n")
        version, code = tail.decode().split()
        assert version == "2", f"{host}{path} was not answered over HTTP/2 ({version})"
        return int(code), body
    status, _headers, body = coverage.fetch(address, host, scheme == "https", dict(headers), path=path)
    return status, body


@dataclass
class Served:
    """A group of shapes, patched and served: the Apache, each shape's file, and every ask."""
    apache: object
    confs: dict[str, Path]
    asks: list[tuple[Shape, tuple]]


def serve(apache_factory, backend, fcgi, root: Path, shapes: list[Shape], *, server: str = "",
          modules: tuple[str, ...] = (), ports: tuple[str, ...] = (), listen: str = "") -> Served:
    """Each shape's docroot and file under ``root``, patched (a vhost without a DocumentRoot
    gets its page under root/pages), served by one Apache with ``server`` at server level and
    ``ports`` (NAME_PORT defines; the address keys NAME and v6NAME) listened on by ``listen``."""
    require_modules(modules)
    extra = {name: free_port() for name in ports}
    defines = {"BACKEND_PORT": str(backend.port), "FCGI_PORT": str(fcgi.port),
               **{f"{name.upper()}_PORT": str(port) for name, port in extra.items()}}
    confs = {}
    for shape in shapes:
        docroot = root / shape.name / "www"
        docroot.mkdir(parents=True)
        (docroot / "index.html").write_text(f"static:{shape.name}\n")
        (docroot / "index.php").write_text("<?php // answered by the FastCGI responder\n")
        conf = root / f"{shape.name}.conf"
        conf.write_text(shape.conf.format(root=root / shape.name, docroot=docroot))
        confs[shape.name] = conf
    patching.apply([patching.plan(c, pages=str(root / "pages")) for c in confs.values()], configtest=False)
    apache = apache_factory(list(confs.values()), defines=defines, modules=DEFAULT_MODULES + modules,
                            extra_config=listen.format(**extra) + "\n" + server)
    where = {"main": f"127.0.0.1:{apache.port}", **{n: f"127.0.0.1:{p}" for n, p in extra.items()},
             **{f"v6{n}": f"[::1]:{p}" for n, p in extra.items()}}
    asked = [(shape, (scheme, where[address], host, path, shape.headers))
             for shape in shapes for scheme, address, host, path in shape.asks]
    return Served(apache, confs, asked)


def up_answers(served: Served, backend, fcgi, problems: list[str]) -> dict:
    """Every ask while up; a problem where it did not reach what the shape says answers it
    (a probe that never reaches the app proves nothing about maintenance)."""
    before = {}
    for shape, ask in served.asks:
        seen = len(backend.log), len(fcgi.log)
        status, body = before[ask] = _ask(*ask)
        reached = {"backend": len(backend.log) > seen[0], "fcgi": len(fcgi.log) > seen[1],
                   "static": body.startswith(b"static:")}[shape.reaches]
        if status == 503 or not reached:
            problems.append(f"{shape.name} {ask}: up, {shape.reaches} not reached: {status} {body[:60]!r}")
    return before


def sweep(apache_factory, backend, fcgi, root: Path, shapes: list[Shape], **serving) -> list[str]:
    """Patch, serve, ask up, check, verify, down, ask down, up, ask again: every mismatch is
    collected, so one run names every shape that stays up."""
    served = serve(apache_factory, backend, fcgi, root, shapes, **serving)
    problems: list[str] = []
    before = up_answers(served, backend, fcgi, problems)
    checked = apachemaint("check", "--config", served.apache.conf, *served.confs.values())
    if checked.returncode != 0:
        problems.append(f"check --config: {checked.stdout.strip()}")
    verified = apachemaint("verify", "--config", served.apache.conf)
    if verified.returncode != 0:
        problems.append(f"verify: {verified.stdout.strip()} {verified.stderr.strip()}")
    pages = {}
    for name, conf in served.confs.items():
        done = apachemaint("down", "--vhost", conf, "--reason", "sweep")
        if done.returncode != 0:
            problems.append(f"{name}: down --vhost refused: {done.stderr.strip()}")
        pages[name] = location.from_vhost(conf)[0].page.read_bytes() if done.returncode == 0 else None
    backend.clear_log()
    fcgi.log.clear()
    for shape, ask in served.asks:
        for sent in {ask, ask[:4]}:  # with the shape's headers, and without (no login)
            status, body = _ask(*sent)
            if (status, body) != (503, pages[shape.name]):
                problems.append(f"{shape.name} {sent}: down, answered {status} {body[:80]!r}")
    if backend.log or fcgi.log:
        problems.append(f"down, reached the backends: {[r.path for r, _ in backend.log]} "
                        f"{[e.get('SCRIPT_FILENAME') for e in fcgi.log]}")
    for name, conf in served.confs.items():
        if pages[name] is not None:
            assert apachemaint("up", "--vhost", conf).returncode == 0
    problems += [f"{ask}: after up, not as before" for _, ask in served.asks if _ask(*ask) != before[ask]]
    return problems


SITE = """<VirtualHost {address}>
    ServerName {name}.test
    ServerAlias www.{name}.test
    DocumentRoot {{docroot}}
    <Directory {{docroot}}>
        Require all granted
    </Directory>
{body}</VirtualHost>
"""


def site(name: str, body: str = "", address: str = "127.0.0.1:${{APACHEMAINT_PORT}}") -> str:
    return SITE.format(name=name, body=body, address=address)


PROXY = "    ProxyPass / http://127.0.0.1:${{BACKEND_PORT}}/\n"


# --- PHP-FPM shapes ------------------------------------------------------------------------

FCGI = [
    Shape("fpm-filesmatch", site("fpm-filesmatch", """\
    DirectoryIndex index.php
    <FilesMatch "\\.php$">
        SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}"
    </FilesMatch>
"""), asks("fpm-filesmatch.test", "/", "/index.php") + asks("www.fpm-filesmatch.test", "/index.php"), "fcgi"),
    Shape("fpm-proxypassmatch", site("fpm-proxypassmatch", """\
    DirectoryIndex index.php
    ProxyPassMatch ^/(.*\\.php(/.*)?)$ fcgi://127.0.0.1:${{FCGI_PORT}}{docroot}/$1
"""), asks("fpm-proxypassmatch.test", "/index.php", "/app.php/orders"), "fcgi"),
    Shape("fpm-location", site("fpm-location", """\
    <Location />
        SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}"
    </Location>
"""), asks("fpm-location.test", "/", "/orders/7"), "fcgi"),
    Shape("fpm-in-directory", site("fpm-in-directory", """\
    <Directory {docroot}>
        <FilesMatch "\\.php$">
            SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}/"
        </FilesMatch>
    </Directory>
"""), asks("fpm-in-directory.test", "/index.php"), "fcgi"),
]


def test_php_fpm_shapes_go_down(apache_factory, backend, fcgi, served_tmp_path):
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, FCGI, modules=("proxy_fcgi",)) == []


# --- addresses and names -------------------------------------------------------------------

ADDRESSES = [
    Shape("ipv6", site("ipv6", PROXY, address="[::1]:${{V6_PORT}}"), asks("ipv6.test", "/", "/x", address="v6v6")),
    Shape("two-ports", site("two-ports", PROXY, address="127.0.0.1:${{APACHEMAINT_PORT}} 127.0.0.1:${{SECOND_PORT}}"),
          asks("two-ports.test", "/", "/a") + asks("www.two-ports.test", "/b", address="second")),
    Shape("default", """<VirtualHost _default_:${{DEFAULT_PORT}}>
    DocumentRoot {docroot}
    <Directory {docroot}>
        Require all granted
    </Directory>
    ProxyPass / http://127.0.0.1:${{BACKEND_PORT}}/
</VirtualHost>
""", asks("anything.test", "/", "/x", address="default") + asks("127.0.0.1", "/y", address="default")),
    # A Define in the vhost's own file: httpd reads it first, and so does `down`.
    Shape("defined-root", """Define APP_ROOT {root}
<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>
    ServerName defined-root.test
    DocumentRoot ${{APP_ROOT}}/www
    <Directory ${{APP_ROOT}}/www>
        Require all granted
    </Directory>
</VirtualHost>
""", asks("defined-root.test", "/"), "static"),
    Shape("ifdefine", """<IfDefine !NO_APP>
<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>
    ServerName ifdefine.test
    DocumentRoot {docroot}
    <Directory {docroot}>
        Require all granted
    </Directory>
    <IfDefine !NO_PROXY>
        ProxyPass / http://127.0.0.1:${{BACKEND_PORT}}/
    </IfDefine>
</VirtualHost>
</IfDefine>
""", asks("ifdefine.test", "/", "/z")),
]


def test_addresses_and_names_go_down(apache_factory, backend, fcgi, served_tmp_path):
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, ADDRESSES, ports=("v6", "second", "default"),
                 listen="Listen [::1]:{v6}\nListen 127.0.0.1:{second}\nListen 127.0.0.1:{default}") == []


MACRO = Shape("macro", """<Macro App $name>
<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>
    ServerName $name.test
    DocumentRoot {docroot}
    <Directory {docroot}>
        Require all granted
    </Directory>
    ProxyPass / http://127.0.0.1:${{BACKEND_PORT}}/
</VirtualHost>
</Macro>
Use App macro-a
Use App macro-b
UndefMacro App
""", asks("macro-a.test", "/", "/x") + asks("macro-b.test", "/y"))


def test_a_vhost_from_a_macro_goes_down_on_every_use(apache_factory, backend, fcgi, served_tmp_path):
    problems = sweep(apache_factory, backend, fcgi, served_tmp_path, [MACRO], modules=("macro",))
    # check warns, by design (AM014: it sees the template, not each Use); verify asks each Use's name.
    assert len(problems) == 1 and "AM014" in problems[0], problems


# --- TLS with SNI, HTTP/2 ------------------------------------------------------------------

def tls_site(name: str, cert: dict, body: str = "") -> str:
    return site(name, f"""\
    SSLEngine on
    SSLCertificateFile {cert['cert']}
    SSLCertificateKeyFile {cert['key']}
{body}""", address="127.0.0.1:${{TLS_PORT}}")


def test_tls_vhosts_by_sni_and_http2_go_down(apache_factory, backend, fcgi, served_tmp_path):
    certs = {}
    for name in ("sni-a", "sni-b"):
        folder = served_tmp_path / "certs" / name
        folder.mkdir(parents=True)
        certs[name] = make_cert(folder, f"{name}.test")
    shapes = [
        Shape("sni-a", tls_site("sni-a", certs["sni-a"], PROXY),
              asks("sni-a.test", "/", "/orders", scheme="https", address="tls")
              + asks("www.sni-a.test", "/", scheme="https", address="tls")),
        Shape("sni-b", tls_site("sni-b", certs["sni-b"], "    Protocols h2 http/1.1\n" + PROXY),
              asks("sni-b.test", "/", "/api", scheme="https", address="tls")
              + asks("sni-b.test", "/", "/h2", scheme="h2", address="tls")),
    ]
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, shapes, modules=("socache_shmcb", "ssl", "http2"),
                 ports=("tls",), listen="Listen 127.0.0.1:{tls} https") == []


# --- server-level rewrites ------------------------------------------------------------------

SERVER_PROXY = """RewriteEngine On
RewriteRule ^/legacy/(.*)$ http://127.0.0.1:${BACKEND_PORT}/old/$1 [P]
"""


def inherit(option: str | None) -> str:
    return f"    RewriteEngine On\n    RewriteOptions {option}\n{PROXY}" if option else PROXY


@pytest.mark.parametrize("vhost_option, server_option", [("Inherit", ""), (None, "InheritDown")])
def test_server_rules_inherited_after_the_block_go_down(vhost_option, server_option, apache_factory, backend,
                                                        fcgi, served_tmp_path):
    body = inherit(vhost_option)
    shapes = [Shape("inherit", site("inherit", body), asks("inherit.test", "/", "/legacy/a"))]
    server = SERVER_PROXY + (f"RewriteOptions {server_option}\n" if server_option else "")
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, shapes, server=server) == []


@pytest.mark.parametrize("vhost_option, server_option", [("InheritBefore", ""), (None, "InheritDownBefore")])
def test_server_rules_inherited_before_the_block_are_reported(vhost_option, server_option, apache_factory,
                                                              backend, fcgi, served_tmp_path):
    """The server's [P] runs before the block: that path stays up, so `check` says so (AM019)
    and `down --vhost` refuses a vhost that asks for it; forced with --docroot, the backend
    is reached, which is why."""
    body = inherit(vhost_option)
    shapes = [Shape("before", site("before", body), asks("before.test", "/legacy/a"))]
    server = SERVER_PROXY + (f"RewriteOptions {server_option}\n" if server_option else "")
    served = serve(apache_factory, backend, fcgi, served_tmp_path, shapes, server=server)
    conf = served.confs["before"]
    checked = apachemaint("check", "--config", served.apache.conf, conf)
    assert checked.returncode == 1 and "AM019" in checked.stdout and "[P]" in checked.stdout, checked.stdout
    if vhost_option:
        lone = apachemaint("check", conf)
        assert lone.returncode == 1 and "AM019" in lone.stdout, lone.stdout
        refused = apachemaint("down", "--vhost", conf)
        assert refused.returncode == 2 and "AM019" in refused.stderr and f"{conf}:" in refused.stderr
        assert refused.stderr.count("\n") == 1 and not (served_tmp_path / "before" / "www" / "system").exists()
    assert apachemaint("down", "--docroot", served_tmp_path / "before" / "www").returncode == 0
    backend.clear_log()
    _scheme, address, host, path, _ = served.asks[0][1]
    assert _ask("http", address, host, path)[1] == b"backend:/old/a" and len(backend.log) == 1


# --- access control: hardening and basic auth -----------------------------------------------

HARDENING = """<DirectoryMatch "/\\.">
    Require all denied
</DirectoryMatch>
<FilesMatch "^\\.">
    Require all denied
</FilesMatch>
"""
# The grant an operator can add today (AM011 says so): it holds only for the 503's error page.
GRANT = """    <If "%{{ENV:REDIRECT_STATUS}} == '503'">
        Require all granted
    </If>
"""
AUTH_MODULES = ("authn_core", "authn_file", "authz_user", "auth_basic")
LOGIN = (("Authorization", "Basic YWRtaW46czNjcmV0"),)  # admin:s3cret


def auth_site(root: Path, extra: str = "") -> str:
    users = root / "htpasswd"
    hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret"], capture_output=True, text=True, check=True)
    users.write_text(f"admin:{hashed.stdout.strip()}\n")
    users.chmod(0o644)
    return site("auth", f"""\
    <Location />
        AuthType Basic
        AuthName "staff"
        AuthUserFile {users}
        Require valid-user
    </Location>
""" + PROXY + extra)


COMPAT_HARDENING = """<DirectoryMatch "/\\.">
    Order deny,allow
    Deny from all
</DirectoryMatch>
"""


def test_compat_hardening_that_hides_the_page_is_reported(apache_factory, backend, fcgi, served_tmp_path):
    """A 2.2-style hardening (mod_access_compat's Deny in <DirectoryMatch "/\\.">) denies the
    armed copy in .apachemaint/, and no Require undoes it, the block's own grant included: the
    visitor gets the 503 with Apache's bare body, `check` reports AM011 and `verify` says NOT
    covered."""
    shapes = [Shape("hardened", site("hardened", PROXY), asks("hardened.test", "/"))]
    served = serve(apache_factory, backend, fcgi, served_tmp_path, shapes, server=COMPAT_HARDENING,
                   modules=("access_compat",))
    checked = apachemaint("check", "--config", served.apache.conf, served.confs["hardened"])
    assert checked.returncode == 1 and "AM011" in checked.stdout, checked.stdout
    assert 'mod_access_compat in <DirectoryMatch "/\\.">' in checked.stdout, checked.stdout
    verified = apachemaint("verify", "--config", served.apache.conf)
    assert verified.returncode == 1 and verified.stdout.count("NOT covered (503 without the page") == 2, \
        verified.stdout


def test_with_the_error_page_granted_hardened_and_login_sites_go_down(apache_factory, backend, fcgi,
                                                                     served_tmp_path):
    shapes = [Shape("hardened", site("hardened", PROXY + GRANT), asks("hardened.test", "/", "/x")),
              Shape("auth", auth_site(served_tmp_path, GRANT), asks("auth.test", "/", "/x"), headers=LOGIN)]
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, shapes, server=HARDENING,
                 modules=AUTH_MODULES) == []


def test_hardened_and_login_sites_go_down_without_a_grant_of_their_own(apache_factory, backend, fcgi,
                                                                       served_tmp_path):
    shapes = [Shape("hardened", site("hardened", PROXY), asks("hardened.test", "/", "/x")),
              Shape("auth", auth_site(served_tmp_path), asks("auth.test", "/", "/x"), headers=LOGIN)]
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, shapes, server=HARDENING,
                 modules=AUTH_MODULES) == []
