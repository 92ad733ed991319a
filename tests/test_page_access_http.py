"""AM011 (page not servable) agrees with a real Apache: for each way a vhost grants or
denies its page folder, the verdict of ``check --config`` matches what a client gets
during maintenance (503 with the page, or 503 with Apache's bare body).

The test server denies ``/`` as Debian's stock config does, so a folder nothing grants is
denied too; but the block grants its own page (only in the 503's ErrorDocument redirect), so
a ``Require`` that denies hides it no more.  mod_access_compat's ``Deny`` still does."""
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
    # Allow from all does not undo the inherited Require all denied of <Directory />; the
    # block's own grant does.
    "compat-allow": ("<Directory ${DOCROOT}>\n    Order allow,deny\n    Allow from all\n</Directory>\n", True),
    "compat-and-require": ("<Directory ${DOCROOT}>\n    Require all granted\n    Order allow,deny\n"
                           "    Allow from all\n</Directory>\n", True),
    # mod_access_compat is checked apart from Require: no grant undoes its Deny.
    "compat-deny": ("<Directory ${DOCROOT}>\n    Order deny,allow\n    Deny from all\n</Directory>\n", False),
    "compat-deny-dotfolders": ("<Directory ${DOCROOT}>\n    Require all granted\n</Directory>\n"
                               "<DirectoryMatch \"/\\.\">\n    Order deny,allow\n    Deny from all\n"
                               "</DirectoryMatch>\n", False),
    "nothing-granted": ("", True),
    "denied": ("<Directory ${DOCROOT}>\n    Require all denied\n</Directory>\n", True),
    "dotfolders-denied": ("<Directory ${DOCROOT}>\n    Require all granted\n</Directory>\n"
                          "<DirectoryMatch \"/\\.\">\n    Require all denied\n</DirectoryMatch>\n", True),
    "location-denies-system": ("<Directory ${DOCROOT}>\n    Require all granted\n</Directory>\n"
                               "<Location /system>\n    Require all denied\n</Location>\n", True),
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


def test_the_block_grants_its_page_and_nothing_else(apache_factory, served_tmp_path):
    """The block's own grant holds only in the ErrorDocument redirect of a request it put
    down: a client never reaches a denied file through it, down or up, whatever it sends."""
    docroot = served_tmp_path / "public"
    (docroot / "system").mkdir(parents=True)
    for name in ("index.html", "app.css", "system/other.html"):
        (docroot / name).write_text(f"denied file {name}\n")
    conf = served_tmp_path / "site.conf"
    conf.write_text(HEAD + "    <Directory ${DOCROOT}>\n        Require all denied\n    </Directory>\n"
                    "</VirtualHost>\n")
    patching.apply([patching.plan(conf)], configtest=False)
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot)})
    # What a client might try, to look like the ErrorDocument's redirect (headers are not env vars).
    forged = {"Host": "app.example.com", "Redirect-Status": "503", "Redirect-Apachemaint": "down"}
    paths = ("/", "/index.html", "/app.css", "/system/other.html", "/system/maintenance.html",
             "/system/.apachemaint/page.html")

    def answers() -> dict[str, tuple[int, bytes]]:
        out = {}
        for path in paths:
            for headers in ({"Host": "app.example.com"}, forged):
                resp = get(apache.url(path), headers=headers)
                out[path] = (resp.status, resp.body)
                assert b"denied file" not in resp.body, (path, headers, resp.status)
        return out

    before = answers()
    assert {status for status, _ in before.values()} == {403}
    result = maintenance.down(maintenance.from_docroot(docroot), reason="a test")
    during = answers()
    # An existing asset is let through during maintenance, to its own (denied) answer.
    assert during.pop("/app.css")[0] == 403
    assert all(answer == (503, result.html) for answer in during.values()), during
    maintenance.up(maintenance.from_docroot(docroot), grace=0)
    assert answers() == before
