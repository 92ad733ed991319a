"""``apachemaint new``: a complete vhost from a template, with the maintenance block in place.

A kind is one Jinja2 template, ``templates/vhost/KIND.conf.j2`` or ``KIND.conf.j2`` in a
folder of the user's own (which wins over a built-in of the same name).  It starts with a
header comment naming what it is, the variables it needs and the Apache modules it uses::

    {#- apachemaint template
    summary: reverse proxy to an app server
    needs: server_name docroot backend
    modules: proxy proxy_http
    static-paths: /assets
    -#}

The block comes from ``block.render``, the very function ``patch`` uses, so a generated vhost
and a patched one carry the same bytes for the same options.  Before anything is written the
output is proven: it must parse, every serving vhost must pass ``check``, and ``apache2 -t``
must accept it with exactly the modules named (where Apache is installed).
"""
from __future__ import annotations

import os
import re
import tempfile
import traceback
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import __version__, block, httpd, layouts, location, reader, server, vhosts
from .errors import ApacheMaintError, ConfigTestFailed, InvalidOption, UnsafeWrite
from .findings import Severity
from .sitevalues import FLAGS, SiteOptions, variables
from .transaction import Transaction

BLOCK_MODULES = block.MODULES
# What the scratch server of the config test needs for its own lines (see LoopbackApache).
SCRATCH_MODULES = ("mpm_event", "authz_core", "mime")
INDENT = "    "
SUFFIX = ".conf.j2"
NOT_KINDS = {"maintenance-block"}
_HEADER = re.compile(r"\A\{#-?[ \t]*apachemaint template[ \t]*\n(.*?)-?#\}", re.DOTALL)
_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# Every variable a template is given, for `new --list` and for template authors.
VARIABLES = {
    "server_name": "ServerName (--server-name)",
    "aliases": "ServerAlias names (--alias, repeatable)",
    "docroot": "DocumentRoot; the page is DOCROOT/system/maintenance.html (--docroot; default "
               "APP_ROOT/public or the WSGI script's folder/public)",
    "static_paths": "URL paths served from the DocumentRoot (--static-path, repeatable; default "
                    "from the template's static-paths line)",
    "backend": "ProxyPass target, always ending in / (--backend http(s)://host:port[/path] or unix:/x.sock)",
    "backend_reverse": "ProxyPassReverse URL",
    "backend_tls": "true when the backend is https (needs SSLProxyEngine)",
    "app_root": "the app's folder (--app-root)",
    "wsgi_script, wsgi_dir, wsgi_file": "the WSGI file (--wsgi-script), its folder and its name",
    "venv": "virtualenv for python-home (--venv)",
    "process_group": "mod_wsgi daemon process name (the server name)",
    "tls, cert, key": "with --tls the vhost is on https_port with this certificate and key (--cert, --key)",
    "hsts": "send Strict-Transport-Security (--hsts, opt-in)",
    "redirect_http, https_url": "add a :http_port vhost that only redirects to https_url (--redirect-http)",
    "address, port, http_port, https_port": "the serving vhost's address and port (--listen ADDR:PORT; "
                                            "default * and --http-port 80, or --https-port 443 with --tls)",
    "site_url": "the serving vhost's own URL (scheme, name, port when not the scheme's own)",
    "http2": "Protocols h2 (h2c without TLS) http/1.1 inside <IfModule http2_module> (--http2)",
    "security_headers": "X-Content-Type-Options, X-Frame-Options, Referrer-Policy (--security-headers)",
    "letsencrypt": "cert and key are certbot's live/SERVER_NAME files (--letsencrypt)",
    "www, www_other": "--www redirect-to-bare|redirect-to-www, and the name that only redirects",
    "websocket": "proxy: URL paths proxied with upgrade=websocket (--websocket, repeatable)",
    "maintenance_block": "the managed block, indented 4 spaces, no final newline: put it on a line "
                         "of its own right after the serving vhost's <VirtualHost> line",
    "kind, summary, version, modules": "the template's name and header, apachemaint's version, "
                                       "the modules to enable",
}


class TemplateError(ApacheMaintError):
    """A template that does not render, or renders something that is not a sound vhost."""


@dataclass(frozen=True)
class Template:
    kind: str
    path: Path
    summary: str
    needs: tuple[str, ...]
    modules: tuple[str, ...]
    static_paths: tuple[str, ...]
    uses: frozenset[str]  # every variable it (or a template it extends) refers to


