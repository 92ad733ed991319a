"""The managed block was edited by hand: its body no longer matches the digest in its marker.

Hand edits are lost at the next ``apachemaint patch``, and nothing proves the edited block
still answers 503.  Put the change into patch options instead.

Fails: a ``# BEGIN apachemaint v1 sha256:...`` block whose ``RewriteRule ^ - [R=503,L]``
was changed to ``[R=302,L]``.
Passes: the block exactly as ``apachemaint patch`` wrote it (indentation may differ).
"""
from __future__ import annotations

from ..block import State
from ..findings import Severity

CODE = "AM002"
SUMMARY = "maintenance block edited by hand"
SEVERITY = Severity.ERROR


def check(ctx):
    for found in ctx.managed:
        if ctx.state(found) is State.EDITED:
            yield found.line, "maintenance block was edited by hand (re-run apachemaint patch to restore it)"
