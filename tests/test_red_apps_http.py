"""Red team, part 1: hand-written vhosts of app servers, as their operators write them:
a WordPress `.htaccess` front controller under `AllowOverride All`, an app mounted with
`Alias /` and no DocumentRoot of its own, `ProxyPass /ws ws://` next to `ProxyPass /`
(asked with a websocket upgrade), Django under mod_wsgi in daemon mode (`WSGIScriptAlias /`
with `Alias /static`), Passenger in a Capistrano layout owned by a deploy user (DocumentRoot
.../current/public, `current -> releases/R`, `public/system -> shared/public/system`), and
Tomcat/Jenkins over AJP.  Each is patched, put down with `down --vhost` and asked on every
name and path: the 503 with the page, nothing reaching the app."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from fcgi_responder import FcgiResponder
from http_client import get
from run_cli import apachemaint
from test_cover_sweep_http import PROXY, Shape, asks, serve, site, sweep
from test_new import require_modules
from test_new_http import PASSENGER_CONF

from apachemaint import location

pytestmark = pytest.mark.apache

NOBODY = 65534
UPGRADE = (("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
           ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))


@pytest.fixture
def fcgi():
    with FcgiResponder() as responder:
        yield responder


WORDPRESS_HTACCESS = """# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteBase /
RewriteRule ^index\\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
"""

SHAPES = [
    Shape("htaccess", """<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>
    ServerName htaccess.test
    ServerAlias www.htaccess.test
    DocumentRoot {root}/wordpress
    DirectoryIndex index.php index.html
    <Directory {root}/wordpress>
        Options FollowSymLinks
        AllowOverride All
        Require all granted
    </Directory>
    <FilesMatch "\\.php$">
        SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}"
    </FilesMatch>
</VirtualHost>
""", asks("htaccess.test", "/", "/2026/12/hello/", "/wp-json/wp/v2/posts") + asks("www.htaccess.test", "/shop/"),
          "fcgi"),
    # The app folder mounted at / by Alias; the page then lives under the vhost's pages folder.
    Shape("alias-root", """<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>
    ServerName alias-root.test
    DocumentRoot {docroot}
    <Directory {docroot}>
        Require all granted
    </Directory>
    Alias / {root}/app/
    <Directory {root}/app>
        Require all granted
        DirectoryIndex index.php
        <FilesMatch "\\.php$">
            SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}"
        </FilesMatch>
    </Directory>
</VirtualHost>
""", asks("alias-root.test", "/", "/index.php"), "fcgi"),
    # Mattermost: the websocket path first, then the rest.
    Shape("ws", site("ws", """\
    ProxyPreserveHost On
    ProxyPass /api/v4/websocket ws://127.0.0.1:${{BACKEND_PORT}}/api/v4/websocket
    ProxyPass /ws ws://127.0.0.1:${{BACKEND_PORT}}/ws upgrade=websocket
""" + PROXY), asks("ws.test", "/ws", "/api/v4/websocket", "/"), headers=UPGRADE),
]


def _wordpress(root: Path) -> None:
    for name, files in (("htaccess/wordpress", {"index.php": "<?php\n", ".htaccess": WORDPRESS_HTACCESS}),
                        ("alias-root/app", {"index.php": "<?php\n"})):
        folder = root / name
        folder.mkdir(parents=True)
        for file, text in files.items():
            (folder / file).write_text(text)


def test_htaccess_alias_and_websocket_sites_go_down(apache_factory, backend, fcgi, served_tmp_path):
    _wordpress(served_tmp_path)
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, SHAPES,
                 modules=("proxy_fcgi", "proxy_wstunnel")) == []


DJANGO = """import urllib.request


def application(environ, start_response):
    # Every request the app serves is one the counting backend sees.
    url = "http://127.0.0.1:{port}/django" + environ["PATH_INFO"]
    body = urllib.request.urlopen(url, timeout=10).read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def test_mod_wsgi_daemon_mode_goes_down(apache_factory, backend, fcgi, served_tmp_path):
    require_modules(["wsgi"])
    project = served_tmp_path / "django" / "mysite"
    (project / "mysite").mkdir(parents=True)
    (project / "mysite" / "wsgi.py").write_text(DJANGO.format(port=backend.port))
    (project / "static").mkdir()
    (project / "static" / "app.css").write_text("static:css\n")
    shape = Shape("django", site("django", """\
    WSGIDaemonProcess mysite python-path={root}/mysite processes=1 threads=4 display-name=%{{GROUP}}
    WSGIProcessGroup mysite
    WSGIApplicationGroup %{{GLOBAL}}
    WSGIPassAuthorization On
    WSGIScriptAlias / {root}/mysite/mysite/wsgi.py
    Alias /static/ {root}/mysite/static/
    Alias /media/ {root}/mysite/media/
    <Directory {root}/mysite/mysite>
        <Files wsgi.py>
            Require all granted
        </Files>
    </Directory>
    <Directory {root}/mysite/static>
        Require all granted
    </Directory>
"""), asks("django.test", "/", "/admin/login/", "/api/orders/7") + asks("www.django.test", "/accounts/"))
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, [shape], modules=("wsgi",)) == []


