"""The managed block was written by an older apachemaint and differs from the current one.

Fails: a block whose marker says ``v0``, or whose body is an earlier release's.
Passes: a block rendered by this release for the options in its marker.
"""
from __future__ import annotations

from ..block import State
from ..findings import Severity

CODE = "AM003"
SUMMARY = "maintenance block outdated"
SEVERITY = Severity.ERROR
FIXABLE = True  # `check --fix` runs patch on it


def check(ctx):
    for found in ctx.managed:
        if ctx.state(found) is State.OUTDATED:
            yield found.line, "maintenance block is outdated (run apachemaint patch to update it)"
