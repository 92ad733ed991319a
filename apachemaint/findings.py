"""What ``check`` reports: one Finding type, and the formats it is printed in."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    column: int
    code: str
    severity: Severity
    message: str


def text(findings: list[Finding]) -> str:
    return "".join(f"{f.file}:{f.line}:{f.column}: {f.code} [{f.severity.name.lower()}] {f.message}\n"
                   for f in findings)


FORMATS = {"text": text}
