"""``PassengerHighPerformance on`` applies to a vhost with maintenance rules.

In high-performance mode Passenger takes requests before mod_rewrite sees them, so the
maintenance block is ignored for everything Passenger serves.

Fails::

    <VirtualHost *:80>
        # BEGIN apachemaint ...
        # END apachemaint
        PassengerHighPerformance on
    </VirtualHost>

Passes: the same vhost with ``PassengerHighPerformance off`` (the default).
"""
from __future__ import annotations

from ..findings import Severity
from ..reader import Directive

CODE = "AM009"
SUMMARY = "PassengerHighPerformance on: rewrite rules (and the block) are ignored"
SEVERITY = Severity.ERROR


def _on(d) -> bool:
    return isinstance(d, Directive) and d.lname == "passengerhighperformance" and d.args[:1] != [] \
        and d.args[0].lower() == "on"


def _on_at_server_level(server) -> bool:
    return any(_on(d) for d in server.server_level)


def check(ctx):
    if ctx.maintenance_start is None:
        return
    found = False
    if ctx.mentions("passengerhighperformance"):
        for node in ctx.nodes:
            if _on(node):
                found = True
                yield node.line, ("PassengerHighPerformance on: Passenger bypasses mod_rewrite, so the "
                                  "maintenance block is ignored")
    if not found and ctx.server.once(_on_at_server_level):
        yield ctx.vhost.line, ("PassengerHighPerformance on at server level applies here: "
                               "the maintenance block is ignored")
