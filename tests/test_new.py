"""`apachemaint new`: what it generates is what `patch` would have made of it, passes `check`
and `apache2 -t`, and nothing a user types can break out of a directive."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from corpus import FIXTURES, debian_tree
from run_cli import apachemaint

from apachemaint import block, generate, location, reader, sitevalues
from apachemaint import patch as patching
from apachemaint.block import BlockOptions, State
from apachemaint.check import check_files
from apachemaint.errors import InvalidOption, UnsafeWrite
from apachemaint.findings import Severity
from apachemaint.sitevalues import SiteOptions, variables
from apachemaint.vhosts import find

TEMPLATES = FIXTURES / "new"
SHOP = dict(server_name="shop.example.com", docroot="/srv/shop/current/public", backend="http://127.0.0.1:3000")
TLS_FILES = dict(cert="/etc/ssl/test/cert.pem", key="/etc/ssl/test/key.pem")

# The kinds and the option combinations that matter; every one is rendered, patched,
# checked and (with Apache) config-tested.
CASES = {
    "proxy": ("proxy", SiteOptions(**SHOP, block=BlockOptions(allow_paths=("/up",)))),
    "proxy-tls-redirect": ("proxy", SiteOptions(
        **SHOP, aliases=("www.shop.example.com", "*.shop.example.org"), tls=True, **TLS_FILES,
        redirect_http=True, hsts=True, static_paths=("/assets", "/packs"),
        block=BlockOptions(allow_paths=("/up", "/healthz"), allow_ips=("192.0.2.0/24", "2001:db8::/32"),
                           retry_after=900, assets=("pdf",)))),
    "proxy-unix-socket": ("proxy", SiteOptions(server_name="shop.example.com", docroot="/srv/shop/public",
                                               backend="unix:/run/puma/shop.sock")),
    "proxy-https-backend": ("proxy", SiteOptions(server_name="shop.example.com", docroot="/srv/shop/public",
                                                 backend="https://[::1]:8443/app/")),
    "proxy-shared-page": ("proxy", SiteOptions(**SHOP, block=BlockOptions(
        page="/srv/shop/shared/system/maintenance.html", bypass_cookie="team_pass"))),
    "static": ("static", SiteOptions(server_name="docs.example.com", docroot="/srv/docs/current")),
    "static-tls": ("static", SiteOptions(server_name="docs.example.com", docroot="/srv/docs/current",
                                         tls=True, **TLS_FILES, https_port=8443)),
    "passenger": ("passenger", SiteOptions(server_name="shop.example.com", app_root="/srv/shop/current")),
    "passenger-tls": ("passenger", SiteOptions(server_name="shop.example.com", app_root="/srv/shop/current",
                                               tls=True, **TLS_FILES, redirect_http=True)),
    "wsgi": ("wsgi", SiteOptions(server_name="api.example.com", wsgi_script="/srv/api/current/wsgi.py",
                                 venv="/srv/api/venv")),
    "wsgi-tls": ("wsgi", SiteOptions(server_name="api.example.com", wsgi_script="/srv/api/current/app.wsgi",
                                     docroot="/srv/api/static-root", static_paths=("/static", "/media"),
                                     tls=True, **TLS_FILES, redirect_http=True)),
}

# Every option of issue 19 on every kind it applies to: plain (--listen, --http2, the headers,
# --www one way) and TLS (--letsencrypt, --www the other way, with the :80 redirect).
_KIND_BASE = {
    "static": dict(server_name="docs.example.com", docroot="/srv/docs/current"),
    "proxy": dict(SHOP),
    "passenger": dict(server_name="shop.example.com", app_root="/srv/shop/current"),
    "wsgi": dict(server_name="api.example.com", wsgi_script="/srv/api/current/wsgi.py", venv="/srv/api/venv"),
}
for _kind, _base in _KIND_BASE.items():
    CASES[f"{_kind}-listen-h2-headers-www"] = (_kind, SiteOptions(
        **_base, listen="127.0.0.2:8080", http2=True, security_headers=True, www="redirect-to-bare"))
    CASES[f"{_kind}-letsencrypt-www"] = (_kind, SiteOptions(
        **_base, tls=True, letsencrypt=True, hsts=True, redirect_http=True, http2=True,
        security_headers=True, www="redirect-to-www", listen="[::1]:8443"))
CASES["proxy-websocket"] = ("proxy", SiteOptions(**SHOP, websocket=("/cable", "/ws/live")))
CASES["proxy-websocket-unix"] = ("proxy", SiteOptions(server_name="shop.example.com", docroot="/srv/shop/public",
                                                      backend="unix:/run/puma/shop.sock", websocket=("/cable",)))


def _block_given(o: BlockOptions) -> dict:
    return {"page": o.page, "assets": o.assets, "allow_paths": o.allow_paths, "allow_ips": o.allow_ips,
            "bypass_cookie": o.bypass_cookie, "retry_after": o.retry_after}


_BLOCK = re.compile(r"^ *# BEGIN apachemaint.*?# END apachemaint[^\n]*\n", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_block_is_byte_for_byte_what_patch_inserts(name, tmp_path):
    kind, opts = CASES[name]
    text = generate.render(kind, opts).text
    # A DocumentRoot inside a release (/srv/shop/current/public) keeps its page under shared/.
    docroot = variables(opts)["docroot"]
    want = opts.block.merged(page=location.for_docroot(docroot, opts.block.page))
    if "/current" in docroot and opts.block.page == BlockOptions().page:
        assert want.page == docroot.replace("/current", "/shared") + "/system/maintenance.html"
    assert text.count(block.render(want, "    ", "    ")) == 1
    conf = tmp_path / "site.conf"
    conf.write_text(text)
    # Patching the generated file is a no-op: every serving vhost carries the current block.
    plan = patching.plan(conf)
    assert not plan.changed
    assert {r.action for r in plan.results} <= {patching.Action.CURRENT, patching.Action.NOT_APPLICABLE}
    cf = reader.read(conf)
    for vh in find(cf):
        for found in block.find_managed(cf, vh.section):
            assert block.state_of(found) is State.CURRENT
    # And patch, given the same options, puts exactly those bytes into the vhost without them.
    bare = tmp_path / "bare.conf"
    bare.write_text(_BLOCK.sub("", text))
    page = None if opts.block.page == BlockOptions().page else opts.block.page
    assert patching.plan(bare, {**_block_given(opts.block), "page": page}).new_text == text


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_finds_nothing_to_report(name, tmp_path):
    kind, opts = CASES[name]
    conf = tmp_path / "site.conf"
    conf.write_text(generate.render(kind, opts).text)
    findings = check_files([conf])
    assert all(f.severity == Severity.INFO for f in findings), findings
    # Only the redirect vhosts are reported, as not applicable.
    assert len(findings) == (1 if opts.redirect_http else 0) + (1 if opts.www else 0)
    assert all(f.code == "AM010" for f in findings)


def test_the_block_comes_first_and_the_redirect_vhost_carries_none():
    text = generate.render(*CASES["proxy-tls-redirect"]).text
    redirect, serving = re.findall(r"<VirtualHost [^>]+>\n(.*?)</VirtualHost>", text, re.DOTALL)
    assert "apachemaint" not in redirect
    assert "Redirect permanent / https://shop.example.com/" in redirect
    assert serving.startswith("    # BEGIN apachemaint")
    assert "<VirtualHost *:80>" in text and "<VirtualHost *:443>" in text
    assert "ProxyPass /assets !\n    ProxyPass /packs !\n    ProxyPass / http://127.0.0.1:3000/\n" in text
    assert 'RequestHeader set X-Forwarded-Proto "https"' in text
    assert "Strict-Transport-Security" in text and "+TLSv1.3" in text


def test_listen_places_the_serving_vhost_and_the_redirect_on_that_address():
    text = generate.render("proxy", SiteOptions(**SHOP, listen="[0::1]:8443", tls=True, **TLS_FILES,
                                                redirect_http=True)).text
    assert "<VirtualHost [::1]:8443>" in text and "<VirtualHost [::1]:80>" in text
    assert "Redirect permanent / https://shop.example.com:8443/" in text
    assert "<VirtualHost 127.0.0.2:8080>" in generate.render("proxy", SiteOptions(**SHOP, listen="127.0.0.2:8080")).text


def test_www_names_the_serving_host_and_the_one_that_redirects():
    to_bare = generate.render("proxy", SiteOptions(**SHOP, www="redirect-to-bare")).text
    serving, redirect = re.findall(r"<VirtualHost [^>]+>\n(.*?)</VirtualHost>", to_bare, re.DOTALL)
    assert "ServerName shop.example.com\n" in serving and "ProxyPass / " in serving
    assert redirect == "    ServerName www.shop.example.com\n    Redirect permanent / http://shop.example.com/\n"
    to_www = generate.render("proxy", SiteOptions(**SHOP, www="redirect-to-www", tls=True, **TLS_FILES,
                                                  redirect_http=True)).text
    http, serving, redirect = re.findall(r"<VirtualHost [^>]+>\n(.*?)</VirtualHost>", to_www, re.DOTALL)
    assert "ServerName www.shop.example.com\n" in serving and "# BEGIN apachemaint" in serving
    assert "ServerName shop.example.com\n" in redirect
    assert "Redirect permanent / https://www.shop.example.com/" in redirect
    assert "ServerAlias shop.example.com\n" in http and "https://www.shop.example.com/" in http


def test_letsencrypt_http2_headers_and_websocket_lines():
    text = generate.render("static", SiteOptions(server_name="docs.example.com", docroot="/srv/docs", tls=True,
                                                 letsencrypt=True, http2=True, security_headers=True)).text
    assert "SSLCertificateFile /etc/letsencrypt/live/docs.example.com/fullchain.pem\n" in text
    assert "SSLCertificateKeyFile /etc/letsencrypt/live/docs.example.com/privkey.pem\n" in text
    assert "<IfModule http2_module>\n        Protocols h2 http/1.1\n    </IfModule>" in text
    assert 'X-Content-Type-Options "nosniff"' in text and "Referrer-Policy" in text
    plain = generate.render("static", SiteOptions(server_name="docs.example.com", docroot="/srv/docs", http2=True))
    assert "Protocols h2c http/1.1" in plain.text and "http2" not in plain.modules
    assert "X-Frame-Options" not in plain.text
    ws = generate.render(*CASES["proxy-websocket-unix"]).text
    # Before the catch-all ProxyPass /, which would otherwise take the path first.
    assert ("ProxyPass /cable unix:/run/puma/shop.sock|http://localhost/cable upgrade=websocket\n"
            "    ProxyPass / unix:") in ws
    with pytest.raises(InvalidOption, match="does not use --websocket"):
        generate.render("static", SiteOptions(server_name="a.test", docroot="/srv/a", websocket=("/ws",)))


def test_hsts_is_opt_in():
    opts = SiteOptions(**SHOP, tls=True, **TLS_FILES)
    assert "Strict-Transport-Security" not in generate.render("proxy", opts).text


def test_defaults_derived_from_the_app():
    text = generate.render(*CASES["passenger"]).text
    assert "DocumentRoot /srv/shop/current/public\n" in text and "PassengerAppRoot /srv/shop/current\n" in text
    text = generate.render(*CASES["wsgi"]).text
    assert "DocumentRoot /srv/api/current/public\n" in text
    assert "Alias /static /srv/api/current/public/static\n" in text
    assert "python-home=/srv/api/venv python-path=/srv/api/current " in text
    assert "WSGIScriptAlias / /srv/api/current/wsgi.py\n" in text


def test_unix_socket_and_https_backends():
    text = generate.render(*CASES["proxy-unix-socket"]).text
    assert "ProxyPass / unix:/run/puma/shop.sock|http://localhost/\n" in text
    site = generate.render(*CASES["proxy-https-backend"])
    assert "ProxyPass / https://[::1]:8443/app/\n" in site.text and "SSLProxyEngine on" in site.text
    assert "ssl" in site.modules


BAD = [
    ("quote in server name", dict(server_name='shop.example.com"'), "--server-name"),
    ("newline in server name", dict(server_name="shop.example.com\nInclude /etc/shadow"), "--server-name"),
    ("space in alias", dict(aliases=("www.shop example.com",)), "--alias"),
    ("wildcard server name", dict(server_name="*.example.com"), "--server-name"),
    ("relative docroot", dict(docroot="srv/shop"), "--docroot"),
    ("quote in docroot", dict(docroot='/srv/sh"op'), "--docroot"),
    ("newline in docroot", dict(docroot="/srv/shop\n</VirtualHost>"), "--docroot"),
    ("dot-dot docroot", dict(docroot="/srv/../etc"), "--docroot"),
    ("variable in docroot", dict(docroot="/srv/${HOME}"), "--docroot"),
    ("root docroot", dict(docroot="/"), "--docroot"),
    ("space in backend", dict(backend="http://127.0.0.1:3000/ retry=0"), "--backend"),
    ("newline in backend", dict(backend="http://127.0.0.1:3000/\nProxyPass /x http://evil/"), "--backend"),
    ("ftp backend", dict(backend="ftp://127.0.0.1/"), "--backend"),
    ("backend with user", dict(backend="http://u:p@127.0.0.1:3000/"), "--backend"),
    ("backend with query", dict(backend="http://127.0.0.1:3000/?a=1"), "--backend"),
    ("backend port", dict(backend="http://127.0.0.1:99999/"), "--backend"),
    ("backend no host", dict(backend="http:///x"), "--backend"),
    ("http port 0", dict(http_port=0), "--http-port"),
    ("https port", dict(tls=True, **TLS_FILES, https_port=70000), "--https-port"),
    ("static path", dict(static_paths=("/as sets",)), "--static-path"),
    ("cert without tls", dict(cert="/etc/ssl/c.pem"), "--tls"),
    ("tls without key", dict(tls=True, cert="/etc/ssl/c.pem"), "--key"),
    ("redirect without tls", dict(redirect_http=True), "--tls"),
    ("same ports", dict(tls=True, **TLS_FILES, redirect_http=True, http_port=443), "--redirect-http"),
    ("quote in cert", dict(tls=True, cert='/etc/ssl/c".pem', key="/etc/ssl/k.pem"), "--cert"),
    ("listen without port", dict(listen="127.0.0.2"), "--listen"),
    ("listen host name", dict(listen="localhost:8080"), "--listen"),
    ("listen bad ipv6", dict(listen="[::g]:8080"), "--listen"),
    ("listen newline", dict(listen="127.0.0.2:80\nListen 1"), "--listen"),
    ("listen port", dict(listen="127.0.0.2:0"), "--listen"),
    ("listen same as redirect", dict(tls=True, **TLS_FILES, redirect_http=True, listen="*:80"), "--redirect-http"),
    ("www choice", dict(www="both"), "--www"),
    ("www on a www name", dict(server_name="www.shop.example.com", www="redirect-to-bare"), "--www"),
    ("letsencrypt and cert", dict(tls=True, letsencrypt=True, **TLS_FILES), "--letsencrypt"),
    ("letsencrypt without tls", dict(letsencrypt=True), "--tls"),
    ("websocket path", dict(websocket=("/ca ble",)), "--websocket"),
]


@pytest.mark.parametrize("what, change, flag", BAD, ids=[b[0] for b in BAD])
def test_bad_values_are_refused_before_rendering(what, change, flag):
    opts = SiteOptions(**{**SHOP, **change})
    with pytest.raises(InvalidOption) as exc:
        generate.render("proxy", opts)
    assert flag in exc.value.message
    assert "\n" not in str(exc.value)


def test_block_options_are_checked_as_for_patch():
    for bad in (dict(allow_ips=("10.0.0.1/8",)), dict(allow_paths=("/up now",)), dict(bypass_cookie="a;b")):
        with pytest.raises(InvalidOption):
            BlockOptions(**bad)


@pytest.mark.parametrize("kind, change, message", [
    ("proxy", dict(backend=None), "new proxy needs --backend"),
    ("static", dict(backend="http://127.0.0.1:1/"), "new static does not use --backend"),
    ("wsgi", dict(backend=None), "new wsgi needs --wsgi-script"),
    ("passenger", dict(docroot=None, backend=None), "new passenger needs --app-root"),
    ("nosuch", {}, "no template 'nosuch'"),
])
def test_options_must_fit_the_template(kind, change, message):
    with pytest.raises(InvalidOption, match=re.escape(message)):
        generate.render(kind, SiteOptions(**{**SHOP, **change}))


def test_the_cli_refuses_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "site.conf"
    for args in (["--server-name", "shop.example.com\"\nInclude /x", "--docroot", "/srv/a", "--backend", "http://h/"],
                 ["--server-name", "shop.example.com", "--docroot", "/srv/a", "--backend", "http://h/ x"],
                 ["--server-name", "shop.example.com", "--docroot", "/srv/a", "--backend", "http://h/",
                  "--allow-ip", "10.0.0.1/8"]):
        result = apachemaint("new", "proxy", *args, "-o", out, state=tmp_path / "state")
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert not out.exists()


def test_list_names_every_template_and_variable():
    result = apachemaint("new", "--list", "--templates", TEMPLATES / "templates")
    assert result.returncode == 0, result.stderr
    for kind in ("proxy", "passenger", "wsgi", "static", "php"):
        assert re.search(rf"^{kind} ", result.stdout, re.MULTILINE), kind
    assert "needs: server_name docroot backend; modules: rewrite headers setenvif proxy proxy_http" in result.stdout
    for var in ("server_name", "docroot", "backend", "wsgi_script", "maintenance_block", "static_paths"):
        assert f"  {var}" in result.stdout


def test_write_refuses_to_replace_a_file_without_force(tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(tmp_path / "state"))
    site = generate.render(*CASES["static"])
    out = tmp_path / "docs.conf"
    out.write_text("# mine\n")
    with pytest.raises(UnsafeWrite):
        generate.write(site, out)
    assert out.read_text() == "# mine\n"
    saved = generate.write(site, out, force=True)
    assert out.read_text() == site.text and oct(out.stat().st_mode & 0o777) == "0o644"
    assert saved is not None and (saved / "manifest.json").is_file()


# --- user templates -------------------------------------------------------------------------

@pytest.mark.parametrize("folder, kind, expected", [
    ("broken-syntax", "oops", r"oops\.conf\.j2:10: does not parse: .*'endblock'"),
    ("no-block", "bare", r"bare\.conf\.j2: renders a vhost `check` rejects .*AM001"),
])
def test_a_template_that_does_not_make_a_sound_vhost_writes_nothing(folder, kind, expected, tmp_path):
    out = tmp_path / "x.conf"
    result = apachemaint("new", kind, "--templates", TEMPLATES / folder, "--server-name", "x.example.com",
                         "--docroot", "/srv/x", "-o", out)
    assert result.returncode == 2
    assert re.search(expected, result.stderr) and result.stderr.count("\n") == 1
    assert not out.exists()


# --- with a real Apache ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("tls")
    return make_cert(folder, "shop.example.com")


def make_cert(folder: Path, name: str) -> dict:
    """A throwaway self-signed certificate, made with the openssl CLI as an admin would."""
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but the openssl CLI is missing", pytrace=False)
        pytest.skip("openssl CLI not installed (apt-get install openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return {"cert": str(cert), "key": str(key)}


def require_modules(names) -> None:
    from apachemaint.httpd import module_dir

    mods = module_dir()
    missing = [n for n in names if mods is None or not (mods / f"mod_{n}.so").is_file()]
    if missing:
        packages = {"wsgi": "libapache2-mod-wsgi-py3", "passenger": "libapache2-mod-passenger"}
        msg = ", ".join(f"mod_{m} not installed (apt-get install {packages.get(m, 'apache2')})" for m in missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {msg}", pytrace=False)
        pytest.skip(msg)


@pytest.mark.apache
@pytest.mark.parametrize("name", sorted(CASES))
def test_apache_accepts_every_kind_with_just_the_modules_it_names(name, tls_files, monkeypatch):
    kind, opts = CASES[name]
    if opts.letsencrypt:
        # certbot's layout, in a folder of the test's own.
        live = Path(tls_files["cert"]).parent / "live"
        (live / opts.server_name).mkdir(parents=True, exist_ok=True)
        shutil.copy(tls_files["cert"], live / opts.server_name / "fullchain.pem")
        shutil.copy(tls_files["key"], live / opts.server_name / "privkey.pem")
        monkeypatch.setattr(sitevalues, "LETSENCRYPT_LIVE", str(live))
    elif opts.tls:
        opts = SiteOptions(**{**opts.__dict__, **tls_files})
    site = generate.render(kind, opts)
    require_modules(site.modules)
    assert generate.configtest(site) == f"config test with {' '.join(site.modules)}: Syntax OK"


@pytest.mark.apache
def test_cli_output_passes_check(tmp_path):
    out = tmp_path / "shop.conf"
    result = apachemaint("new", "proxy", "--server-name", "shop.example.com", "--docroot", "/srv/shop/public",
                         "--backend", "http://127.0.0.1:3000", "--allow-path", "/up", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stdout
    assert apachemaint("check", out).returncode == 0
    printed = apachemaint("new", "proxy", "--server-name", "shop.example.com", "--docroot", "/srv/shop/public",
                          "--backend", "http://127.0.0.1:3000", "--allow-path", "/up")
    assert printed.stdout == out.read_text() and "Syntax OK" in printed.stderr


@pytest.mark.apache
def test_a_user_template_is_config_tested(tmp_path):
    ok = apachemaint("new", "php", "--templates", TEMPLATES / "templates", "--server-name", "x.example.com",
                     "--docroot", "/srv/x")
    assert ok.returncode == 0, ok.stderr
    assert "SetHandler" in ok.stdout and "config test with rewrite headers setenvif dir proxy proxy_fcgi" in ok.stderr
    out = tmp_path / "x.conf"
    bad = apachemaint("new", "typo", "--templates", TEMPLATES / "rejected", "--server-name", "x.example.com",
                      "--docroot", "/srv/x", "-o", out)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "typo.conf.j2: apache2 -t rejects" in bad.stderr and "Invalid command 'ProxyPreservHost'" in bad.stderr
    assert not out.exists()


@pytest.mark.apache
def test_a_missing_certificate_is_reported_and_nothing_written(tmp_path):
    out = tmp_path / "x.conf"
    result = apachemaint("new", "static", "--server-name", "x.example.com", "--docroot", "/srv/x", "--tls",
                         "--cert", tmp_path / "none.pem", "--key", tmp_path / "none.key", "-o", out)
    assert result.returncode == 2 and "SSLCertificateFile" in result.stderr and not out.exists()


@pytest.mark.apache
def test_enable_writes_sites_available_and_links_it(tmp_path):
    tree = debian_tree(tmp_path, "etc-apache2")
    result = apachemaint("new", "proxy", "--server-name", "app.example.com", "--docroot", "/srv/app/public",
                         "--backend", "http://127.0.0.1:3000", "--enable", "--config", tree / "apache2.conf",
                         state=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    site = tree / "sites-available" / "app.example.com.conf"
    link = tree / "sites-enabled" / "app.example.com.conf"
    assert os.readlink(link) == "../sites-available/app.example.com.conf"
    assert "# BEGIN apachemaint" in site.read_text()
    assert f"config test of {tree / 'apache2.conf'}: Syntax OK" in result.stdout
    again = apachemaint("new", "proxy", "--server-name", "app.example.com", "--docroot", "/srv/app/public",
                        "--backend", "http://127.0.0.1:3000", "--enable", "--config", tree / "apache2.conf")
    assert again.returncode == 2 and "exists; not overwritten" in again.stderr


@pytest.mark.apache
def test_enable_names_the_site_by_the_bare_name_with_www_and_listen(tmp_path):
    tree = debian_tree(tmp_path, "etc-apache2")
    result = apachemaint("new", "static", "--server-name", "app.example.com", "--docroot", "/srv/app",
                         "--www", "redirect-to-www", "--listen", "127.0.40.4:8080", "--http2",
                         "--security-headers", "--enable", "--config", tree / "apache2.conf",
                         state=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    link = tree / "sites-enabled" / "app.example.com.conf"
    assert os.readlink(link) == "../sites-available/app.example.com.conf"
    text = link.read_text()
    assert "<VirtualHost 127.0.40.4:8080>\n" in text and "ServerName www.app.example.com\n" in text
    assert f"config test of {tree / 'apache2.conf'}: Syntax OK" in result.stdout


@pytest.mark.apache
def test_enable_takes_the_site_away_when_the_server_rejects_it(tmp_path):
    tree = debian_tree(tmp_path, "etc-apache2-no-rewrite")
    before = sorted(p.name for p in (tree / "sites-enabled").iterdir())
    result = apachemaint("new", "static", "--server-name", "docs.example.com", "--docroot", "/srv/docs",
                         "--enable", "--config", tree / "apache2.conf", state=tmp_path / "state")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "taken away again" in result.stderr and "a2enmod rewrite headers" in result.stderr
    assert not (tree / "sites-available" / "docs.example.com.conf").exists()
    assert sorted(p.name for p in (tree / "sites-enabled").iterdir()) == before


def test_new_o_goes_through_the_transaction_so_restore_undoes_it(tmp_path):
    # `new -o` used to write the file directly: a new file got no checkpoint, so `restore` put back
    # the previous run instead (or nothing) and the generated vhost stayed.
    state = tmp_path / "state"
    out = tmp_path / "docs.conf"
    args = ("--server-name", "docs.example.com", "--docroot", str(tmp_path / "www"), "--no-configtest")
    made = apachemaint("new", "static", *args, "-o", out, state=state)
    assert made.returncode == 0 and "checkpoint " in made.stdout, made.stdout + made.stderr
    undone = apachemaint("restore", state=state)
    assert undone.returncode == 0, undone.stderr
    assert not out.exists()

    out.write_text("# mine\n")
    replaced = apachemaint("new", "static", *args, "-o", out, "--force", state=state)
    assert replaced.returncode == 0 and "docs.example.com" in out.read_text(), replaced.stderr
    assert apachemaint("restore", state=state).returncode == 0
    assert out.read_text() == "# mine\n"
