"""``check`` settings from a file: ``.apachemaint.toml`` (keys at the top level) or the
``[tool.apachemaint]`` table of ``pyproject.toml``.

Precedence, highest first: command-line options, then the settings file, then the
environment (``APACHEMAINT_FORMAT``, ``APACHEMAINT_FAIL_ON``, ``APACHEMAINT_CHECKPOINT_KEEP``,
``APACHEMAINT_CHECKPOINT_MAX_AGE_DAYS``; ``GITHUB_ACTIONS=true`` makes the default format
``github``), then the defaults.  ``checkpoint-keep`` and ``checkpoint-max-age-days`` are
read by every command that makes a checkpoint (``checkpoint.prune_settings``).  ``resolve`` is the one place that
merges them.  The file is looked for in the working folder and then each parent; the first folder
holding either file wins, ``.apachemaint.toml`` before ``pyproject.toml``.  A relative
``config`` path is read from the settings file's folder.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ApacheMaintError
from .findings import FORMATS, Severity

FILES = (".apachemaint.toml", "pyproject.toml")


class SettingsError(ApacheMaintError):
    """A settings file that cannot be read or holds an unknown key or value."""


@dataclass
class Settings:
    """One layer of settings (a file's, the command line's), where None is "not given";
    ``resolve`` returns one with every value filled in."""
    format: str | None = None
    fail_on: Severity | None = None
    fail_never: bool = False  # --fail-on never: findings alone never make the exit status 1
    ignore: set[str] | None = None
    select: set[str] | None = None  # None: every rule
    severity: dict[str, Severity] = field(default_factory=dict)
    config: Path | None = None
    use_apachectl: bool | None = None
    exclude: list[str] = field(default_factory=list)  # path patterns (see exclude.py)
    checkpoint_keep: int | None = None  # checkpoints kept after each change (checkpoint.prune)
    checkpoint_max_age_days: int | None = None  # and the oldest age kept
    source: Path | None = None  # the file these came from


DEFAULTS = Settings(format="text", fail_on=Severity.WARNING, ignore=set(), use_apachectl=False,
                    checkpoint_keep=20, checkpoint_max_age_days=90)
_COUNTS = {"checkpoint-keep": "checkpoint_keep", "checkpoint-max-age-days": "checkpoint_max_age_days"}
NEVER = ("never", "none")


def parse_fail_on(value: str) -> tuple[Severity | None, bool]:
    """``(severity, never)`` for a --fail-on value."""
    if value.strip().lower() in NEVER:
        return None, True
    try:
        return Severity.parse(value), False
    except ValueError:
        raise ValueError(f"unknown severity {value!r}; choose from info, warning, error, never") from None


def from_environment(env: Mapping[str, str]) -> Settings:
    s = Settings()
    if env.get("GITHUB_ACTIONS") == "true":
        s.format = "github"
    if env.get("APACHEMAINT_FORMAT"):
        s.format = env["APACHEMAINT_FORMAT"]
    if env.get("APACHEMAINT_FAIL_ON"):
        s.fail_on, s.fail_never = parse_fail_on(env["APACHEMAINT_FAIL_ON"])
    for key, name in _COUNTS.items():  # APACHEMAINT_CHECKPOINT_KEEP, APACHEMAINT_CHECKPOINT_MAX_AGE_DAYS
        value = env.get("APACHEMAINT_" + name.upper())
        if value:
            setattr(s, name, parse_count(key, value))
    return s


def parse_count(key: str, value: object) -> int:
    """A whole number of 0 or more (checkpoint-keep, checkpoint-max-age-days)."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise ValueError(f"{key} must be a whole number of 0 or more, not {value!r}")
    number = int(value)
    if number < 0:
        raise ValueError(f"{key} must be a whole number of 0 or more, not {value!r}")
    return number


def parse_codes(values: list[str] | None, known: set[str] | None) -> set[str] | None:
    """Codes given on the command line, each option value possibly ``A,B``."""
    if not values:
        return None
    out = {c.strip().upper() for v in values for c in v.split(",") if c.strip()}
    if known is not None and out - known:
        raise ValueError(f"unknown rule code(s): {', '.join(sorted(out - known))}")
    return out


def resolve(cli: Settings, file: Settings | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Every setting from the highest layer that gives it: CLI, file, environment, default.
    ``severity`` tables merge per code in that order.  Raises SettingsError for a bad
    environment value (no file or line to name)."""
    try:
        env_layer = from_environment(env or {})
    except ValueError as exc:
        raise SettingsError(f"environment: {exc}") from None
    layers = [cli, file or Settings(), env_layer, DEFAULTS]
    out = replace(DEFAULTS, severity={}, exclude=[], source=(file.source if file else None))
    for name in ("format", "ignore", "select", "config", "use_apachectl", *_COUNTS.values()):
        setattr(out, name, next((getattr(s, name) for s in layers if getattr(s, name) is not None), None))
    for s in layers:  # fail-on: a layer gives it by a severity or by "never"
        if s.fail_on is not None or s.fail_never:
            out.fail_on, out.fail_never = s.fail_on, s.fail_never
            break
    for s in reversed(layers):
        out.severity.update(s.severity)
        out.exclude = out.exclude + s.exclude  # --exclude adds to the file's: never checks more than it
    if out.format not in FORMATS:
        raise SettingsError(f"unknown format {out.format!r}; choose from {', '.join(FORMATS)}")
    return out


_KEYS = {"format", "fail-on", "ignore", "select", "severity", "config", "use-apachectl", "exclude", *_COUNTS}


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
            s.fail_on, s.fail_never = parse_fail_on(str(table["fail-on"]))
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
        if "exclude" in table:
            value = table["exclude"]
            if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                raise bad("exclude must be a list of path patterns")
            s.exclude = list(value)
        if "use-apachectl" in table:
            s.use_apachectl = bool(table["use-apachectl"])
        for key, name in _COUNTS.items():
            if key in table:
                setattr(s, name, parse_count(key, table[key]))
    except ValueError as exc:
        raise bad(str(exc)) from None
    return s
