"""Shared fixtures. The test bed: a real Apache on loopback (`apache_factory`) in front of
a recording backend (`backend`)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from apachemaint.httpd import LoopbackApache, find_binary

NO_APACHE = "apache2 not installed; apt-get install apache2"


def require_apache() -> str:
    """The httpd binary; skips the test without one, but fails it on CI, where a
    skipped behaviour suite would pass for the wrong reason."""
    binary = find_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {NO_APACHE}", pytrace=False)
        pytest.skip(NO_APACHE)
    return binary


def _real_state_dirs() -> list[Path]:
    """The state folders apachemaint uses when APACHEMAINT_STATE_DIR is not set, and the
    cache folder when APACHEMAINT_CACHE_DIR is not."""
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path("/var/lib/apachemaint"), Path(xdg) / "apachemaint", Path(cache) / "apachemaint"]


def _snapshot(folder: Path) -> tuple | None:
    """What a test run could change in a state folder: its existence and every entry."""
    try:
        st = folder.stat()
    except OSError:
        return None
    entries = []
    for dirpath, _dirs, names in os.walk(folder):
        entries += [(dirpath, n) for n in sorted(names + _dirs)]
    return st.st_mtime_ns, sorted(entries)


@pytest.fixture(scope="session", autouse=True)
def real_state_untouched() -> Iterator[None]:
    """The suite fails if any test (or a child it forked or ran) created or changed the
    real state folders: a bare `restore` there would put back a test's file."""
    folders = _real_state_dirs()
    before = {f: _snapshot(f) for f in folders}
    yield
    touched = [str(f) for f in folders if _snapshot(f) != before[f]]
    assert not touched, f"the test run touched the real state folder(s): {', '.join(touched)}"


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own APACHEMAINT_STATE_DIR, inherited by what it forks or runs."""
    state = tmp_path_factory.mktemp("state") / "apachemaint"
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(state))
    return state


@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own APACHEMAINT_CACHE_DIR (servercache), never the user's."""
    cache = tmp_path_factory.mktemp("cache") / "apachemaint"
    monkeypatch.setenv("APACHEMAINT_CACHE_DIR", str(cache))
    return cache


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("apache"):
        require_apache()


@pytest.fixture(scope="session")
def apache_binary() -> str:
    return require_apache()


def served_dir(prefix: str = "apachemaint-test-") -> Path:
    """A fresh temp folder Apache's unprivileged workers can reach.

    Not under pytest's own base folder: every pytest session resets that to 0700, which cuts
    Apache's workers off from the files of any other session still running on the machine
    (its flag file then looks absent, and its pages answer 403)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture
def served_tmp_path() -> Iterator[Path]:
    """A temp folder reachable by Apache's workers (files written with umask 022 are servable)."""
    path = served_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def apache_factory(served_tmp_path: Path, apache_binary: str) -> Iterator[Callable[..., LoopbackApache]]:
    """`make(includes, defines=None, **kw)` -> a started LoopbackApache, stopped at teardown."""
    tmp_path = served_tmp_path
    started: list[LoopbackApache] = []

    def make(includes: list[Path], defines: dict[str, str] | None = None, **kw) -> LoopbackApache:
        apache = LoopbackApache(tmp_path / f"apache{len(started)}", list(includes),
                                defines=defines, binary=apache_binary, **kw)
        started.append(apache)
        return apache.start()

    yield make
    for apache in reversed(started):
        apache.stop()


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    # "localhost" may resolve to ::1, where Apache's ProxyPass to 127.0.0.1 would not reach.
    return ("127.0.0.1", 0)


@pytest.fixture
def backend(httpserver: HTTPServer) -> HTTPServer:
    """Answers every path with 200 `backend:<path>`; `len(backend.log)` counts what reached it."""
    httpserver.expect_request(re.compile(".*")).respond_with_handler(
        lambda request: Response(f"backend:{request.path}", content_type="text/plain"))
    return httpserver


def serve_patched_proxy(apache_factory, backend, root: Path, **given):
    """fixtures/served/proxy.conf, patched with `given` block options, served by a real Apache
    in front of `backend`; returns (conf, docroot, apache). The docroot is root/www."""
    from apachemaint import patch as patching

    docroot = root / "www"
    docroot.mkdir(exist_ok=True)
    conf = root / "proxy.conf"
    shutil.copy(Path(__file__).resolve().parent.parent / "fixtures" / "served" / "proxy.conf", conf)
    patching.apply([patching.plan(conf, given)], configtest=False)
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)})
    return conf, docroot, apache
