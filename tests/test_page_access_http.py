"""AM011 (page not servable) agrees with a real Apache: for each way a vhost grants or
denies its page folder, the verdict of ``check --config`` matches what a client gets
during maintenance (503 with the page, or 503 with Apache's bare body).

The test server denies ``/`` as Debian's stock config does, so a folder nothing grants is
denied too."""
from __future__ import annotations

import pytest
from http_client import get

from apachemaint import check, maintenance
from apachemaint import patch as patching

pytestmark = pytest.mark.apache

HEAD = """<VirtualHost *:${APACHEMAINT_PORT}>
    ServerName app.example.com
    DocumentRoot ${DOCROOT}
"""

# shape -> (sections of the vhost, whether the page is servable)
SHAPES = {
    "directory-granted": ("<Directory ${DOCROOT}>\n    Require all granted\n</Directory>\n", True),
    "parent-granted": ("<Directory ${PARENT}>\n    Require all granted\n</Directory>\n", True),
    "location-root": ("<Location />\n    Require all granted\n</Location>\n", True),
    "files-granted": ("<Directory ${DOCROOT}>\n    Require all denied\n</Directory>\n"
                      "<FilesMatch \"\\.html$\">\n    Require all granted\n</FilesMatch>\n", True),
    # Allow from all does not undo the inherited Require all denied of <Directory />.
    "compat-allow": ("<Directory ${DOCROOT}>\n    Order allow,deny\n    Allow from all\n</Directory>\n", False),
    "compat-and-require": ("<Directory ${DOCROOT}>\n    Require all granted\n    Order allow,deny\n"
                           "    Allow from all\n</Directory>\n", True),
    "compat-deny": ("<Directory ${DOCROOT}>\n    Order deny,allow\n    Deny from all\n</Directory>\n", False),
    "nothing-granted": ("", False),
    "denied": ("<Directory ${DOCROOT}>\n    Require all denied\n</Directory>\n", False),
    "dotfolders-denied": ("<Directory ${DOCROOT}>\n    Require all granted\n</Directory>\n"
                          "<DirectoryMatch \"/\\.\">\n    Require all denied\n</DirectoryMatch>\n", False),
    "location-denies-system": ("<Directory ${DOCROOT}>\n    Require all granted\n</Directory>\n"
                               "<Location /system>\n    Require all denied\n</Location>\n", False),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_am011_verdict_matches_what_apache_serves(shape, apache_factory, served_tmp_path):
    sections, servable = SHAPES[shape]
    parent = served_tmp_path / "app"
    docroot = parent / "public"
    docroot.mkdir(parents=True)
    (docroot / "index.html").write_text("content\n")
    conf = served_tmp_path / "site.conf"
    body = "".join(f"    {ln}\n" for ln in sections.splitlines())
    conf.write_text(HEAD + body + "</VirtualHost>\n")
    patching.apply([patching.plan(conf)], configtest=False)
    modules = ("mpm_event", "authz_core", "authz_host", "access_compat", "dir", "mime", "alias", "rewrite",
               "headers", "setenvif")
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot), "PARENT": str(parent)}, modules=modules)
    result = maintenance.down(maintenance.from_docroot(docroot), reason="a test")
    resp = get(apache.url("/"), headers={"Host": "app.example.com"})
    assert resp.status == 503
    assert (resp.body == result.html) is servable, resp.body[:200]
    findings = check.check_files([conf], config=apache.conf)
    assert ("AM011" in {f.code for f in findings}) is (not servable), findings


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_lone_file_warns_unless_it_grants_the_page_itself(shape, tmp_path):
    """Without the server, what the file itself grants is all there is: the test server's
    verdicts above are Debian's and RHEL's, whose <Directory /> denies."""
    sections, servable = SHAPES[shape]
    root = "/srv/app/public"
    text = (HEAD + "".join(f"    {ln}\n" for ln in sections.splitlines()) + "</VirtualHost>\n")
    conf = tmp_path / "site.conf"
    conf.write_text(text.replace("${DOCROOT}", root).replace("${PARENT}", "/srv/app"))
    patching.apply([patching.plan(conf)], configtest=False)
    assert ("AM011" in {f.code for f in check.check_files([conf])}) is (not servable)