RACK = """require "net/http"
run lambda { |env|
  body = Net::HTTP.get(URI("http://127.0.0.1:%d/rails#{env["PATH_INFO"]}"))
  [200, { "content-type" => "text/plain" }, [body]]
}
"""


def _capistrano(app: Path, port: int, owner: int) -> None:
    """releases/R with config.ru and public/, `current -> releases/R`, and public/system
    linked to shared/ (capistrano's linked_dirs), all owned by the deploy user."""
    release = app / "releases" / "20261207120000"
    (release / "public").mkdir(parents=True)
    (release / "config.ru").write_text(RACK % port)
    (release / "public" / "robots.txt").write_text("static:robots\n")
    (app / "shared" / "public" / "system").mkdir(parents=True)
    (release / "public" / "system").symlink_to(app / "shared" / "public" / "system")
    (app / "current").symlink_to(release)
    for top, dirs, files in os.walk(app):
        for name in [top, *(os.path.join(top, n) for n in dirs + files)]:
            os.chown(name, owner, owner, follow_symlinks=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="a deploy user's tree needs root to make")
def test_passenger_in_a_capistrano_layout_of_a_deploy_user_goes_down(apache_factory, backend, fcgi,
                                                                     served_tmp_path):
    require_modules(["passenger"])
    if not PASSENGER_CONF.is_file():
        pytest.skip(f"{PASSENGER_CONF} (PassengerRoot) not found")
    app = served_tmp_path / "shop"
    _capistrano(app, backend.port, NOBODY)
    shape = Shape("shop", site("shop", """\
    PassengerAppRoot {root}/current
    PassengerAppEnv production
    PassengerRuby /usr/bin/ruby
    <Directory {root}/current/public>
        Require all granted
        Options -MultiViews
    </Directory>
""").replace("DocumentRoot {docroot}", "DocumentRoot {root}/current/public"),
        asks("shop.test", "/", "/products/7", "/cart") + asks("www.shop.test", "/checkout"))
    server = PASSENGER_CONF.read_text() + "\nPassengerDisableAnonymousTelemetry on\n"
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, [shape], modules=("passenger",),
                 server=server) == []
    shared = app / "shared" / "public" / "system"
    # `up` removed the page it wrote through the deploy's own link into shared/, and nothing
    # of the deploy user's became root's.
    assert not (shared / "maintenance.html").exists()
    assert all(os.lstat(p).st_uid == NOBODY for p in (app / "current", shared, app / "releases"))


class CountingListener:
    """A TCP port that counts the connections made to it and closes them (an AJP backend
    that never answers: any connection is a request that reached Tomcat)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_ajp_tomcat_goes_down_without_a_connection_to_the_backend(apache_factory, backend, fcgi,
                                                                  served_tmp_path):
    tomcat = CountingListener()
    try:
        shape = Shape("jenkins", site("jenkins", """\
    ProxyRequests Off
    AllowEncodedSlashes NoDecode
    ProxyPass /jenkins ajp://127.0.0.1:${{AJP_PORT}}/jenkins nocanon retry=0
    ProxyPassReverse /jenkins ajp://127.0.0.1:${{AJP_PORT}}/jenkins
    <Location /app>
        ProxyPass ajp://127.0.0.1:${{AJP_PORT}}/app retry=0
    </Location>
