"""A vhost that proxies by handler (`<Location /> SetHandler "proxy:http://..."`, the shape
php-fpm and app-server setups use) goes into maintenance too: the block's own answers (the
page, its copy, the JSON twin, an ACME challenge) are files, and a handler the vhost set
for the URL must not take them to the backend."""
from __future__ import annotations

import pytest
from http_client import request

from apachemaint import patch as patching

pytestmark = pytest.mark.apache

VHOST = """\
<VirtualHost 127.0.0.1:${APACHEMAINT_PORT}>
    ServerName handler.test
    DocumentRoot ${DOCROOT}
    <Directory ${DOCROOT}>
        Require all granted
    </Directory>
    <Location />
        SetHandler "proxy:http://127.0.0.1:${BACKEND_PORT}"
    </Location>
</VirtualHost>
"""


def test_a_vhost_proxying_by_sethandler_answers_with_the_page(apache_factory, backend, served_tmp_path,
                                                              own_state_dir):
    from run_cli import apachemaint

    docroot = served_tmp_path / "www"
    (docroot / ".well-known" / "acme-challenge").mkdir(parents=True)
    (docroot / ".well-known" / "acme-challenge" / "tok123").write_text("proof\n")
    conf = served_tmp_path / "handler.conf"
    conf.write_text(VHOST)
    patching.apply([patching.plan(conf, {})], configtest=False)
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)})

    def ask(path, **headers):
        return request("GET", apache.url(path), headers={"Host": "handler.test", **headers})

    # Up, the handler proxies as it did unpatched (it sends the mapped file path, as php-fpm wants).
    up = ask("/orders").text
    assert up.startswith("backend:") and up.endswith("/www/orders")
    assert apachemaint("down", "--docroot", docroot, "--reason", "upgrade", state=own_state_dir).returncode == 0
    backend.clear_log()
    page = (docroot / "system" / "maintenance.html").read_bytes()
    for path in ("/", "/orders", "/system/maintenance.html"):
        resp = ask(path)
        assert (resp.status, resp.body) == (503, page), (path, resp.status, resp.body[:80])
    api = ask("/api/orders", Accept="application/json")
    assert api.status == 503 and api.headers["Content-Type"].startswith("application/json")
    challenge = ask("/.well-known/acme-challenge/tok123")
    assert (challenge.status, challenge.body) == (200, b"proof\n")
    assert len(backend.log) == 0, [r.path for r, _ in backend.log]
