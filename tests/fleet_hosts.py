"""A fleet of "web servers" on this one machine, for the Capistrano and Ansible tests: each a real
Apache on its own loopback address (127.0.0.2, .3, .4) with its own docroot, and one sshd
listening on all three addresses with a host key and a client key made here.  Deploy tools
reach each server by its address, as they would reach real ones; what runs "on" a server is
this machine's apachemaint (the interpreter running the tests, with this tree on its path)."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import served_dir
from run_cli import apachemaint as apachemaint_cli

import apachemaint
from apachemaint.httpd import DEFAULT_MODULES, LoopbackApache, free_port

# Settable, so that two suites can run side by side on one machine.
ADDRESSES = tuple(os.environ.get("APACHEMAINT_FLEET_ADDRESSES", "127.0.0.2,127.0.0.3,127.0.0.4").split(","))
SSHD_PATHS = ("/usr/sbin/sshd", "/usr/bin/sshd")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
TOOL_TIMEOUT = 120  # one cap or ansible-playbook run
# The source tree whose apachemaint the servers run (PYTHONPATH): a checkout, or an unpacked
# sdist installed with `pip install -e .`.
REPO = Path(apachemaint.__file__).resolve().parent.parent
CONTRIB = REPO / "contrib"
# .ci/run installs all of them; the hint is for a developer's machine.
INSTALL_HINT = {"cap": "apt-get install capistrano", "ansible-playbook": "pip install -e '.[fleet]'",
                "sshd": "apt-get install openssh-server", "ssh-keygen": "apt-get install openssh-client",
                "ssh": "apt-get install openssh-client"}


def require_tool(name: str) -> str:
    """The tool's path; skips without it, but fails under CI=true, where .ci/run installs it."""
    beside = Path(sys.executable).parent / name  # ansible-core in the same virtualenv
    found = (str(beside) if beside.is_file() else shutil.which(name)
             or next((p for p in SSHD_PATHS if name == "sshd" and os.access(p, os.X_OK)), None))
    if found is None:
        why = f"{name} not installed ({INSTALL_HINT.get(name, 'install it')})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)
    return found


def require_source_tree() -> None:
    """Skips (fails under CI=true) when apachemaint was imported from an installed package, where
    REPO holds no gem/, collection/ or contrib/ and PYTHONPATH=REPO would not be this tree."""
    if not (REPO / "gem").is_dir() or REPO != Path(__file__).resolve().parent.parent:
        why = f"apachemaint is imported from {REPO}, not from this source tree (pip install -e .)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)


def require_root() -> None:
    # sshd needs root to switch to the logged-in user, and it has to log in as someone.
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but the fleet tests need root (sshd)", pytrace=False)
        pytest.skip("the fleet tests need root to run sshd")


@dataclass
class WebServer:
    name: str
    address: str
    apache: LoopbackApache
    docroot: Path
    vhost: Path

    def url(self, path: str = "/") -> str:
        return self.apache.url(path)

    @property
    def page(self) -> Path:
        return self.docroot / "system" / "maintenance.html"

    @property
    def reload_command(self) -> list[str]:
        return [self.apache.binary, "-f", str(self.apache.conf), "-k", "graceful"]