"""), asks("jenkins.test", "/jenkins/", "/jenkins/job/build/42/console", "/app/login"))
        served = serve(apache_factory, backend, fcgi, served_tmp_path, [shape], modules=("proxy_ajp",),
                       server=f"Define AJP_PORT {tomcat.port}\n")
        address = served.asks[0][1][1]
        get(f"http://{address}/jenkins/", headers={"Host": "jenkins.test"})
        assert tomcat.accepted > 0  # the probe reaches the AJP port while up
        conf = served.confs["jenkins"]
        assert apachemaint("check", "--config", served.apache.conf, conf).returncode == 0
        assert apachemaint("down", "--vhost", conf).returncode == 0
        page = location.from_vhost(conf)[0].page.read_bytes()
        seen = tomcat.accepted
        for _shape, (_s, address, host, path, _h) in served.asks:
            got = get(f"http://{address}{path}", headers={"Host": host})
            assert (got.status, got.body) == (503, page), (path, got.status, got.body[:80])
        assert tomcat.accepted == seen
    finally:
        tomcat.close()


NEXTCLOUD_HTACCESS = """<IfModule mod_headers.c>
  <IfModule mod_setenvif.c>
    SetEnvIf User-Agent "Android" HTTP_AUTHORIZATION=$1
  </IfModule>
  Header always set Referrer-Policy "no-referrer"
  Header onsuccess unset X-Frame-Options
  Header always set X-Frame-Options "SAMEORIGIN"
</IfModule>
<IfModule mod_rewrite.c>
  RewriteEngine on
  RewriteRule .* - [env=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
  RewriteRule ^\\.well-known/carddav /remote.php/dav/ [R=301,L]
  RewriteRule ^(?:build|tests|config|lib|3rdparty|templates)(?:$|/) - [R=404,L]
  RewriteCond %{REQUEST_FILENAME} !\\.(css|js|mjs|svg|gif|png|html|ttf|woff2?|ico|jpg|jpeg|map|webm|mp4|mp3|ogg|wav)$
  RewriteCond %{REQUEST_FILENAME} !/remote.php
  RewriteRule . index.php [PT,E=PATH_INFO:$1]
</IfModule>
ErrorDocument 403 /index.php/error/403
ErrorDocument 404 /index.php/error/404
"""

GITLAB = """<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>
    ServerName gitlab.test
    ServerSignature Off
    ProxyPreserveHost On
    AllowEncodedSlashes NoDecode
    <Location />
        Require all granted
        ProxyPassReverse http://127.0.0.1:${{BACKEND_PORT}}
        ProxyPassReverse http://gitlab.test/
    </Location>
    RewriteEngine on
    RewriteCond %{{DOCUMENT_ROOT}}/%{{REQUEST_FILENAME}} !-f [OR]
    RewriteCond %{{REQUEST_URI}} ^/uploads/.*
    RewriteRule .* http://127.0.0.1:${{BACKEND_PORT}}%{{REQUEST_URI}} [P,QSA,NE]
    RequestHeader set X_FORWARDED_PROTO 'https'
    RequestHeader set X-Forwarded-Ssl on
    DocumentRoot {docroot}
    ErrorDocument 404 /404.html
    ErrorDocument 422 /422.html
    ErrorDocument 500 /500.html
    ErrorDocument 502 /502.html
    ErrorDocument 503 /503.html
</VirtualHost>
"""


def test_nextcloud_htaccess_and_gitlab_omnibus_vhosts_go_down(apache_factory, backend, fcgi, served_tmp_path):
    cloud = served_tmp_path / "nextcloud" / "htdocs"
    cloud.mkdir(parents=True)
    (cloud / ".htaccess").write_text(NEXTCLOUD_HTACCESS)
    (cloud / "index.php").write_text("<?php\n")
    (cloud / "remote.php").write_text("<?php\n")
    shapes = [
        Shape("nextcloud", """<VirtualHost 127.0.0.1:${{APACHEMAINT_PORT}}>
    ServerName nextcloud.test
    DocumentRoot {root}/htdocs
    <Directory {root}/htdocs>
        Require all granted
        AllowOverride All
        Options FollowSymLinks MultiViews
        <IfModule mod_dav.c>
            Dav off
        </IfModule>
    </Directory>
    <FilesMatch "\\.php$">
        SetHandler "proxy:fcgi://127.0.0.1:${{FCGI_PORT}}"
    </FilesMatch>
    DirectoryIndex index.php
</VirtualHost>
""", asks("nextcloud.test", "/", "/apps/files/", "/remote.php/dav/files/admin/",
                "/index.php/login"), "fcgi"),
        Shape("gitlab", GITLAB, asks("gitlab.test", "/", "/group/project/-/merge_requests/7",
                                      "/uploads/-/system/user/avatar/1/a.png", "/api/v4/projects/a%2Fb")),
    ]
    assert sweep(apache_factory, backend, fcgi, served_tmp_path, shapes,
                 modules=("proxy_fcgi", "negotiation")) == []
