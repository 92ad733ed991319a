"""The test bed itself: a real Apache on loopback, its config test, and its lifecycle."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import pytest
from http_client import get

from apachemaint.httpd import HttpdError, LoopbackApache, configtest, debian_envvars

apache = pytest.mark.apache

STATIC_VHOST = """\
<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>
    DocumentRoot ${DOCROOT}
    <Directory ${DOCROOT}>
        Require all granted
    </Directory>
</VirtualHost>
"""

PROXY_VHOST = """\
<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>
    DocumentRoot ${DOCROOT}
    ProxyPass / http://127.0.0.1:${BACKEND_PORT}/
</VirtualHost>
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def docroot(served_tmp_path: Path) -> Path:
    root = served_tmp_path / "docroot"
    root.mkdir()
    return root


def children_of(pid: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.add(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@apache
def test_static_vhost_serves_file_bytes(apache_factory, tmp_path, docroot):
    payload = bytes(range(256)) * 4
    write(docroot / "blob.bin", payload)
    vhost = write(tmp_path / "static.conf", STATIC_VHOST)
    server = apache_factory([vhost], defines={"DOCROOT": str(docroot)})

    resp = get(server.url("/blob.bin"))

    assert resp.status == 200
    assert resp.body == payload
    assert resp.headers["content-length"] == str(len(payload))


@apache
def test_proxy_vhost_reaches_backend_once_per_request(apache_factory, backend, tmp_path, docroot):
    vhost = write(tmp_path / "proxy.conf", PROXY_VHOST)
    server = apache_factory([vhost], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)})
    paths = ["/", "/a", "/deep/path"]

    bodies = [get(server.url(p)) for p in paths]

    assert [(r.status, r.text) for r in bodies] == [(200, f"backend:{p}") for p in paths]
    assert len(backend.log) == len(paths)
    assert len(server.access_log_lines(at_least=len(paths))) == len(paths)


@apache
def test_configtest_reports_the_broken_line(tmp_path):
    bad = write(tmp_path / "bad.conf", "<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>\n"
                                       "    NoSuchDirective on\n</VirtualHost>\n")
    server = LoopbackApache(tmp_path / "apache", [bad])

    ok, output = server.configtest()

    assert not ok
    assert "Invalid command 'NoSuchDirective'" in output
    assert f"line 2 of {bad}" in output


@apache
def test_configtest_passes_good_config(tmp_path, docroot):
    good = write(tmp_path / "good.conf", STATIC_VHOST)
    server = LoopbackApache(tmp_path / "apache", [good], defines={"DOCROOT": str(docroot)})

    assert server.configtest() == (True, "Syntax OK")
    # The module-level function gives the same answer on the written file.
    assert configtest(server.conf, server_root=server.root) == (True, "Syntax OK")


@apache
def test_start_failure_raises_with_apache_message(tmp_path):
    bad = write(tmp_path / "bad.conf", "NoSuchDirective on\n")
    server = LoopbackApache(tmp_path / "apache", [bad])

    with pytest.raises(HttpdError, match="Invalid command 'NoSuchDirective'"):
        server.start()
    assert server.pid is None


@apache
def test_stop_leaves_no_process_behind(served_tmp_path, docroot):
    tmp_path = served_tmp_path
    vhost = write(tmp_path / "static.conf", STATIC_VHOST)
    write(docroot / "index.html", "hi\n")
    with LoopbackApache(tmp_path / "apache", [vhost], defines={"DOCROOT": str(docroot)}) as server:
        assert get(server.url("/index.html")).status == 200
        pid, port = server.pid, server.port
        workers = children_of(pid)
        assert workers, "the event MPM should have forked workers"

    assert server.pid is None
    assert not alive(pid)
    assert not any(alive(w) for w in workers)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@apache
def test_requests_from_another_loopback_address(apache_factory, tmp_path, docroot):
    write(docroot / "index.html", "hi\n")
    vhost = write(tmp_path / "static.conf", STATIC_VHOST)
    server = apache_factory([vhost], defines={"DOCROOT": str(docroot)})

    resp = get(server.url("/index.html"), source_address="127.0.0.2")

    assert resp.status == 200
    [line] = server.access_log_lines(at_least=1)
    assert line.startswith("127.0.0.2 127.0.0.2 ")


def test_debian_envvars_reads_simple_exports(tmp_path):
    envvars = write(tmp_path / "envvars", textwrap.dedent("""\
        unset HOME
        if [ "${APACHE_CONFDIR##/etc/apache2-}" != "${APACHE_CONFDIR}" ] ; then
        \tSUFFIX="-${APACHE_CONFDIR##/etc/apache2-}"
        else
        \tSUFFIX=
        fi
        export APACHE_RUN_USER=www-data
        export APACHE_RUN_DIR=/var/run/apache2$SUFFIX
        export APACHE_LOG_DIR="/var/log/apache2${SUFFIX}"  # logrotate knows this one
        export APACHE_LITERAL='$NOT_EXPANDED'
        export APACHE_CONF=${APACHE_CONFDIR}/conf
        export APACHE_CMD=$(hostname)
        export APACHE_TWO=two words
        LANG=C
        export LANG
        """))

    assert debian_envvars(envvars, known={"APACHE_CONFDIR": "/etc/apache2"}) == {
        "APACHE_RUN_USER": "www-data",
        "APACHE_RUN_DIR": "/var/run/apache2",
        "APACHE_LOG_DIR": "/var/log/apache2",
        "APACHE_LITERAL": "$NOT_EXPANDED",
        "APACHE_CONF": "/etc/apache2/conf",
        "LANG": "C",
    }
