"""A deliberately plain HTTP client for tests: one connection per request, nothing cached,
and an optional source address (any 127.x works on Linux loopback) for allow-list tests."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

TIMEOUT = 10.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message  # case-insensitive; get_all() for repeated headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(method: str, url: str, *, headers: dict[str, str] | None = None,
            source_address: str | None = None, body: bytes | None = None) -> Response:
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs are supported, not {url!r}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT,
                                      source_address=(source_address, 0) if source_address else None)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def get(url: str, *, headers: dict[str, str] | None = None,
        source_address: str | None = None) -> Response:
    return request("GET", url, headers=headers, source_address=source_address)
