"""Where each platform keeps Apache httpd, as data: one complete record per platform
(certbot's ``OsOptions`` with one ``override_<os>`` per distribution, as rows).

A record says where the main config and ServerRoot are, where sites go and how a site is
switched on (``link``: Debian's a2ensite link in sites-enabled; ``folder``: the server
loads every ``*.conf`` of the sites folder, RHEL's conf.d; ``include``: an ``Include``
line for the site is added to the main config), the binary and ctl names, the module
folder, the envvars file, the run user and group and the config-test command.

Recognition does not go by the main config's path alone (SUSE, Gentoo and Alpine all have
/etc/apache2/httpd.conf; RHEL and Arch both /etc/httpd/conf/httpd.conf): the main config
must exist, then /etc/os-release ID and ID_LIKE and the platform's binaries and paths pick
among the records that fit.  Everything is looked up under a root, ``/`` unless
``APACHEMAINT_ROOT`` names another (for tests: a fixture tree stands in for a machine).

Adding a platform is adding a record here and a fixture tree under fixtures/layouts/.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

# Compiled into Debian's apache2 (`apache2 -l`); LoadModule on them is an error there.
DEBIAN_BUILTIN = frozenset({"core", "so", "watchdog", "http_core", "http", "log_config", "logio",
                            "version", "unixd"})
MINIMAL_BUILTIN = frozenset({"core", "so", "http_core", "http"})

ENABLE_BY = ("link", "folder", "include")


@dataclass(frozen=True)
class Layout:
    name: str
    main: Path  # the file httpd is started with
    server_root: Path
    envvars: str | None = None  # a shell file of APACHE_* variables next to main (Debian)
    builtin_modules: frozenset[str] = MINIMAL_BUILTIN
    # Beside the platform's web root, not in it: where a vhost without a DocumentRoot gets
    # its page, in a folder named after its ServerName (see location.own_page).
    site_pages: Path = Path("/var/www/apachemaint")
    title: str = ""
    conf_dir: Path | None = None  # the folder the sites folders are relative to (default: server_root)
    sites: str | None = None  # where a new site's file goes, relative to conf_dir
    enabled: str | None = None  # enable_by "link": where its relative link goes
    enable_by: str = "folder"
    binary: str = "httpd"
    ctl: str = "apachectl"
    modules_dir: Path | None = None
    run_user: str = "apache"
    run_group: str = "apache"
    configtest: tuple[str, ...] = ("apachectl", "configtest")
    os_ids: tuple[str, ...] = ()  # /etc/os-release ID or ID_LIKE values that mean this platform
    markers: tuple[Path, ...] = ()  # binaries and paths that only this platform has

    @property
    def base(self) -> Path:
        return self.conf_dir or self.server_root

    def under(self, root: Path) -> Layout:
        """This record as seen from a machine whose ``/`` is ``root``."""
        if str(root) == "/":
            return self
        def moved(p: Path | None) -> Path | None:
            return None if p is None else _under(root, p)
        return replace(self, main=moved(self.main), server_root=moved(self.server_root),
                       conf_dir=moved(self.conf_dir))

    def at(self, main: Path) -> Layout | None:
        """This record moved so that its main config is ``main`` (a copy of the tree, or a
        tree under a fake root), when ``main`` ends as this record's main does."""
        rel = self.main.relative_to(self.base).parts
        main = Path(main).absolute()
        if main.parts[-len(rel):] != rel:
            return None
        base = Path(*main.parts[:-len(rel)])
        moved_root = self.server_root
        if self.conf_dir is None or self.server_root.is_relative_to(self.conf_dir):
            moved_root = base / self.server_root.relative_to(self.base)
        return replace(self, main=main, server_root=moved_root,
                       conf_dir=base if self.conf_dir is not None else None)

    def sites_folder(self) -> Path | None:
        return self.base / self.sites if self.sites else None

    def enabled_folder(self) -> Path | None:
        return self.base / self.enabled if self.enabled else None


def _homebrew(name: str, prefix: str, title: str) -> Layout:
    p = Path(prefix)
    return Layout(name, p / "etc/httpd/httpd.conf", p / "opt/httpd", conf_dir=p / "etc/httpd",
                  site_pages=p / "var/www/apachemaint", title=title, sites="vhosts", enable_by="include",
                  binary=str(p / "bin/httpd"), ctl=str(p / "bin/apachectl"), modules_dir=p / "lib/httpd/modules",
                  run_user="_www", run_group="_www", configtest=(str(p / "bin/apachectl"), "configtest"),
                  markers=(p / "bin/brew",))


