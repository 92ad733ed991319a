"""Asset pass-through during maintenance (issue 15, item 4): only GET and HEAD of an asset
that exists under the DocumentRoot pass, and the operator's --allow-path as before.  Any
other method, a missing file (which a proxy vhost would hand to the backend) or a path that
only looks like an asset gets the 503 page.  Real Apache, counting backend."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from corpus import FIXTURES
from http_client import request

from apachemaint import patch as patching

pytestmark = pytest.mark.apache

PAGE = b"<!doctype html><title>Down</title><h1>Back soon</h1>\n"

# (method, path, passes): methods x existing/missing asset x case of extension x query strings.
PROBES = [
    ("GET", "/assets/app.css", True),
    ("HEAD", "/assets/app.js", True),
    ("GET", "/assets/LOGO.PNG", True),
    ("GET", "/assets/app.css?v=3", True),
    ("POST", "/assets/app.css", False),
    ("PUT", "/assets/app.js", False),
    ("DELETE", "/assets/app.js", False),
    ("OPTIONS", "/assets/app.css", False),
    ("POST", "/orders.js", False),
    ("GET", "/nonexistent.js", False),
    ("GET", "/NONEXISTENT.JS", False),
    ("GET", "/orders.js?callback=x", False),
    ("HEAD", "/missing.css", False),
    ("GET", "/assets/app.CSS", False),  # the file is app.css: no such file
    ("PATCH", "/api/orders?as=.js", False),
]
assert len(PROBES) == 15


def _start(apache_factory, backend, root: Path, conf_name: str):
    docroot = root / "www"
    (docroot / "assets").mkdir(parents=True)
    (docroot / "assets" / "app.css").write_text("body{}\n")
    (docroot / "assets" / "app.js").write_text("void 0;\n")
    (docroot / "assets" / "LOGO.PNG").write_bytes(b"\x89PNG fake\n")
    (docroot / "up").write_text("ok\n")
    conf = root / conf_name
    shutil.copy(FIXTURES / "served" / conf_name, conf)
    patching.apply([patching.plan(conf, {"allow_paths": ("/up",)})], configtest=False)
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)})
    (docroot / "system").mkdir()
    (docroot / "system" / "maintenance.html").write_bytes(PAGE)
    return apache


@pytest.mark.parametrize("conf_name,host", [("proxy.conf", "proxy.test"), ("static.conf", "static.test")])
def test_only_get_and_head_of_existing_assets_pass(conf_name, host, apache_factory, backend,
                                                    served_tmp_path, monkeypatch):
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(served_tmp_path / "state"))
    apache = _start(apache_factory, backend, served_tmp_path, conf_name)
    wrong = []
    for method, path, passes in PROBES:
        resp = request(method, apache.url(path), headers={"Host": host})
        got_page = resp.status == 503 and (method == "HEAD" or resp.body == PAGE)
        if passes == got_page or (passes and resp.status != 200):
            wrong.append((method, path, resp.status))
    assert wrong == []
    assert len(backend.log) == 0, [r.path for r, _ in backend.log]
    # The operator's allowed path passes as before, whatever the method.
    for method in ("GET", "POST"):
        assert request(method, apache.url("/up"), headers={"Host": host}).status == 200
    assert len(backend.log) == (2 if conf_name == "proxy.conf" else 0)
