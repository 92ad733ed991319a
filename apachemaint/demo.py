"""`make demo`: the main job end to end on the bundled fixtures, against a real Apache.

Generates a vhost for a small sample app with the real CLI (`apachemaint new proxy`),
starts Debian's apache2 on 127.0.0.1 in front of the app, and shows what a browser sees
before, during and after maintenance.  Exits non-zero if anything is not as promised.
"""
from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .httpd import LoopbackApache, find_binary, free_port

REPO = Path(__file__).resolve().parent.parent


class App(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        App.hits += 1
        body = f"Hello from the app: {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def fetch(port: int, host: str, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def show(port: int, host: str, path: str) -> tuple[int, dict, bytes]:
    status, headers, body = fetch(port, host, path)
    extra = "".join(f"  {k}: {headers[k]}" for k in ("Retry-After", "Cache-Control") if k in headers)
    text = body.decode(errors="replace")
    h1 = text.split("<h1>", 1)[1].split("</h1>", 1)[0] if "<h1>" in text else text.strip()[:50]
    print(f"    GET http://{host}{path:<16} -> {status}{extra}  | {h1}")
    return status, headers, body


def run(cmd: list[str], env: dict | None = None) -> int:
    print("  $ " + " ".join(["apachemaint"] + [a if " " not in a else repr(a) for a in cmd[3:]]))
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    for line in (done.stdout + done.stderr).splitlines():
        print(f"    {line}")
    return done.returncode


def main() -> int:
    if find_binary() is None:
        print("apache2 is not installed: run `make apache` (apt-get install apache2)", file=sys.stderr)
        return 2
    legacy_fixture = REPO / "fixtures" / "served" / "legacy-capistrano.conf"
    if not legacy_fixture.is_file():
        print(f"demo fixtures not found at {legacy_fixture}: run the demo from a clone (make demo)",
              file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="apachemaint-demo-"))
    os.chmod(tmp, 0o755)  # Apache's workers (www-data) must reach the docroots
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    app = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    backend = f"http://127.0.0.1:{app.server_address[1]}"
    apache = None
    try:
        shop, legacy = tmp / "shop" / "public", tmp / "legacy" / "public"
        for root in (shop, legacy):
            (root / "assets").mkdir(parents=True)
            (root / "assets" / "app.css").write_text("body { font-family: sans-serif }\n")
            for d in (root.parent, root, root / "assets"):
                d.chmod(0o755)
        cli = [sys.executable, "-m", "apachemaint"]
        os.environ["APACHEMAINT_STATE_DIR"] = str(tmp / "state")
        # The generated vhost names its port, so the port is chosen first.
        port = free_port()
        shop_conf, legacy_conf = tmp / "shop.conf", tmp / "legacy.conf"

        print("1. A new site: generate its vhost, the maintenance block already in place")
        expect(run(cli + ["new", "proxy", "--server-name", "shop.test", "--docroot", str(shop),
                          "--backend", backend, "--allow-path", "/up", "--http-port", str(port),
                          "-o", str(shop_conf)]) == 0, "new failed")
        print("\n   An existing site: patch the bundled vhost that still has the classic Capistrano rules")
        # Apache matches IP-specific vhosts before *:port ones; both sites share *:port here
        # so that name-based matching picks between them.
        legacy_conf.write_text(legacy_fixture.read_text().replace("127.0.0.1:${APACHEMAINT_PORT}",
                                                                  "*:${APACHEMAINT_PORT}"))
        expect(run(cli + ["patch", str(legacy_conf)]) == 0, "patch failed")
        expect(run(cli + ["check", str(shop_conf), str(legacy_conf)]) == 0, "check found problems")

        apache = LoopbackApache(tmp / "apache", [shop_conf, legacy_conf], port=port, defines={
            "DOCROOT": str(legacy), "BACKEND_PORT": str(app.server_address[1])}).start()
        pid = apache.pid
        print(f"\n2. A real Apache on 127.0.0.1:{port} in front of the app: both sites are up")
        expect(run(cli + ["status", "--vhost", str(shop_conf)]) == 0, "status not up")
        expect(show(port, "shop.test", "/orders/42")[0] == 200, "shop not up before maintenance")
        expect(show(port, "legacy.test", "/orders/42")[0] == 200, "legacy not up before maintenance")

        print("\n3. The deploy starts (no reload): apachemaint down, and a classic page for the legacy site")
        expect(run(cli + ["down", "--vhost", str(shop_conf), "--reason", "a database upgrade", "--until", "30m",
                          "--verify", "--config", str(apache.conf)]) == 0, "down failed")
        expect(run(cli + ["down", "--docroot", str(legacy), "--reason", "a database upgrade"]) == 0,
               "down (legacy) failed")
        expect(run(cli + ["status", "--vhost", str(shop_conf)]) == 3, "status does not say down")
        hits = App.hits
        status, headers, body = show(port, "shop.test", "/")
        expect(status == 503 and b"a database upgrade" in body, "maintenance page not served with 503")
        expect(headers.get("Cache-Control") == "no-store", "the 503 may be cached")
        expect(show(port, "shop.test", "/orders/42")[0] == 503, "deep link not in maintenance")
        expect(show(port, "shop.test", "/assets/app.css")[0] == 200, "asset not served during maintenance")
        expect(show(port, "legacy.test", "/orders/42")[0] == 503, "legacy site answers 200, not 503")
        expect(show(port, "shop.test", "/up")[0] == 200, "health check /up not passing")
        during = App.hits - hits
        print(f"    requests that reached the app during maintenance (besides /up): {during - 1}")
        expect(during == 1, "the app was reached during maintenance")

        print("\n4. The deploy is done: apachemaint up")
        expect(run(cli + ["up", "--vhost", str(shop_conf)]) == 0, "up failed")
        expect(run(cli + ["up", "--docroot", str(legacy)]) == 0, "up (legacy) failed")
        expect(show(port, "shop.test", "/orders/42")[0] == 200, "site not back after maintenance")
        expect(show(port, "legacy.test", "/orders/42")[0] == 200, "legacy site not back after maintenance")
        expect(apache.pid == pid, "Apache was restarted")
    finally:
        if apache is not None:
            apache.stop()
        app.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    if problems:
        print("\nDEMO FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print("\nDemo passed: 200 -> 503 with the page (app untouched) -> 200, Apache never reloaded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
