"""The managed block was written by an older apachemaint and differs from the current one.

Fails: a block whose marker says ``v0``, or whose body is an earlier release's.
Passes: a block rendered by this release for the options in its marker.
"""
from ..block import State, find_managed, state_of
from ..findings import Severity

CODE = "AM003"
SUMMARY = "maintenance block outdated"
SEVERITY = Severity.ERROR


def check(ctx):
    for found in find_managed(ctx.cf, ctx.vhost.section):
        if state_of(found) is State.OUTDATED:
            yield found.line, "maintenance block is outdated (run apachemaint patch to update it)"
