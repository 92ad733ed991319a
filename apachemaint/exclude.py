"""``exclude`` path patterns for ``check``, gitignore-like.

A pattern without a slash matches a file or folder name at any depth (``legacy``,
``*.bak.conf``); one with a slash matches the end of the path (``sites/old/*.conf``), or, with
a leading slash, its start (``/etc/apache2/conf-enabled/*``); a trailing slash matches a
folder and everything in it; ``**`` spans folders; ``!pattern`` takes a path back in, and the
last matching pattern decides.  Patterns are matched on the path as given on the command
line and as a server config's ``Include`` names it, never resolved through links: what a
deploy user's link points at does not change what is excluded.
"""
from __future__ import annotations

import re
from collections.abc import Iterable


def _regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1:end]
                out.append("[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)) + "]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


class Excludes:
    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = [p for p in (p.strip() for p in patterns) if p and not p.startswith("#")]
        self._rules: list[tuple[re.Pattern, bool]] = []
        for p in self.patterns:
            keep = p.startswith("!")
            p = p[1:] if keep else p
            folder = p.endswith("/")
            p = p.rstrip("/")
            if p.startswith("/"):
                head, body = "^/", _regex(p[1:])
            else:
                head, body = "(?:^|/)", _regex(p)
            tail = "/.+$" if folder else "(?:/.*)?$"
            self._rules.append((re.compile(head + body + tail), keep))

    def __bool__(self) -> bool:
        return bool(self._rules)

    def excluded(self, path: str) -> bool:
        path = path.replace("\\", "/")
        if path.startswith("./"):
            path = path[2:]
        out = False
        for rx, keep in self._rules:
            if rx.search(path):
                out = not keep
        return out