LAYOUTS = (
    Layout("debian", Path("/etc/apache2/apache2.conf"), Path("/etc/apache2"), envvars="envvars",
           builtin_modules=DEBIAN_BUILTIN, title="Debian, Ubuntu", sites="sites-available",
           enabled="sites-enabled", enable_by="link", binary="/usr/sbin/apache2", ctl="/usr/sbin/apache2ctl",
           modules_dir=Path("/usr/lib/apache2/modules"), run_user="www-data", run_group="www-data",
           configtest=("apache2ctl", "configtest"), os_ids=("debian", "ubuntu"),
           markers=(Path("/usr/sbin/a2ensite"), Path("/usr/sbin/apache2"))),
    Layout("rhel", Path("/etc/httpd/conf/httpd.conf"), Path("/etc/httpd"), title="RHEL, Fedora, Alma, Rocky",
           sites="conf.d", binary="/usr/sbin/httpd", ctl="/usr/sbin/apachectl",
           modules_dir=Path("/usr/lib64/httpd/modules"), configtest=("apachectl", "configtest"),
           os_ids=("rhel", "fedora", "centos", "almalinux", "rocky"),
           markers=(Path("/etc/httpd/conf.modules.d"), Path("/etc/redhat-release"))),
    Layout("suse", Path("/etc/apache2/httpd.conf"), Path("/srv/www"), conf_dir=Path("/etc/apache2"),
           site_pages=Path("/srv/www/apachemaint"), title="SUSE, openSUSE", sites="vhosts.d",
           binary="/usr/sbin/httpd", ctl="/usr/sbin/apachectl", modules_dir=Path("/usr/lib64/apache2"),
           run_user="wwwrun", run_group="www", configtest=("apachectl", "-t"),
           os_ids=("suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"),
           markers=(Path("/etc/sysconfig/apache2"), Path("/usr/sbin/a2enmod"))),
    Layout("arch", Path("/etc/httpd/conf/httpd.conf"), Path("/etc/httpd"), site_pages=Path("/srv/http/apachemaint"),
           title="Arch Linux", sites="conf/vhosts", enable_by="include", binary="/usr/bin/httpd",
           ctl="/usr/bin/apachectl", modules_dir=Path("/usr/lib/httpd/modules"), run_user="http",
           run_group="http", configtest=("apachectl", "configtest"), os_ids=("arch",),
           markers=(Path("/usr/bin/pacman"),)),
    Layout("gentoo", Path("/etc/apache2/httpd.conf"), Path("/usr/lib64/apache2"), conf_dir=Path("/etc/apache2"),
           title="Gentoo", sites="vhosts.d", binary="/usr/sbin/apache2", ctl="/usr/sbin/apache2ctl",
           modules_dir=Path("/usr/lib64/apache2/modules"), configtest=("apache2ctl", "configtest"),
           os_ids=("gentoo",), markers=(Path("/etc/conf.d/apache2"), Path("/etc/apache2/modules.d"))),
    Layout("alpine", Path("/etc/apache2/httpd.conf"), Path("/var/www"), conf_dir=Path("/etc/apache2"),
           title="Alpine Linux", sites="conf.d", binary="/usr/sbin/httpd", ctl="/usr/sbin/apachectl",
           modules_dir=Path("/usr/lib/apache2"), configtest=("apachectl", "configtest"), os_ids=("alpine",),
           markers=(Path("/etc/alpine-release"),)),
    Layout("freebsd", Path("/usr/local/etc/apache24/httpd.conf"), Path("/usr/local"),
           conf_dir=Path("/usr/local/etc/apache24"), site_pages=Path("/usr/local/www/apachemaint"),
           title="FreeBSD", sites="Includes", binary="/usr/local/sbin/httpd", ctl="/usr/local/sbin/apachectl",
           modules_dir=Path("/usr/local/libexec/apache24"), run_user="www", run_group="www",
           configtest=("apachectl", "configtest"), os_ids=("freebsd",),
           markers=(Path("/usr/local/sbin/httpd"), Path("/bin/freebsd-version"))),
    _homebrew("homebrew-arm", "/opt/homebrew", "macOS Homebrew (Apple silicon)"),
    _homebrew("homebrew-intel", "/usr/local", "macOS Homebrew (Intel)"),
    Layout("httpd-image", Path("/usr/local/apache2/conf/httpd.conf"), Path("/usr/local/apache2"),
           site_pages=Path("/usr/local/apache2/apachemaint"), title="httpd container image", sites="conf/vhosts",
           enable_by="include", binary="/usr/local/apache2/bin/httpd", ctl="/usr/local/apache2/bin/apachectl",
           modules_dir=Path("/usr/local/apache2/modules"), run_user="daemon", run_group="daemon",
           configtest=("httpd", "-t"), markers=(Path("/usr/local/apache2/bin/httpd"),)),
)


