"""``apachemaint check``: run every rule over every vhost of the given files.

An unreadable or unparsable file is reported as a finding of its own (AM000) and the other
files are still checked.
"""
from __future__ import annotations

from pathlib import Path

from . import reader, vhosts
from .errors import ApacheMaintError
from .findings import Finding, Severity
from .rules import VHostContext, run

PARSE_ERROR = "AM000"


def check_files(paths: list[str | Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in paths:
        try:
            cf = reader.read(path)
            for vh in vhosts.find(cf):
                findings.extend(run(VHostContext(cf, vh)))
        except ApacheMaintError as exc:
            findings.append(Finding(exc.file or str(path), exc.line or 1, 1, PARSE_ERROR,
                                    Severity.ERROR, exc.message))
    return sorted(findings)
