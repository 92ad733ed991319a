"""`--verify URL`: after a flip, ask the site itself whether it answers as it should."""
from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from .errors import ApacheMaintError

TIMEOUT = 10.0


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApacheMaintError(f"--verify {url!r}: give an http:// or https:// URL")
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     # no Cache-Control, as a visitor asks: a cache that holds the page must show
                     headers={"User-Agent": "apachemaint-verify"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    except OSError as exc:
        raise ApacheMaintError(f"--verify {url}: no answer ({exc})") from None
    finally:
        conn.close()


def expect_down(url: str, page: bytes) -> None:
    status, headers, body = fetch(url)
    problems = []
    if status != 503:
        problems.append(f"status {status}, not 503")
    if body != page:
        problems.append("the body is not the maintenance page")
    if "retry-after" not in headers:
        problems.append("no Retry-After header")
    if problems:
        raise ApacheMaintError(f"--verify {url}: maintenance is not effective: {'; '.join(problems)} "
                               "(is the vhost patched? apachemaint check)")


def expect_up(url: str) -> None:
    status, _, _ = fetch(url)
    if status == 503:
        raise ApacheMaintError(f"--verify {url}: still answers 503 after up")
