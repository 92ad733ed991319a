"""``check --fix``: hand the findings that have a safe fix to ``patch``.

Safe means patch's own result for that vhost is what the finding asks for (missing,
outdated or Capistrano block: AM001, AM003, AM004).  A hand-edited block (AM002) is not
fixed: patch would throw the edit away.  Patch works on whole files, so a file is only
patched when every vhost patch would change has a fixable finding; a vhost whose finding
was suppressed, or whose block was edited by hand, keeps its file untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import patch as patching
from .findings import Finding
from .rules import REGISTRY


@dataclass
class FixReport:
    fixed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # path, why
    checkpoint: Path | None = None


def fixable(f: Finding) -> bool:
    rule = REGISTRY.get(f.code)
    return bool(rule and getattr(rule, "FIXABLE", False))


def fix(findings: list[Finding], *, config: Path | None = None, configtest: bool = True) -> FixReport:
    report = FixReport()
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file, []).append(f)
    plans = []
    for path, found in by_file.items():
        wanted = [f.line for f in found if fixable(f)]
        if not wanted:
            continue
        plan = patching.plan(path, {})
        changed = [r for r in plan.results if r.action not in (patching.Action.CURRENT,
                                                               patching.Action.NOT_APPLICABLE)]
        lonely = [r for r in changed
                  if not any(r.vhost.line <= ln <= r.vhost.close_line for ln in wanted)]
        if lonely:
            why = f"line {lonely[0].vhost.line}: {lonely[0].vhost.tag} would change too, and has no fixable finding"
            report.skipped.append((path, why))
        elif plan.changed:
            plans.append(plan)
    if plans:
        applied = patching.apply(plans, config=config, configtest=configtest)
        report.checkpoint = applied.checkpoint
        report.fixed = [p.path for p in plans]
    return report
