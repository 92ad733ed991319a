"""What ``check`` reports: one Finding type, and the formats it is printed in.

A format is a plain function ``(findings, rules, color) -> str`` keyed by name in FORMATS;
``rules`` maps each code to ``(summary, default severity, documentation)`` for the formats
that describe their rules (SARIF, JUnit).
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


JSON_VERSION = 1  # raised only when a key is removed or changes meaning; new keys may appear


def json(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    """``{"version": 1, "findings": [{file, line, column, code, severity, message}, ...]}``."""
    import json as _json  # the formats' modules load with the format: start-up counts for pre-commit

    return _json.dumps({"version": JSON_VERSION, "findings": [
        {"file": f.file, "line": f.line, "column": f.column, "code": f.code,
         "severity": f.severity.name.lower(), "message": f.message} for f in findings]}, indent=2) + "\n"


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
        "helpUri": help_uri(code),
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
            "invocations": [{"executionSuccessful": not any(f.code == "AM000" for f in findings)}],
            "columnKind": "unicodeCodePoints",
        }],
    }
    import json as _json

    return _json.dumps(log, indent=2) + "\n"


def help_uri(code: str) -> str:
    """Where a rule is documented: its row of the README's rule table (generated from the rule)."""
    from . import HOMEPAGE

    return f"{HOMEPAGE}#{code.lower()}"


def _xml_text(s: str) -> str:
    # XML 1.0 cannot hold most control characters even escaped; a config line may.
    from xml.sax.saxutils import escape

    return escape("".join(c if c in "\t\n\r" or ord(c) >= 0x20 else f"\\x{ord(c):02x}" for c in s),
                  {'"': "&quot;"})


def junit(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    """JUnit XML as CI servers read it: one testsuite per file, one failing testcase per finding."""
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file, []).append(f)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           f'<testsuites name="apachemaint" tests="{len(findings)}" failures="{len(findings)}">\n']
    if not findings:  # a CI server shows a run with no tests as broken: one passing case
        out.append('  <testsuite name="apachemaint" tests="1" failures="0" errors="0">\n'
                   '    <testcase classname="apachemaint" name="check"/>\n  </testsuite>\n')
    for file, group in by_file.items():
        out.append(f'  <testsuite name="{_xml_text(file)}" tests="{len(group)}" failures="{len(group)}" '
                   f'errors="0">\n')
        for f in group:
            where = f"{f.file}:{f.line}:{f.column}"
            out.append(f'    <testcase classname="{_xml_text(file)}" name="{_xml_text(f"{f.code} line {f.line}")}" '
                       f'file="{_xml_text(f.file)}" line="{f.line}">\n'
                       f'      <failure type="{f.code}" message="{_xml_text(f.message)}">'
                       f'{_xml_text(f"{where}: {f.code} [{f.severity.name.lower()}] {f.message}")}</failure>\n'
                       f'    </testcase>\n')
        out.append("  </testsuite>\n")
    out.append("</testsuites>\n")
    return "".join(out)


_CHECKSTYLE_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "info"}


def checkstyle(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    """Checkstyle XML: ``<checkstyle><file name><error line column severity message source/>``."""
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.file, []).append(f)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<checkstyle version="4.3">\n']
    for file, group in by_file.items():
        out.append(f'  <file name="{_xml_text(file)}">\n')
        out.extend(f'    <error line="{f.line}" column="{f.column}" severity="{_CHECKSTYLE_SEVERITY[f.severity]}" '
                   f'message="{_xml_text(f.message)}" source="apachemaint.{f.code}"/>\n' for f in group)
        out.append("  </file>\n")
    out.append("</checkstyle>\n")
    return "".join(out)


_CODECLIMATE_SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}


def gitlab(findings: list[Finding], rules: dict[str, RuleInfo] | None = None, color: bool = False) -> str:
    """GitLab code quality (Code Climate issues, as a JSON array).  The fingerprint is the
    file, code and message, and the occurrence among equal ones: not the line, so a finding
    that only moves is the same finding to GitLab's merge-request diff."""
    import hashlib
    import json as _json

    seen: dict[tuple[str, str, str], int] = {}
    issues = []
    for f in findings:
        key = (f.file, f.code, f.message)
        seen[key] = seen.get(key, 0) + 1
        fingerprint = hashlib.sha256("\0".join((*key, str(seen[key]))).encode("utf-8", "surrogateescape"))
        issues.append({
            "type": "issue",
            "check_name": f.code,
            "description": f"{f.code} {f.message}",
            "categories": ["Bug Risk"],
            "severity": _CODECLIMATE_SEVERITY[f.severity],
            "fingerprint": fingerprint.hexdigest(),
            "location": {"path": f.file, "lines": {"begin": max(f.line, 1)}},
        })
    return _json.dumps(issues, indent=2) + "\n"


FORMATS = {"text": text, "json": json, "github": github, "sarif": sarif, "junit": junit,
           "checkstyle": checkstyle, "gitlab": gitlab}