@dataclass
class Site:
    template: Template
    options: SiteOptions
    server_name: str
    modules: tuple[str, ...]
    text: str
    tested: str = "not config-tested"

    @property
    def kind(self) -> str:
        return self.template.kind


def builtin_dir() -> Path:
    return Path(str(resources.files("apachemaint.templates") / "vhost"))


def _environment(extra: Path | None):
    import jinja2  # imported here so that commands which never render stay quick to start
    from jinja2.sandbox import SandboxedEnvironment

    dirs = ([str(extra)] if extra else []) + [str(builtin_dir())]
    # Sandboxed: --templates DIR holds the caller's code, and apachemaint may run as root.
    return SandboxedEnvironment(loader=jinja2.FileSystemLoader(dirs), undefined=jinja2.StrictUndefined,
                                autoescape=False, trim_blocks=True, lstrip_blocks=True,
                                keep_trailing_newline=True)


def templates(extra: Path | None = None) -> dict[str, Template]:
    """Every kind, sorted by name; one in ``extra`` replaces a built-in of the same name."""
    if extra is not None and not Path(extra).is_dir():
        raise InvalidOption("--templates: not a folder", extra)
    env = _environment(extra)
    found: dict[str, Path] = {}
    for folder in ([Path(extra)] if extra else []) + [builtin_dir()]:
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            kind = path.name[:-len(SUFFIX)]
            if kind not in NOT_KINDS and not kind.startswith("_") and kind not in found:
                if not _KIND.match(kind):
                    raise TemplateError("a template name is lower-case letters, digits, _ and -", path)
                found[kind] = path
    return {kind: _describe(env, kind, found[kind]) for kind in sorted(found)}


def listing(extra: Path | None = None) -> str:
    """``new --list``: each kind with what it needs beyond the shared frame, then the variables."""
    kinds = templates(extra)
    env = _environment(extra)
    shared = _uses(env, "_site.conf.j2", builtin_dir() / "_site.conf.j2")
    out = []
    for t in kinds.values():
        where = "" if t.path.parent == builtin_dir() else f"  ({t.path})"
        out.append(f"{t.kind:10} {t.summary}{where}")
        out.append(f"{'':10} needs: {' '.join(t.needs)}; modules: {' '.join(BLOCK_MODULES + t.modules)}")
        if own := sorted(t.uses - shared):
            out.append(f"{'':10} also uses: {' '.join(own)}")
    out.append("\nevery template gets (names from templates/vhost/_site.conf.j2, which kinds extend):")
    out += [f"  {name}: {meaning}" for name, meaning in VARIABLES.items()]
    return "\n".join(out) + "\n"


def _describe(env, kind: str, path: Path) -> Template:
    source = path.read_text()
    header: dict[str, str] = {}
    if m := _HEADER.match(source):
        for line in m.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                header[key.strip()] = value.strip()
    needs = tuple(header.get("needs", "server_name").split())
    for name in needs:
        if name not in FLAGS:
            raise TemplateError(f"needs: {name!r} is not an option (choose from {', '.join(FLAGS)})", path)
    statics = tuple(header.get("static-paths", "").split())
    return Template(kind, path, header.get("summary", ""), needs, tuple(header.get("modules", "").split()),
                    statics, frozenset(_uses(env, path.name, path)))


def _uses(env, name: str, path: Path, seen: frozenset = frozenset()) -> set[str]:
    import jinja2
    from jinja2 import meta

    if name in seen:
        return set()
    try:
        source, filename, _ = env.loader.get_source(env, name)
        ast = env.parse(source, name, filename)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"does not parse: {exc.message}", exc.filename or path, exc.lineno) from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"extends or includes {exc.name!r}, which is not found", path) from None
    found = set(meta.find_undeclared_variables(ast))
    for ref in meta.find_referenced_templates(ast):
        if ref:
            found |= _uses(env, ref, path, seen | {name})
    return found


