"""A ``# apachemaint: disable=...`` or ``disable-file=...`` comment names a code that is no
rule.

A misspelt code suppresses nothing, silently: the finding it was meant for is still
reported, or, worse, the comment was written for a finding that is gone and now hides
nothing while looking like it does.  Codes are ``AM`` and three digits (``apachemaint
rules`` lists them), or ``all``.

Fails::

    # apachemaint: disable=AM0014
    <VirtualHost *:80>

Passes: ``# apachemaint: disable=AM014``.
"""
from __future__ import annotations

from ..findings import Severity
from ..suppression import named
from ..vhosts import find

CODE = "AM018"
SUMMARY = "a disable comment names a code that is no rule (it suppresses nothing)"
SEVERITY = Severity.WARNING
SEES_INACTIVE = True  # about the file's comments, not about what httpd reads


def check(ctx):
    # Once per file: on its first vhost (where the file's other findings are).
    if find(ctx.cf)[0].section is not ctx.vhost.section:
        return
    from ..check import PARSE_ERROR
    from . import REGISTRY

    known = {*REGISTRY, PARSE_ERROR, "ALL"}
    for line, code in named(ctx.cf):
        if code not in known:
            import difflib  # only for a code that is no rule: the block's own disable comment names known ones

            near = difflib.get_close_matches(code, sorted(known - {"ALL"}), n=1)
            hint = f" (did you mean {near[0]}?)" if near else "; see apachemaint rules"
            yield line, f"unknown rule code {code} in a disable comment: it suppresses nothing{hint}"
