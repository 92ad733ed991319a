"""Find and run Apache httpd: `configtest` is the ground truth for a config, and
`LoopbackApache` is the real server that behaviour tests and the demo talk HTTP to."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .envvars import debian_envvars  # noqa: F401 - its home is envvars; callers use it from here too
from .errors import ApacheMaintError

BINARY_NAMES = ("apache2", "httpd")
BINARY_PATHS = ("/usr/sbin/apache2", "/usr/sbin/httpd", "/usr/local/apache2/bin/httpd")
# Debian/Ubuntu, RHEL/Fedora, Arch, the httpd Docker image and source builds.
MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/lib/httpd/modules",
               "/usr/local/apache2/modules")
DEFAULT_MODULES = ("mpm_event", "authz_core", "authz_host", "dir", "mime", "alias", "rewrite",
                   "headers", "proxy", "proxy_http", "remoteip", "setenvif", "expires")
# Debian compiles these in (LoadModule on them is an error), other builds ship them
# as .so files; the config loads them only where they are missing.
LINKED_ELSEWHERE = ("log_config", "unixd")
RUN_USERS = ("www-data", "apache", "daemon", "nobody")
MIME_TYPES = ("/etc/mime.types", "/etc/httpd/conf/mime.types", "/usr/local/apache2/conf/mime.types")
CONFIGTEST_TIMEOUT = 60.0
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class HttpdError(ApacheMaintError):
    """Apache could not be found, started or stopped."""


def find_binary() -> str | None:
    for name in BINARY_NAMES:
        if found := shutil.which(name):
            return found
    # /usr/sbin is often missing from PATH for non-root users.
    return next((p for p in BINARY_PATHS if os.access(p, os.X_OK)), None)


def module_dir(binary: str | None = None) -> Path | None:
    candidates = [Path(d) for d in MODULE_DIRS]
    if binary:
        # A source build keeps its modules next to bin/, whatever its prefix.
        candidates.insert(0, Path(binary).resolve().parent.parent / "modules")
    return next((d for d in candidates if d.is_dir()), None)


def configtest(main_conf: Path, *, server_root: Path | None = None,
               env: dict | None = None, binary: str | None = None) -> tuple[bool, str]:
    binary = binary or find_binary()
    if binary is None:
        raise HttpdError("no Apache httpd binary found (apache2 or httpd)")
    cmd = [binary, "-t", "-f", str(main_conf)]
    if server_root is not None:
        cmd += ["-d", str(server_root)]
    try:
        done = subprocess.run(cmd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=CONFIGTEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"{' '.join(cmd)} did not finish within {CONFIGTEST_TIMEOUT:.0f} s"
    return done.returncode == 0, done.stdout.decode(errors="replace").strip()


_SYNTAX_AT = re.compile(r"Syntax error on line (\d+) of ([^:]*):")


@dataclass(frozen=True)
class TestFailure:
    """Why `apache2 -t` failed, reduced to the line that says so."""
    reason: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"Syntax error on line {self.line} of {self.file}: " if self.line else ""
        return where + self.reason


def explain(output: str) -> TestFailure:
    """The reason in httpd's config test output, and the file and line it names.

    httpd prints warnings (undefined variables and the like) first, nests "Syntax error on
    line N of F:" once per Include level, and puts the reason after the innermost one or
    on the next line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and "Syntax OK" not in ln]
    for i, line in enumerate(lines):
        found = list(_SYNTAX_AT.finditer(line))
        if found:
            last = found[-1]
            reason = line[last.end():].strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            return TestFailure(reason, last.group(2), int(last.group(1)))
    errors = [ln for ln in lines if ":warn]" not in ln] or lines
    return TestFailure(errors[0] if errors else output.strip())


def free_port(host: str = "127.0.0.1") -> int:
    import socket  # only the test Apache needs sockets: `check` reads envvars from here

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _quote(value: object) -> str:
    text = str(value)
    if '"' in text or "\n" in text or text.endswith("\\"):
        raise ValueError(f"cannot quote {text!r} for an Apache config")
    return f'"{text}"'


def _run_as() -> tuple[str, str] | None:
    # `User root` is refused, so a root parent must hand its workers to someone else.
    if os.geteuid() != 0:
        return None
    users = {u.pw_name: u for u in pwd.getpwall()}
    if name := next((u for u in RUN_USERS if u in users), None):
        return name, grp.getgrgid(users[name].pw_gid).gr_name
    raise HttpdError(f"running as root but none of the users {RUN_USERS} exists")


