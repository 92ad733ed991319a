"""What a user types for ``apachemaint new``, checked before anything is rendered.

Every value ends up unquoted inside a directive, so each one is held to a small alphabet:
no spaces, quotes, ``$``, ``%``, backslashes or line breaks.  Nothing typed can then end a
directive early, start another one or expand an Apache variable.  A bad value raises
InvalidOption naming the option, before any template is read.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .block import BlockOptions
from .errors import InvalidOption

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_SEGMENTS = r"(?:/[A-Za-z0-9._~+@-]+)+"
_PATH = re.compile(rf"^{_SEGMENTS}$")
_URL_CHARS = re.compile(r"^[A-Za-z0-9:/._~+@\[\]-]+$")

# The template variable each option fills, and the flag a user knows it by.
FLAGS = {
    "server_name": "--server-name", "aliases": "--alias", "docroot": "--docroot",
    "backend": "--backend", "app_root": "--app-root", "wsgi_script": "--wsgi-script",
    "venv": "--venv", "static_paths": "--static-path", "tls": "--tls", "cert": "--cert",
    "key": "--key", "hsts": "--hsts", "redirect_http": "--redirect-http", "http2": "--http2",
    "security_headers": "--security-headers", "www": "--www", "websocket": "--websocket",
}
# Options of the frame itself (address, port, certificate paths): every template has them.
FRAME_FLAGS = {"listen": "--listen", "letsencrypt": "--letsencrypt"}
WWW_CHOICES = ("redirect-to-bare", "redirect-to-www")
LETSENCRYPT_LIVE = "/etc/letsencrypt/live"


@dataclass(frozen=True)
class SiteOptions:
    server_name: str = ""
    aliases: tuple[str, ...] = ()
    docroot: str | None = None
    backend: str | None = None
    app_root: str | None = None
    wsgi_script: str | None = None
    venv: str | None = None
    static_paths: tuple[str, ...] | None = None  # None: the template's own default
    tls: bool = False
    cert: str | None = None
    key: str | None = None
    hsts: bool = False
    redirect_http: bool = False
    listen: str | None = None  # ADDR:PORT of the serving vhost; None: *:http_port or *:https_port
    http2: bool = False
    security_headers: bool = False
    letsencrypt: bool = False
    www: str | None = None  # one of WWW_CHOICES
    websocket: tuple[str, ...] = ()
    http_port: int = 80
    https_port: int = 443
    block: BlockOptions = field(default_factory=BlockOptions)


def host_name(flag: str, value: str, *, wildcard: bool = False) -> str:
    name = value[2:] if wildcard and value.startswith("*.") else value
    if not _HOST.match(name) or len(value) > 253:
        raise InvalidOption(f"{flag} {value!r}: a host name of letters, digits, - and dots"
                            + (" (a leading *. is allowed)" if wildcard else ""))
    return value


def abs_path(flag: str, value: str) -> str:
    path = value.rstrip("/") if len(value) > 1 else value
    if not _PATH.match(path) or any(part in (".", "..") for part in path.split("/")):
        raise InvalidOption(f"{flag} {value!r}: an absolute path of letters, digits and . _ ~ + @ - "
                            "(no spaces, quotes or ..; not / itself)")
    return path


def url_path(flag: str, value: str) -> str:
    return abs_path(flag, value)


def port(flag: str, value: int) -> int:
    if not isinstance(value, int) or not 0 < value < 65536:
        raise InvalidOption(f"{flag} {value!r}: a port between 1 and 65535")
    return value


def listen_on(value: str) -> tuple[str, int]:
    """``--listen ADDR:PORT``: an IPv4 address, a [bracketed] IPv6 one or *, and a port."""
    bad = InvalidOption(f"--listen {value!r}: ADDR:PORT with ADDR an IPv4 address, [IPv6] or *")
    addr, sep, port_ = value.rpartition(":")
    if not sep or not port_.isdigit() or len(port_) > 5:
        raise bad
    if addr.startswith("[") and addr.endswith("]"):
        try:
            addr = f"[{ipaddress.IPv6Address(addr[1:-1])}]"
        except ValueError:
            raise bad from None
    elif addr != "*":
        try:
            addr = str(ipaddress.IPv4Address(addr))
        except ValueError:
            raise bad from None
    return addr, port("--listen", int(port_))


def backend_url(value: str) -> tuple[str, str, bool]:
    """The ProxyPass target, the ProxyPassReverse URL, and whether the backend speaks TLS."""
    if value.startswith("unix:"):
        sock = abs_path("--backend", value[len("unix:"):])
        # mod_proxy's UDS form: the socket, then the URL the request is written for.
        return f"unix:{sock}|http://localhost/", "http://localhost/", False
    bad = InvalidOption(f"--backend {value!r}: an http(s)://HOST[:PORT][/PATH] URL or unix:/path/to.sock "
                        "(no user, query or fragment)")
    if not _URL_CHARS.match(value):
        raise bad
    parts = urlsplit(value)
    try:
        port_ = parts.port
    except ValueError:
        raise bad from None
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or parts.username or parts.password
            or parts.query or parts.fragment or "?" in value or "#" in value or port_ == 0):
        raise bad
    if parts.netloc.startswith("["):
        try:
            host = f"[{ipaddress.IPv6Address(host)}]"
        except ValueError:
            raise bad from None
    elif not _HOST.match(host):
        raise bad
    path = parts.path.rstrip("/")
    if path and (not _PATH.match(path) or any(p in (".", "..") for p in path.split("/"))):
        raise bad
    url = f"{parts.scheme}://{host}{f':{port_}' if port_ else ''}{path}/"
    return url, url, parts.scheme == "https"


def variables(o: SiteOptions) -> dict:
    """The template variables these options give; None, () or False where not given."""
    if o.letsencrypt and (o.cert or o.key):
        raise InvalidOption("--letsencrypt and --cert/--key exclude each other")
    if o.letsencrypt and not o.server_name:
        raise InvalidOption("--letsencrypt needs --server-name: it names the certificate's folder")
    if o.tls and not (o.cert and o.key) and not o.letsencrypt:
        raise InvalidOption("--tls needs --cert FILE and --key FILE, or --letsencrypt")
    if o.www is not None and o.www not in WWW_CHOICES:
        raise InvalidOption(f"--www {o.www!r}: one of {', '.join(WWW_CHOICES)}")
    if o.www and (not o.server_name or o.server_name.startswith("www.")):
        raise InvalidOption("--www needs --server-name with the bare name (example.com, not www.example.com)")
    for name in ("cert", "key", "hsts", "redirect_http", "letsencrypt"):
        if getattr(o, name) and not o.tls:
            raise InvalidOption(f"{({**FLAGS, **FRAME_FLAGS})[name]} needs --tls")
    http_port, https_port = port("--http-port", o.http_port), port("--https-port", o.https_port)
    if o.redirect_http and http_port == https_port:
        raise InvalidOption("--redirect-http needs --http-port and --https-port to differ")
    server_name = host_name("--server-name", o.server_name) if o.server_name else ""
    address, serving_port = "*", (https_port if o.tls else http_port)
    if o.listen:
        address, serving_port = listen_on(o.listen)
    if o.redirect_http and serving_port == http_port:
        raise InvalidOption("--redirect-http needs the TLS vhost on another port than --http-port")
    # --server-name is the bare name; --www picks which of it and www.NAME serves.
    other_name = None
    if o.www:
        bare, www = server_name, f"www.{server_name}"
        server_name, other_name = (bare, www) if o.www == "redirect-to-bare" else (www, bare)
    cert, key = (abs_path("--cert", o.cert) if o.cert else None), (abs_path("--key", o.key) if o.key else None)
    if o.letsencrypt:
        # certbot's own layout: live/NAME holds links to the newest files, so renewals need no edit.
        live = f"{LETSENCRYPT_LIVE}/{o.server_name}"
        cert, key = f"{live}/fullchain.pem", f"{live}/privkey.pem"
    scheme = "https" if o.tls else "http"
    default_port = 443 if o.tls else 80
    site_url = f"{scheme}://{server_name}" + (f":{serving_port}" if serving_port != default_port else "")
    app_root = abs_path("--app-root", o.app_root) if o.app_root else None
    wsgi_script = wsgi_dir = wsgi_file = None
    if o.wsgi_script:
        wsgi_script = abs_path("--wsgi-script", o.wsgi_script)
        if not wsgi_script.endswith((".py", ".wsgi")):
            raise InvalidOption(f"--wsgi-script {o.wsgi_script!r}: a .py or .wsgi file")
        wsgi_dir, wsgi_file = wsgi_script.rsplit("/", 1)
        wsgi_dir = wsgi_dir or "/"
    # The page lives under the DocumentRoot, so every kind has one: an app's public/ folder
    # (Rails, Passenger and Capistrano's convention) unless given.
    docroot = abs_path("--docroot", o.docroot) if o.docroot else None
    if docroot is None and app_root:
        docroot = f"{app_root}/public"
    elif docroot is None and wsgi_dir:
        docroot = f"{wsgi_dir.rstrip('/')}/public"
    backend = backend_reverse = None
    backend_tls = False
    if o.backend:
        backend, backend_reverse, backend_tls = backend_url(o.backend)
    https_url = f"https://{server_name}" + (f":{serving_port}" if serving_port != 443 else "")
    return {
        "server_name": server_name,
        "aliases": tuple(host_name("--alias", a, wildcard=True) for a in o.aliases),
        "address": address,
        "port": serving_port,
        "site_url": site_url,
        "www": o.www,
        "www_other": other_name,
        "http2": o.http2,
        "security_headers": o.security_headers,
        "letsencrypt": o.letsencrypt,
        "websocket": tuple(url_path("--websocket", p) for p in o.websocket),
        "http_port": http_port,
        "https_port": https_port,
        "https_url": https_url,
        "tls": o.tls,
        "cert": cert,
        "key": key,
        "hsts": o.hsts,
        "redirect_http": o.redirect_http,
        "docroot": docroot,
        "static_paths": (tuple(url_path("--static-path", p) for p in o.static_paths)
                         if o.static_paths is not None else None),
        "backend": backend,
        "backend_reverse": backend_reverse,
        "backend_tls": backend_tls,
        "app_root": app_root,
        "wsgi_script": wsgi_script,
        "wsgi_dir": wsgi_dir,
        "wsgi_file": wsgi_file,
        "venv": abs_path("--venv", o.venv) if o.venv else None,
        # mod_wsgi daemon group names are server-wide; the site's name is unique per server.
        "process_group": server_name,
    }