class Sshd:
    """One sshd on `port` of every address, root login by key only, everything in `root`."""

    def __init__(self, root: Path, addresses: tuple[str, ...], env: dict[str, str]):
        self.root = root
        self.addresses = addresses
        self.port = free_port(addresses[0])
        self.env = env
        self.client_key = root / "client_key"
        self.known_hosts = root / "known_hosts"
        self._proc: subprocess.Popen | None = None

    def start(self, sshd: str, keygen: str) -> Sshd:
        self.root.mkdir(parents=True, exist_ok=True)
        host_key = self.root / "host_key"
        # ECDSA in PEM: Debian's net-ssh (Capistrano) needs the optional gems for ed25519, and
        # under OpenSSL 3 it cannot sign with an ECDSA key in OpenSSH's own format.
        for key in (host_key, self.client_key):
            subprocess.run([keygen, "-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "",
                            "-C", "apachemaint-test", "-f", str(key)], check=True, timeout=30)
        (self.root / "authorized_keys").write_text((self.root / "client_key.pub").read_text())
        public = (self.root / "host_key.pub").read_text().split()[:2]
        self.known_hosts.write_text("".join(f"[{a}]:{self.port} {' '.join(public)}\n" for a in self.addresses))
        env = " ".join(f'"{k}={v}"' for k, v in self.env.items())
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            *(f"ListenAddress {a}:{self.port}" for a in self.addresses),
            f"HostKey {host_key}",
            f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the key files live in a temp dir, not a proper ~/.ssh
            "Subsystem sftp internal-sftp",
            # The "servers" import this tree and keep patch checkpoints in the test's temp dir.
            f"SetEnv {env}",
            "LogLevel ERROR",
        ]) + "\n")
        # sshd refuses to start without its privilege-separation folder; the Debian service
        # makes it at boot, and nothing here has booted it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        check = subprocess.run([sshd, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"sshd -t failed: {check.stderr}")
        self._log = open(self.root / "sshd.log", "ab")
        self._proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                      stdout=self._log, stderr=self._log, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(self.addresses)
        while waiting and time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self._proc.returncode}: {self.log()}")
            try:
                with socket.create_connection((waiting[0], self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        waiting.pop(0)
                        continue
            except OSError:
                pass
            time.sleep(0.05)
        if waiting:
            self.stop()
            raise RuntimeError(f"sshd not listening on {waiting} within {START_TIMEOUT:.0f} s: {self.log()}")
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # The session also holds the per-connection children a tool may have left.
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Fleet:
    """Three web servers and the sshd in front of them; `close()` stops every process."""

    def __init__(self, root: Path, apache_binary: str, *, patched: bool):
        self.root = root
        self.python = sys.executable
        self.state = root / "state"
        self.servers: list[WebServer] = []
        self.sshd: Sshd | None = None
        self.apache_binary = apache_binary
        self.patched = patched

    def start(self) -> Fleet:
        require_source_tree()
        try:
            for address in ADDRESSES:
                self.servers.append(self._server(address))
            self.sshd = Sshd(self.root / "ssh", ADDRESSES, {
                "PYTHONPATH": str(REPO), "APACHEMAINT_STATE_DIR": str(self.state)}).start(
                require_tool("sshd"), require_tool("ssh-keygen"))
        except BaseException:
            self.close()
            raise
        return self

    def _server(self, address: str) -> WebServer:
        name = "web" + address.rsplit(".", 1)[1]
        root = self.root / name
        docroot = root / "www"
        docroot.mkdir(parents=True)
        (docroot / "index.html").write_text(f"app on {name}\n")
        # mod_negotiation, as Debian and RHEL load it: a window in several languages picks one.
        apache = LoopbackApache(root / "apache", [root / "site.conf"], binary=self.apache_binary, host=address,
                                modules=DEFAULT_MODULES + ("negotiation",))
        vhost = root / "site.conf"
        vhost.write_text(f"<VirtualHost *:{apache.port}>\n"
                         f"    ServerName {name}\n"
                         f'    DocumentRoot "{docroot}"\n'
                         f'    <Directory "{docroot}">\n'
                         "        Require all granted\n"
                         "    </Directory>\n"
                         "</VirtualHost>\n")
        if self.patched:
            done = apachemaint_cli("patch", "--no-configtest", vhost, state=self.state)
            assert done.returncode == 0, done.stderr
        server = WebServer(name, address, apache, docroot, vhost)
        apache.start()
        return server

    def close(self) -> None:
        if self.sshd:
            self.sshd.stop()
        for server in self.servers:
            server.apache.stop()

    def reset(self) -> None:
        """Every server up, with a writable docroot: each test starts from the same fleet."""
        for server in self.servers:
            system = server.docroot / "system"
            if system.is_file():
                system.unlink()
            shutil.rmtree(system, ignore_errors=True)


@contextlib.contextmanager
def fleet_root(prefix: str) -> Iterator[Path]:
    """A folder Apache's workers can reach (see conftest.served_dir), removed afterwards."""
    root = served_dir(f"apachemaint-{prefix}-")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def wait_for(predicate, *, timeout: float = 5.0, interval: float = 0.05):
    """Poll until `predicate()` is truthy or the time is up; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def break_docroot(server: WebServer) -> None:
    """A server where `down` cannot work: `system` is a file, so the page folder cannot be made."""
    shutil.rmtree(server.docroot / "system", ignore_errors=True)
    (server.docroot / "system").write_text("not a folder\n")


def run_tool(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=TOOL_TIMEOUT)


def argv_recorder(folder: Path, log: Path, state: Path, python: str = sys.executable) -> Path:
    """An `apachemaint` for the servers that first appends to ``log`` the command line of
    itself and of every process above it up to the sshd session (the sudo, the shell sshd
    started), one a line: what `ps` would have shown while it ran. It then runs this tree's
    apachemaint, with the environment set here, as an install under sudo's reset environment
    would have it."""
    wrapper = folder / "apachemaint-recording"
    wrapper.write_text(f"""#!/bin/sh
pid=$$
while [ "$pid" -gt 1 ]; do
    line=$(tr '\\0' ' ' < /proc/$pid/cmdline)
    echo "$line"
    case "$line" in sshd:*) break;; esac
    pid=$(sed 's/.*) //' /proc/$pid/stat | cut -d' ' -f2)
done >> '{log}'
exec env PYTHONPATH='{REPO}' APACHEMAINT_STATE_DIR='{state}' '{python}' -m apachemaint "$@"
""")
    wrapper.chmod(0o755)
    return wrapper


def leftover_secrets(secret: str) -> list[Path]:
    """Files in the servers' temp folders (``mktemp -d``'s) that still hold ``secret``."""
    found = []
    for path in Path("/tmp").glob("tmp.*/*"):  # sshd gives the servers no TMPDIR
        with contextlib.suppress(OSError):
            if secret in path.read_text(errors="replace"):
                found.append(path)
    return found