def by_name(name: str) -> Layout | None:
    return next((lay for lay in LAYOUTS if lay.name == name), None)


def root() -> Path:
    """The machine's ``/``: APACHEMAINT_ROOT, which tests set to a fixture tree, or ``/``."""
    return Path(os.environ.get("APACHEMAINT_ROOT") or "/").absolute()


def os_release(at: Path | None = None) -> dict[str, str]:
    """/etc/os-release (or /usr/lib/os-release) under ``at``: its KEY=value lines."""
    at = at or root()
    for name in ("etc/os-release", "usr/lib/os-release"):
        path = at / name
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        found = {}
        for line in text.splitlines():
            key, eq, value = line.strip().partition("=")
            if eq and key and not key.startswith("#"):
                found[key] = value.strip().strip("\"'")
        return found
    return {}


def _score(lay: Layout, at: Path, ids: tuple[str, list[str]]) -> int:
    own, like = ids
    score = 0
    if own in lay.os_ids:
        score += 4
    elif any(i in lay.os_ids for i in like):
        score += 2
    return score + sum(1 for m in lay.markers if _under(at, m).exists())


def _under(at: Path, p: Path) -> Path:
    return p if str(at) == "/" else Path(str(at) + str(p))


def candidates(at: Path | None = None) -> list[tuple[Layout, int]]:
    """Every record whose main config exists under ``at``, best fit first, with its score."""
    at = at or root()
    ids = _ids(os_release(at))
    found = [(lay.under(at), _score(lay, at, ids)) for lay in LAYOUTS if lay.under(at).main.is_file()]
    return sorted(found, key=lambda pair: -pair[1])  # stable: LAYOUTS order breaks ties


def recognise(at: Path | None = None) -> Layout | None:
    """The platform this machine (or the tree at ``at``) is, as seen from its root."""
    found = candidates(at)
    return found[0][0] if found else None


def for_config(main: Path, at: Path | None = None) -> Layout | None:
    """The record a main server config given by path is laid out as.  Among the records its
    path fits: the machine's own; else, when the path is a record's main under some folder
    with an os-release (a tree copied whole), the best fit for that folder; else the best
    fit whose sites folder exists."""
    main = Path(main).absolute()
    fits = [(lay, lay.at(main)) for lay in LAYOUTS]
    fits = [(lay, moved) for lay, moved in fits if moved is not None]
    if not fits:
        return None
    here = recognise(at)
    if here is not None and here.main == main:
        return here
    for lay, _moved in fits:
        if str(main).endswith(str(lay.main)) and len(str(main)) > len(str(lay.main)):
            tree = Path(str(main)[:-len(str(lay.main))])
            if os_release(tree):
                best = recognise(tree)
                if best is not None and best.main == main:
                    return best
    ids = _ids(os_release(at))
    with_sites = [moved for _lay, moved in fits if moved.sites_folder() and moved.sites_folder().is_dir()]
    pool = with_sites or [moved for _lay, moved in fits]
    return max(pool, key=lambda lay: _score(lay, at or root(), ids))


def _ids(rel: dict[str, str]) -> tuple[str, list[str]]:
    return rel.get("ID", "").lower(), rel.get("ID_LIKE", "").lower().split()


def how_enabled(lay: Layout) -> str:
    """In words: where a new site goes and what switches it on."""
    if not lay.sites:
        return "no sites folder"
    if lay.enable_by == "link":
        return f"{lay.sites}/ + a link in {lay.enabled}/"
    if lay.enable_by == "include":
        return f"{lay.sites}/ + an Include line in {lay.main.name}"
    return f"{lay.sites}/ (read whole)"


def listing(at: Path | None = None) -> str:
    """Every record, one line each, the recognised one marked ``*``; its paths as seen from ``at``."""
    here = recognise(at)
    rows = [("", "NAME", "PLATFORM", "MAIN CONFIG", "SITES", "BINARY", "USER", "CONFIG TEST")]
    for lay in LAYOUTS:
        mark = "*" if here is not None and here.name == lay.name else ""
        rows.append((mark, lay.name, lay.title, str(lay.main), how_enabled(lay), lay.binary,
                     f"{lay.run_user}:{lay.run_group}", " ".join(lay.configtest)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    found = (f"recognised: {here.name} ({here.main})" if here is not None
             else "recognised: none (no known main config found)")
    return "\n".join(lines) + "\n" + found + "\n"
