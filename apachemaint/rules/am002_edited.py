"""The managed block was edited by hand: its body no longer matches the digest in its marker.

Hand edits are lost at the next ``apachemaint patch``, and nothing proves the edited block
still answers 503.  Put the change into patch options instead.

Fails: a ``# BEGIN apachemaint v1 sha256:...`` block whose ``RewriteRule ^ - [R=503,L]``
was changed to ``[R=302,L]``.
Passes: the block exactly as ``apachemaint patch`` wrote it (indentation may differ).

Also fails when the marker's ``legacy=`` record (the classic recipe ``apachemaint unpatch``
puts back) holds anything but that recipe's ``RewriteCond``, ``RewriteRule`` and
``ErrorDocument 503`` lines, e.g. a ``</VirtualHost>`` and a piped ``CustomLog``: unpatch and
patch refuse such a block until the ``legacy=`` word is removed by hand.
"""
from __future__ import annotations

from .. import block
from ..block import State
from ..findings import Severity

CODE = "AM002"
SUMMARY = "maintenance block edited by hand"
SEVERITY = Severity.ERROR


def check(ctx):
    for found in ctx.managed:
        if ctx.state(found) is State.EDITED:
            yield found.line, "maintenance block was edited by hand (re-run apachemaint patch to restore it)"
        problem = block.legacy_problem(found)
        if problem:
            yield found.line, problem
