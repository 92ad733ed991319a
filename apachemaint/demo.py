"""`make demo`: the main job end to end on the bundled fixtures, against a real Apache.

Copies fixtures/served/proxy.conf into a temp dir, patches it with the real CLI, starts
Debian's apache2 on 127.0.0.1 in front of a small app, and shows what a browser sees
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

from .httpd import LoopbackApache, find_binary

REPO = Path(__file__).resolve().parent.parent
PAGE = b"""<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Down for maintenance</title>
<h1>We are upgrading the database</h1><p>Back at 12:00 UTC.</p></html>
"""


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


def fetch(port: int, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "proxy.test"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def show(port: int, path: str) -> tuple[int, dict, bytes]:
    status, headers, body = fetch(port, path)
    extra = "".join(f"  {k}: {headers[k]}" for k in ("Retry-After", "Cache-Control") if k in headers)
    first = body.decode(errors="replace").strip().splitlines()
    print(f"    GET {path:<22} -> {status}{extra}  | {first[-1][:60] if first else ''}")
    return status, headers, body


def run(cmd: list[str]) -> int:
    print("  $ " + " ".join(["apachemaint"] + cmd[3:]))
    done = subprocess.run(cmd, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        print(f"    {line}")
    return done.returncode


def main() -> int:
    if find_binary() is None:
        print("apache2 is not installed: run `make apache` (apt-get install apache2)", file=sys.stderr)
        return 2
    fixture = REPO / "fixtures" / "served" / "proxy.conf"
    if not fixture.is_file():
        print(f"demo fixtures not found at {fixture}: run the demo from a clone (make demo)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="apachemaint-demo-"))
    os.chmod(tmp, 0o755)  # Apache's workers (www-data) must reach the docroot
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    app = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    apache = None
    try:
        docroot = tmp / "current" / "public"
        (docroot / "assets").mkdir(parents=True)
        (docroot / "assets" / "app.css").write_text("body { font-family: sans-serif }\n")
        for d in (tmp / "current", docroot, docroot / "assets"):
            d.chmod(0o755)
        conf = tmp / "proxy.conf"
        shutil.copy(fixture, conf)
        cli = [sys.executable, "-m", "apachemaint"]
        env_state = {"APACHEMAINT_STATE_DIR": str(tmp / "state")}
        os.environ.update(env_state)

        print(f"1. Patch the vhost ({conf})")
        expect(run(cli + ["patch", "--allow-path", "/up", str(conf)]) == 0, "patch failed")
        expect(run(cli + ["check", str(conf)]) == 0, "check found problems after patch")

        apache = LoopbackApache(tmp / "apache", [conf], defines={
            "DOCROOT": str(docroot), "BACKEND_PORT": str(app.server_address[1])}).start()
        port, pid = apache.port, apache.pid
        print(f"\n2. A real Apache on 127.0.0.1:{port} in front of the app: the site is up")
        expect(show(port, "/")[0] == 200, "site not up before maintenance")
        show(port, "/orders/42")

        print("\n3. The deploy starts: the page goes to DOCROOT/system/maintenance.html (no reload)")
        (docroot / "system").mkdir(mode=0o755)
        page = docroot / "system" / "maintenance.html"
        page.write_bytes(PAGE)
        page.chmod(0o644)
        hits = App.hits
        status, headers, body = show(port, "/")
        expect(status == 503 and body == PAGE, "maintenance page not served with 503")
        expect(headers.get("Retry-After") == "300", "no Retry-After")
        expect(show(port, "/orders/42")[0] == 503, "deep link not in maintenance")
        expect(show(port, "/assets/app.css")[0] == 200, "asset not served during maintenance")
        expect(show(port, "/up")[0] == 200, "health check /up not passing")
        during = App.hits - hits
        print(f"    requests that reached the app during maintenance (besides /up): {during - 1}")
        expect(during == 1, "the app was reached during maintenance")

        print("\n4. The deploy is done: the page is removed")
        page.unlink()
        expect(show(port, "/orders/42")[0] == 200, "site not back after maintenance")
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
