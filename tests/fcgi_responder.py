"""A tiny FastCGI responder on loopback, the stand-in for php-fpm behind
`SetHandler "proxy:fcgi://..."` and `ProxyPassMatch ... fcgi://...`: it answers every request
with 200 `fcgi:<SCRIPT_FILENAME>` and keeps a log, so a test can count what reached it."""
from __future__ import annotations

import socketserver
import struct
import threading

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
_HEADER = struct.Struct(">BBHHBx")  # version, type, request id, content length, padding


def _records(rfile):
    while True:
        head = rfile.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        _version, kind, req_id, length, padding = _HEADER.unpack(head)
        body = rfile.read(length)
        rfile.read(padding)
        yield kind, req_id, body


def _params(data: bytes) -> dict[str, str]:
    out, i = {}, 0
    while i < len(data):
        sizes = []
        for _ in range(2):
            if data[i] >> 7:
                sizes.append(struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF)
                i += 4
            else:
                sizes.append(data[i])
                i += 1
        name, value = data[i:i + sizes[0]], data[i + sizes[0]:i + sizes[0] + sizes[1]]
        i += sizes[0] + sizes[1]
        out[name.decode("latin-1")] = value.decode("latin-1")
    return out


def _record(kind: int, req_id: int, body: bytes) -> bytes:
    return _HEADER.pack(1, kind, req_id, len(body), 0) + body


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        params = b""
        for kind, req_id, body in _records(self.rfile):
            if kind == PARAMS:
                params += body
            elif kind == STDIN and not body:  # the request is complete
                env = _params(params)
                self.server.log.append(env)
                text = f"fcgi:{env.get('SCRIPT_FILENAME', '')}".encode()
                reply = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n" + text
                self.wfile.write(_record(STDOUT, req_id, reply) + _record(STDOUT, req_id, b"")
                                 + _record(END_REQUEST, req_id, b"\0" * 8))
                return


class FcgiResponder(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.log: list[dict[str, str]] = []
        self.port = self.server_address[1]
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> FcgiResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

