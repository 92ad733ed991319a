"""The lint rules, one module each, listed explicitly so that ``apachemaint rules`` and the
docs come from the same registry.  A rule module has ``CODE``, ``SUMMARY``, ``SEVERITY``, a
docstring with a failing and a passing config, and ``check(ctx)`` yielding ``(line, message)``
pairs; the runner turns them into findings with the rule's code and severity.

Optional module attributes: ``FIXABLE`` (``check --fix`` may run patch for it) and
``SEES_INACTIVE`` (also run on vhosts httpd skips, e.g. inside an ``<IfModule>`` that does
not hold; every other rule sees only the vhosts httpd reads).
"""
from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

from ..findings import Finding, Severity
from . import (
    am001_missing,
    am002_edited,
    am003_outdated,
    am004_legacy,
    am005_not_first,
    am006_module_missing,
    am007_ifmodule_hides,
    am008_engine_off,
    am009_passenger,
    am010_redirect_only,
    am011_page_not_servable,
    am012_forwarded_for,
    am013_page_location,
    am014_macro,
    am015_no_docroot,
    am016_byte_order_mark,
    am017_page_in_release,
    am018_unknown_disable,
    am019_inherited_first,
    am020_cache_first,
    am021_virtual_document_root,
)
from .context import UNKNOWN, ServerContext, VHostContext

__all__ = ["REGISTRY", "UNKNOWN", "ServerContext", "VHostContext", "run"]

REGISTRY: dict[str, ModuleType] = {
    m.CODE: m for m in (am001_missing, am002_edited, am003_outdated, am004_legacy, am005_not_first,
                        am006_module_missing, am007_ifmodule_hides, am008_engine_off, am009_passenger,
                        am010_redirect_only, am011_page_not_servable, am012_forwarded_for,
                        am013_page_location, am014_macro, am015_no_docroot,
                        am016_byte_order_mark, am017_page_in_release, am018_unknown_disable,
                        am019_inherited_first, am020_cache_first,
                        am021_virtual_document_root)
}


def run(ctx: VHostContext, rules: dict[str, ModuleType] | None = None,
        severity: dict[str, Severity] | None = None) -> Iterator[Finding]:
    """Findings of ``rules`` (default: all) for one vhost; ``severity`` overrides a rule's own."""
    severity = severity or {}
    active = ctx.active
    for code, rule in (REGISTRY if rules is None else rules).items():
        if not active and not getattr(rule, "SEES_INACTIVE", False):
            continue
        for line, message in rule.check(ctx):
            yield Finding(ctx.cf.path, line, 1, code, severity.get(code, rule.SEVERITY), message)