def render(kind: str, opts: SiteOptions, templates_dir: Path | None = None) -> Site:
    """The vhost text for ``kind``; checked to parse and to pass ``check``, not yet config-tested."""
    values = variables(opts)  # bad values are refused before any template is read
    kinds = templates(templates_dir)
    tpl = kinds.get(kind)
    if tpl is None:
        raise InvalidOption(f"no template {kind!r}; choose from {', '.join(kinds)} (apachemaint new --list)")
    for name, flag in FLAGS.items():
        if getattr(opts, name) not in (None, (), False, "") and name not in tpl.uses:
            raise InvalidOption(f"new {kind} does not use {flag}")
    if values["static_paths"] is None:
        values["static_paths"] = tpl.static_paths
    for name in tpl.needs:
        if not values.get(name):
            raise InvalidOption(f"new {kind} needs {FLAGS[name]}")
    modules = BLOCK_MODULES + tpl.modules + (("ssl",) if opts.tls or values["backend_tls"] else ()) \
        + (("alias",) if opts.redirect_http or opts.www else ())
    modules = tuple(dict.fromkeys(modules))
    options = opts.block
    if values.get("docroot"):  # as patch would place it: out of a deploy release (location.choose)
        options = options.merged(page=location.for_docroot(values["docroot"], options.page))
    context = {**values, "kind": kind, "summary": tpl.summary, "version": __version__,
               "modules": modules, "maintenance_block": block.render(options, INDENT, INDENT).removesuffix("\n")}
    text = _render_template(tpl, context, templates_dir)
    _verify(tpl, text)
    # The name as typed: with --www the serving name may be www.NAME, but the site is NAME.
    return Site(tpl, opts, opts.server_name, modules, text)


def _render_template(tpl: Template, context: dict, templates_dir: Path | None) -> str:
    import jinja2

    env = _environment(templates_dir)
    try:
        return env.get_template(tpl.path.name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"does not parse: {exc.message}", exc.filename or tpl.path, exc.lineno) from None
    except jinja2.TemplateError as exc:
        # Jinja puts the template's own file and line into the traceback; report the innermost.
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
        where = (frames[-1].filename, frames[-1].lineno) if frames else (tpl.path, None)
        raise TemplateError(f"does not render: {exc.message or exc}", *where) from None


def _verify(tpl: Template, text: str) -> None:
    from .check import check_config

    try:
        cf = reader.parse(text, f"<{tpl.kind} output>")
    except ApacheMaintError as exc:
        raise TemplateError(f"renders a config that does not parse (output line {exc.line}): {exc.message}",
                            tpl.path) from None
    if not vhosts.find(cf):
        raise TemplateError("renders no <VirtualHost>", tpl.path)
    for f in sorted(check_config(cf)):
        if f.severity > Severity.INFO:
            raise TemplateError(f"renders a vhost `check` rejects (output line {f.line}): "
                                f"{f.code} {f.message}", tpl.path)


def configtest(site: Site) -> str:
    """Run ``apache2 -t`` on the vhost in a scratch server loading only the modules it names."""
    binary = httpd.find_binary()
    if binary is None:
        return "no Apache binary found; not config-tested"
    mods = httpd.module_dir(binary)
    missing = [m for m in site.modules if mods is None or not (mods / f"mod_{m}.so").is_file()]
    if missing:
        return f"not config-tested: {', '.join(f'mod_{m}' for m in missing)} not installed here"
    with tempfile.TemporaryDirectory(prefix="apachemaint-new-") as scratch:
        conf = Path(scratch) / f"{site.server_name}.conf"
        conf.write_text(site.text)
        test = httpd.LoopbackApache(Path(scratch) / "server", [conf], binary=binary,
                                    modules=SCRATCH_MODULES + site.modules)
        ok, out = test.configtest()
    if not ok:
        # Blame a user's template by its file; a built-in one fails on what was typed (a
        # certificate that is not there yet, say), which the message itself names.
        own = site.template.path.parent != builtin_dir()
        raise ConfigTestFailed(f"apache2 -t rejects the generated {site.kind} vhost, nothing written "
                               f"(--no-configtest skips this test): {_reason(out)}",
                               site.template.path if own else None)
    return f"config test with {' '.join(site.modules)}: Syntax OK"


def _reason(output: str) -> str:
    failure = httpd.explain(output)
    # The scratch file's path means nothing to the user; its line is the output's line.
    return f"output line {failure.line}: {failure.reason}" if failure.line else failure.reason


