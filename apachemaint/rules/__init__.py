"""The lint rules, one module each, listed explicitly so that ``apachemaint rules`` and the
docs come from the same registry.  A rule module has ``CODE``, ``SUMMARY``, ``SEVERITY``, a
docstring with a failing and a passing config, and ``check(ctx)`` yielding ``(line, message)``
pairs; the runner turns them into findings with the rule's code and severity."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Iterator

from ..findings import Finding
from ..reader import ConfigFile
from ..vhosts import VHost
from . import am001_missing, am002_edited, am003_outdated, am004_legacy, am010_redirect_only

REGISTRY: dict[str, ModuleType] = {
    m.CODE: m for m in (am001_missing, am002_edited, am003_outdated, am004_legacy, am010_redirect_only)
}


@dataclass
class VHostContext:
    """What a rule sees: one vhost and the file it stands in."""
    cf: ConfigFile
    vhost: VHost


def run(ctx: VHostContext) -> Iterator[Finding]:
    for rule in REGISTRY.values():
        for line, message in rule.check(ctx):
            yield Finding(ctx.cf.path, line, 1, rule.CODE, rule.SEVERITY, message)