class LoopbackApache:
    """A real Apache httpd on a loopback address (127.0.0.1 unless `host` says otherwise: any
    127.x works on Linux, so several "servers" can share one machine), configured and logging
    entirely inside `root`."""

    def __init__(self, root: Path, includes: list[Path], *, defines: dict[str, str] | None = None,
                 port: int | None = None, modules: tuple[str, ...] = DEFAULT_MODULES,
                 extra_config: str = "", binary: str | None = None, host: str = "127.0.0.1"):
        self.root = Path(root).resolve()
        self.host = host
        self.includes = [Path(p) for p in includes]
        self.defines = dict(defines or {})
        self.port = port or free_port(host)
        self._port_given = port is not None
        self.modules = tuple(modules)
        self.extra_config = extra_config
        self.binary = binary or find_binary()
        if self.binary is None:
            raise HttpdError("no Apache httpd binary found (apache2 or httpd)")
        self.conf = self.root / "httpd.conf"
        self.pid_file = self.root / "httpd.pid"
        self.error_log_path = self.root / "error.log"
        self.access_log_path = self.root / "access.log"
        self._proc: subprocess.Popen | None = None

    def render(self) -> str:
        mods = module_dir(self.binary)
        if mods is None:
            raise HttpdError(f"no Apache module directory among {MODULE_DIRS}")
        types = next((p for p in MIME_TYPES if os.path.isfile(p)), None)
        lines = [
            f"ServerRoot {_quote(self.root)}",
            f"PidFile {_quote(self.pid_file)}",
            f"ErrorLog {_quote(self.error_log_path)}",
            "LogLevel warn",
            f"Mutex file:{self.root / 'run'} default",
            f"DefaultRuntimeDir {_quote(self.root / 'run')}",
            f"Listen {self.host}:{self.port}",
            f"ServerName {self.host}",
        ]
        for name in LINKED_ELSEWHERE:
            if (mods / f"mod_{name}.so").exists():
                lines.append(f"<IfModule !{name}_module>\n    LoadModule {name}_module "
                             f"{_quote(mods / f'mod_{name}.so')}\n</IfModule>")
        lines += [f"LoadModule {m}_module {_quote(mods / f'mod_{m}.so')}" for m in self.modules]
        lines += [
            # %a is the client as mod_remoteip sees it, %{c}a the TCP peer.
            'LogFormat "%a %{c}a \\"%r\\" %>s %B \\"%{Host}i\\"" apachemaint',
            f"CustomLog {_quote(self.access_log_path)} apachemaint",
            f"DocumentRoot {_quote(self.root / 'htdocs')}",
        ]
        if types:  # without it mod_mime wants ServerRoot/conf/mime.types and fails
            lines.append(f"TypesConfig {_quote(types)}")
        if run_as := _run_as():
            lines += [f"User {run_as[0]}", f"Group {run_as[1]}"]
        defines = {**self.defines, "APACHEMAINT_PORT": str(self.port)}
        lines += [f"Define {name} {_quote(value)}" for name, value in defines.items()]
        # Debian's stock default: nothing is served unless a vhost grants it.
        lines += ["<Directory />", "    AllowOverride None", "    Require all denied", "</Directory>"]
        if self.extra_config:
            lines.append(self.extra_config)
        lines += [f"Include {_quote(p)}" for p in self.includes]
        return "\n".join(lines) + "\n"

    def write_config(self) -> Path:
        # Workers drop to www-data; they need to traverse root and use the runtime dir.
        for d in (self.root, self.root / "run", self.root / "htdocs"):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        self.conf.write_text(self.render())
        return self.conf

    def configtest(self) -> tuple[bool, str]:
        return configtest(self.write_config(), server_root=self.root, binary=self.binary)

    def start(self) -> LoopbackApache:
        if self._proc is not None:
            raise HttpdError("already started")
        # free_port() can lose a race for the port; only retry a port we picked ourselves.
        for _ in range(1 if self._port_given else 3):
            try:
                self._spawn()
                return self
            except HttpdError as e:
                if self._port_given or "could not bind" not in str(e):
                    raise
                self.port = free_port(self.host)
        raise HttpdError(f"no free port after 3 tries:\n{self.error_log()}")

    def _spawn(self) -> None:
        self.write_config()
        self.pid_file.unlink(missing_ok=True)
        with open(self.root / "stdout.log", "ab") as out, open(self.root / "stderr.log", "ab") as err:
            # A session of its own, so a kill can take the workers too.
            self._proc = subprocess.Popen([self.binary, "-f", str(self.conf), "-DFOREGROUND"],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise HttpdError(f"apache exited with {code} during start:\n{self._diagnostics()}")
            # Apache writes its pid only once its listeners are bound; a connect alone
            # could be answered by whoever else holds the port.
            if _read(self.pid_file).strip() == str(self._proc.pid):
                with contextlib.suppress(OSError):
                    import socket

                    socket.create_connection((self.host, self.port), timeout=0.2).close()
                    return
            time.sleep(0.01)
        self.stop()
        raise HttpdError(f"apache did not listen on port {self.port} within {START_TIMEOUT:.0f} s:\n"
                         f"{self._diagnostics()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> LoopbackApache:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def error_log(self) -> str:
        return _read(self.error_log_path)

    def access_log_lines(self, *, at_least: int = 0, timeout: float = 2.0) -> list[str]:
        # Apache logs a request only after the client has its response, so callers wait.
        deadline = time.monotonic() + timeout
        while True:
            lines = _read(self.access_log_path).splitlines()
            if len(lines) >= at_least or time.monotonic() >= deadline:
                return lines
            time.sleep(0.01)

    def _diagnostics(self) -> str:
        parts = [self.error_log(), _read(self.root / "stderr.log")]
        return "\n".join(p.strip() for p in parts if p.strip()) or "(no output)"


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
