"""Debian's ``/etc/apache2/envvars``, read as apache2ctl's shell would export it.

A module of its own, without the process machinery of ``httpd``: `check` reads it for every
server it loads, a one-file check included, and must not pay for importing subprocess.
"""
from __future__ import annotations

import re
from pathlib import Path

_EXPORT = re.compile(r"\s*(export\s+)?([A-Za-z_]\w*)(?:=(.*))?\s*$")
_SUBST = r"\$(?:\{\w+\}|\w+)"
_VALUE = re.compile(rf"""'([^']*)'|"((?:[^"\\`$]|{_SUBST})*)"|((?:[^\s'"\\`$;&|<>()#]|{_SUBST})*)""")
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_COMMENT = re.compile(r"(\s+#.*)?\s*")


def debian_envvars(path: Path, *, known: dict[str, str] | None = None) -> dict[str, str]:
    """What a Debian `envvars` file exports, read without a shell: `[export] NAME=value`
    lines top to bottom, ignoring control flow (the stock `else: SUFFIX=` wins); `$VAR` and
    `${VAR}` resolve against `known` and earlier lines, else to ""; anything fancier is skipped.
    `apache2 -t` also needs APACHE_RUN_DIR to exist (apache2ctl makes it): for a tree that is
    not installed, point it at a temp dir."""
    seen: dict[str, str] = dict(known or {})
    exported: dict[str, str] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _EXPORT.fullmatch(line)
        if not m:
            continue
        is_export, name, raw = m.groups()
        if raw is None:
            if is_export and name in seen:  # `export LANG` after `LANG=C`
                exported[name] = seen[name]
            continue
        v = _VALUE.match(raw)
        if not _COMMENT.fullmatch(raw[v.end():]):
            continue
        single, double, bare = v.groups()
        value = single if single is not None else _VAR.sub(
            lambda w: seen.get(w[1] or w[2], ""), double if double is not None else bare)
        seen[name] = value
        if is_export:
            exported[name] = value
    return exported