def build(kind: str, opts: SiteOptions, templates_dir: Path | None = None, *, test: bool = True) -> Site:
    site = render(kind, opts, templates_dir)
    if test:
        site.tested = configtest(site)
    return site


# --- writing -----------------------------------------------------------------------------

def _refuse_existing(path: Path, force: bool) -> bytes | None:
    if path.is_symlink():
        raise UnsafeWrite("is a symlink; refusing to write through it", path)
    if not path.exists():
        return None
    if not force:
        raise UnsafeWrite("exists; not overwritten (--force replaces it, keeping a checkpoint)", path)
    return path.read_bytes()


def write(site: Site, path: Path, *, force: bool = False) -> Path | None:
    """Write the vhost to ``path`` through a transaction; its checkpoint, which ``restore``
    undoes like any other: the replaced file comes back, or the new one goes away."""
    path = Path(path).absolute()
    old = _refuse_existing(path, force)
    tx = Transaction()
    tx.put(path, old, site.text.encode())
    return tx.commit()


@dataclass
class Enabled:
    path: Path
    link: Path | None
    main: Path
    checkpoint: Path | None
    tested: str
    layout: str = ""
    enabled_by: str = ""


def layout_for(config: Path | None) -> layouts.Layout:
    """The installed layout, or the one ``config`` (a main server config) is laid out as."""
    if config is None:
        layout = layouts.recognise()
        if layout is None:
            raise ApacheMaintError("no installed Apache server config found; give --config MAIN or write "
                                   "the vhost with -o FILE")
        return layout
    main = Path(config).absolute()
    layout = layouts.for_config(main)
    if layout is None:
        raise ApacheMaintError("not laid out like any known platform (apachemaint layouts lists them); "
                               "write the vhost with -o FILE and include it yourself", main)
    return layout


def _include_line(layout: layouts.Layout, path: Path) -> str:
    return f"Include {path}"


def enable(site: Site, *, config: Path | None = None, force: bool = False, test: bool = True) -> Enabled:
    """Write the vhost where the server's layout keeps sites and switch it on by the platform's
    mechanism (layouts.ENABLE_BY: Debian's relative link in sites-enabled; a file in a folder the
    server loads whole, RHEL's conf.d; or an Include line for it added to the main config).  The
    server's config test runs before and after; a failure after takes every change away again."""
    if not site.server_name:
        raise InvalidOption("--enable needs --server-name: it names the site's file")
    layout = layout_for(config)
    sites = layout.sites_folder()
    if sites is None or not sites.parent.is_dir():
        raise ApacheMaintError(f"the {layout.name} layout has no folder for sites here; write the vhost "
                               "with -o FILE and include it yourself", layout.main)
    name = f"{site.server_name}.conf"
    path = sites / name
    enabled = layout.enabled_folder() if layout.enable_by == "link" else None
    link = enabled / name if enabled else None
    target = os.path.relpath(path, link.parent) if link else ""
    old = _refuse_existing(path, force)
    if link and (link.exists() or link.is_symlink()) and not (link.is_symlink() and os.readlink(link) == target):
        raise UnsafeWrite(f"exists and is not a link to {target}; left alone", link)
    main_old = main_new = None
    if layout.enable_by == "include":
        main_old = _refuse_existing(layout.main, True)
        line = _include_line(layout, path)
        if line not in main_old.decode(errors="replace").splitlines():
            main_new = main_old + (b"" if main_old.endswith(b"\n") or not main_old else b"\n") + \
                f"# added by apachemaint new --enable\n{line}\n".encode()
    srv = server.load(layout.main, layout) if test else None
    tx = Transaction(servers=[srv] if srv else [],
                     rejected="Apache rejects the server config with the new site, which was taken away again",
                     hint=f" (the site needs: a2enmod {' '.join(site.modules)})")
    if not sites.is_dir():  # Arch, Homebrew, the httpd image ship no such folder: the first site makes it
        tx.folder(sites)
    tx.put(path, old, site.text.encode())
    if link and not link.is_symlink():
        tx.link(link, target)
    if main_new is not None:
        tx.edit(layout.main, main_old, main_new)
    saved = tx.commit()
    tested = "not config-tested"
    if srv:
        tested = f"config test of {layout.main}: {tx.tested.get(srv.main, 'not run (nothing changed)')}"
    return Enabled(path, link, layout.main, saved, tested, layout.name, layout.enable_by)
