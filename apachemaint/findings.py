"""What ``check`` reports: one Finding type, and the formats it is printed in.

A format is a plain function ``(findings, rules, color) -> str`` keyed by name in FORMATS;
``rules`` maps each code to ``(summary, default severity, documentation)`` for the formats
that describe their rules (SARIF).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, name: str) -> Severity:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {name!r}; choose from info, warning, error") from None


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    column: int
    code: str
    severity: Severity
    message: str


RuleInfo = tuple[str, Severity, str]  # summary, default severity, documentation

_COLORS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_BOLD, _RESET = "\033[1m", "\033[0m"


def text(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    out = []
    for f in findings:
        sev = f.severity.name.lower()
        if color:
            out.append(f"{_BOLD}{f.file}:{f.line}:{f.column}:{_RESET} {_COLORS[f.severity]}{f.code} "
                       f"[{sev}]{_RESET} {f.message}\n")
        else:
            out.append(f"{f.file}:{f.line}:{f.column}: {f.code} [{sev}] {f.message}\n")
    return "".join(out)


def json(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    import json as _json  # the formats' modules load with the format: start-up counts for pre-commit

    return _json.dumps([{"file": f.file, "line": f.line, "column": f.column, "code": f.code,
                         "severity": f.severity.name.lower(), "message": f.message} for f in findings],
                       indent=2) + "\n"


_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def github(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    """GitHub Actions workflow commands: each finding becomes an annotation on its line."""
    return "".join(f"::{_GITHUB_LEVEL[f.severity]} file={_gh_prop(f.file)},line={f.line},col={f.column},"
                   f"title={_gh_prop(f.code)}::{_gh_data(f'{f.code} {f.message}')}\n" for f in findings)


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _uri(path: str) -> str:
    p = Path(path)
    from urllib.parse import quote

    return p.as_uri() if p.is_absolute() else quote(p.as_posix())


def sarif(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    """SARIF 2.1.0, one run; ruleIds are the stable codes, every rule is described."""
    from . import __version__

    rules = dict(rules or {})
    for f in findings:
        rules.setdefault(f.code, (f.code, f.severity, ""))
    ids = sorted(rules)
    descriptors = [{
        "id": code,
        "name": code,
        "shortDescription": {"text": rules[code][0]},
        "fullDescription": {"text": (rules[code][2] or rules[code][0]).strip()},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rules[code][1]]},
    } for code in ids]
    results = [{
        "ruleId": f.code,
        "ruleIndex": ids.index(f.code),
        "level": _SARIF_LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": _uri(f.file)},
            "region": {"startLine": max(f.line, 1), "startColumn": max(f.column, 1)},
        }}],
    } for f in findings]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "apachemaint", "version": __version__, "rules": descriptors}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }
    import json as _json

    return _json.dumps(log, indent=2) + "\n"


FORMATS = {"text": text, "json": json, "github": github, "sarif": sarif}
