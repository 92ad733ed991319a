"""``check`` settings from a file: ``.apachemaint.toml`` (keys at the top level) or the
``[tool.apachemaint]`` table of ``pyproject.toml``.

Precedence, highest first: command-line options, then the settings file, then the defaults
below.  The file is looked for in the working folder and then each parent; the first folder
holding either file wins, ``.apachemaint.toml`` before ``pyproject.toml``.  A relative
``config`` path is read from the settings file's folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ApacheMaintError
from .findings import FORMATS, Severity

FILES = (".apachemaint.toml", "pyproject.toml")


class SettingsError(ApacheMaintError):
    """A settings file that cannot be read or holds an unknown key or value."""


@dataclass
class Settings:
    format: str | None = None  # None: text, or github under GitHub Actions
    fail_on: Severity = Severity.WARNING
    ignore: set[str] = field(default_factory=set)
    select: set[str] | None = None
    severity: dict[str, Severity] = field(default_factory=dict)
    config: Path | None = None
    use_apachectl: bool = False
    source: Path | None = None  # the file these came from


_KEYS = {"format", "fail-on", "ignore", "select", "severity", "config", "use-apachectl"}


def find(start: Path | None = None) -> tuple[Path, dict] | None:
    folder = (start or Path.cwd()).resolve()
    for d in (folder, *folder.parents):
        for name in FILES:
            path = d / name
            if not path.is_file():
                continue
            data = _bytes(path)
            if name == "pyproject.toml":
                # A project's own pyproject.toml is parsed only if it names us: parsing it
                # is most of a pre-commit check's settings cost (a key spelled with TOML
                # escapes would be missed; nobody writes [tool."\u0061pachemaint"]).
                if b"apachemaint" not in data:
                    continue
                table = _parse(data, path).get("tool", {}).get("apachemaint")
                if table is None:
                    continue
                return path, table
            return path, _parse(data, path)
    return None


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read settings: {exc}", path) from None


def _parse(data: bytes, path: Path) -> dict:
    from .compat import tomllib  # only where a settings file exists: it costs a pre-commit run ~10 ms to start

    toml = tomllib()
    try:
        return toml.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, toml.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read settings: {exc}", path) from None


def load(start: Path | None = None, known_codes: set[str] | None = None) -> Settings:
    found = find(start)
    if found is None:
        return Settings()
    path, table = found
    return from_table(table, path, known_codes)


def from_table(table: dict, path: Path, known_codes: set[str] | None = None) -> Settings:
    def bad(message: str) -> SettingsError:
        return SettingsError(message, path)

    unknown = set(table) - _KEYS
    if unknown:
        raise bad(f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}")

    def codes(key: str) -> set[str]:
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise bad(f"{key} must be a list of rule codes")
        out = {c.upper() for c in value}
        if known_codes is not None and out - known_codes:
            raise bad(f"{key}: unknown rule code(s) {', '.join(sorted(out - known_codes))}")
        return out

    s = Settings(source=path)
    try:
        if "format" in table:
            if table["format"] not in FORMATS:
                raise bad(f"format {table['format']!r}: choose from {', '.join(FORMATS)}")
            s.format = table["format"]
        if "fail-on" in table:
            s.fail_on = Severity.parse(str(table["fail-on"]))
        if "ignore" in table:
            s.ignore = codes("ignore")
        if "select" in table:
            s.select = codes("select")
        if "severity" in table:
            if not isinstance(table["severity"], dict):
                raise bad("severity must be a table of CODE = \"info|warning|error\"")
            s.severity = {k.upper(): Severity.parse(str(v)) for k, v in table["severity"].items()}
            if known_codes is not None and set(s.severity) - known_codes:
                raise bad(f"severity: unknown rule code(s) {', '.join(sorted(set(s.severity) - known_codes))}")
        if "config" in table:
            s.config = (path.parent / str(table["config"])).resolve()
        if "use-apachectl" in table:
            s.use_apachectl = bool(table["use-apachectl"])
    except ValueError as exc:
        raise bad(str(exc)) from None
    return s
