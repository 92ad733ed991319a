"""The maintenance page and its JSON twin, rendered from Jinja2 templates.

``until`` is understood as an ISO 8601 time, a clock time ("12:00 UTC", the next one to
come), or a duration ("30m", "2h", "1h30m"); anything else is free text shown as given.
From a time comes the Retry-After the clients get.

The page's words live in ``templates/page/strings/<lang>.json``, one file per language
with the same keys as ``en.json``; ``--lang`` picks one, or names a file of your own.
"""
from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .block import RETRY_AFTER_MAX
from .errors import ApacheMaintError, InvalidOption

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?:\s*(?:UTC|Z))?$", re.I)
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
DEFAULT_LANG = "en"
# Without JavaScript, --refresh falls back to a meta refresh: never sooner than a minute
# (a page that stays down must not hammer the server), never later than five.
NOSCRIPT_REFRESH = (60, 300)


def utf8(text: str, what: str) -> str:
    """``text`` when it is text; a byte string that is not UTF-8 (argv and the environment
    reach Python with such bytes kept as surrogates) cannot go on a page."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidOption(f"{what}: not valid UTF-8 text") from None
    return text


@dataclass(frozen=True)
class Until:
    text: str  # as shown on the page
    at: datetime | None  # when it is a time

    def retry_after(self, now: datetime) -> int | None:
        """Seconds from ``now`` to the end, at most RETRY_AFTER_MAX: a client told to come
        back in 7,000 years has been told nothing useful."""
        if self.at is None:
            return None
        return min(RETRY_AFTER_MAX, max(1, int((self.at - now).total_seconds())))

    def retry_header(self, now: datetime) -> str | None:
        """Retry-After as an HTTP-date (RFC 9110): unlike seconds counted at `down`, it does
        not go stale while the page is served; capped at a year from ``now`` as the seconds are."""
        if self.at is None:
            return None
        at = min(self.at, now + timedelta(seconds=RETRY_AFTER_MAX))
        return format_datetime(at.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def parse_until(text: str | None, now: datetime) -> Until | None:
    if not text or not text.strip():
        return None
    text = utf8(text, "--until")
    text = text.strip()
    m = _DURATION.match(text.replace(" ", ""))
    if m and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        try:
            at = now + timedelta(days=d, hours=h, minutes=mi, seconds=s)
        except OverflowError:
            raise InvalidOption(f"--until {text!r}: too far in the future") from None
        return Until(_show(at), at)
    m = _CLOCK.match(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour > 23 or minute > 59:
            raise InvalidOption(f"--until {text!r}: not a time of day")
        at = now.astimezone(timezone.utc).replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= now:
            at += timedelta(days=1)
        return Until(_show(at), at)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return Until(text, None)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    if at <= now:
        raise InvalidOption(f"--until {text!r} is in the past")
    return Until(_show(at), at)


def _iso(at: datetime) -> str:
    # Whole seconds: JavaScript's Date.parse is only required to read milliseconds.
    return at.isoformat(timespec="seconds")


def _show(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@lru_cache(maxsize=1)
def _environment():
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    # Sandboxed: a --template is the caller's code, and apachemaint may run as root (sudo).
    return SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined,
                                keep_trailing_newline=True)


def render_html(reason: str, until: Until | None, since: datetime, template: Path | None = None,
                *, lang: str = DEFAULT_LANG, refresh: bool = False, site: str = "") -> bytes:
    """``site``: the name the page says it is for (none: the page names no site)."""
    reason = utf8(reason, "--reason")
    site = utf8(site, "--site-name")
    env = _environment()
    words = strings(lang)
    try:
        if template is None:
            source = (resources.files("apachemaint.templates") / "page" / "maintenance.html.j2").read_text()
        else:
            source = _read_template(Path(template))
        tpl = env.from_string(source)
        html = tpl.render(reason=reason, until_text=until.text if until else "",
                          until_iso=_iso(until.at) if until and until.at else "",
                          since_iso=since.isoformat(), site=site, lang=words.lang, dir=words.dir,
                          t=words.say, script_strings=words.for_script(), refresh=refresh,
                          noscript_refresh=_noscript_refresh(until, since))
    except OSError as exc:
        raise ApacheMaintError(f"cannot read template: {exc.strerror}", template) from None
    except Exception as exc:  # noqa: BLE001 - any template error is the user's template's
        import jinja2

        if not isinstance(exc, jinja2.TemplateError):
            raise
        line = getattr(exc, "lineno", None)
        raise ApacheMaintError(f"template does not render: {exc}", template or "default page", line) from None
    return html.encode("utf-8")


def _read_template(path: Path) -> str:
    """A --template's text, read as the sudo caller (a sudoers rule for apachemaint must not
    read what its user could not): a regular file only (a FIFO must not hang us, /dev/zero
    not fill memory), and one the world may read or the (non-root) caller owns, since the
    page is published to the world (a 0600 secret of root's is not a page)."""
    from . import caller
    from .reader import NotRegular, read_bytes

    uid = caller.caller_uid()

    def vet(st: os.stat_result) -> None:
        if not (st.st_mode & stat.S_IROTH or (st.st_uid == uid and uid != 0)):
            raise ApacheMaintError("template is not world-readable (the page is published to the world; "
                                   "chmod o+r it if it is meant to be)", path)

    try:
        with caller.as_caller():
            data = read_bytes(str(path), vet)
    except NotRegular:
        raise ApacheMaintError("cannot read template: not a regular file", path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApacheMaintError(f"cannot read template: not UTF-8 ({exc.reason})", path) from None


def _noscript_refresh(until: Until | None, since: datetime) -> int:
    low, high = NOSCRIPT_REFRESH
    left = until.retry_after(since) if until else None
    return min(max(left or high, low), high)


def render_json(reason: str, until: Until | None, retry_after: int, *, since: datetime | None = None,
                lang: str = DEFAULT_LANG) -> bytes:
    """The same facts as the page, for API clients: ``until`` is ISO 8601 or null (a free-text
    --until is only in ``until_text``); ``message`` is the page's sentence in ``lang``."""
    words = strings(lang)
    message = words.plain("down_because", reason=reason) if reason else words.plain("down")
    doc = {"status": 503, "maintenance": True, "lang": words.lang, "message": message, "reason": reason or None,
           "until": _iso(until.at) if until and until.at else None,
           "until_text": until.text if until else None,
           "retry_after": retry_after,
           "since": since.isoformat(timespec="seconds") if since else None}
    return (json.dumps(doc, indent=2) + "\n").encode()


@dataclass(frozen=True)
class Strings:
    """One language's words for the page."""
    lang: str
    words: dict

    @property
    def dir(self) -> str:
        return self.words.get("dir", "ltr")

    def say(self, key: str, **values):
        """The text under `key`, HTML-escaped, with `values` escaped too (Markup passes as is)."""
        from markupsafe import escape

        try:
            return escape(self.words[key]).format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidOption(f"--lang {self.lang}: the text of {key!r} has a bad placeholder ({exc})") from None

    def plain(self, key: str, **values) -> str:
        """The text under `key` with `values` in place, unescaped (for JSON, not HTML)."""
        try:
            return self.words[key].format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidOption(f"--lang {self.lang}: the text of {key!r} has a bad placeholder ({exc})") from None

    def for_script(self) -> dict:
        keys = ("local", "in_minutes", "in_hours", "any_moment")
        return {"lang": self.lang, **{k: self.words[k] for k in keys}}


def bundled_languages() -> list[str]:
    folder = resources.files("apachemaint.templates") / "page" / "strings"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def strings(lang: str = DEFAULT_LANG, flag: str = "--lang") -> Strings:
    """A bundled language ("de", or "de-AT" falling back to "de"), or a JSON file of your own
    with the keys of en.json (its name, or its "lang" key, gives the lang attribute). Keys a
    file leaves out are taken from English, so a new key never breaks an older translation.
    ``flag`` is the option an error names."""
    english = _load_bundled(DEFAULT_LANG)
    if lang.endswith(".json"):
        path = Path(lang)
        try:
            own = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidOption(f"--lang: cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise InvalidOption(f"--lang: {path} is not valid JSON: {exc}") from None
        if not isinstance(own, dict):
            raise InvalidOption(f"--lang: {path} must hold one JSON object")
        code = str(own.pop("lang", path.stem))
        if not _LANG.match(code):
            raise InvalidOption(f"--lang: {code!r} from {path} is not a language tag like de or pt-BR")
        return Strings(code, {**english, **own})
    if not _LANG.match(lang):
        raise InvalidOption(f"{flag} {lang!r}: not a language tag like de or pt-BR, nor a .json file")
    available = bundled_languages()
    for candidate in (lang.lower(), lang.split("-")[0].lower()):
        if candidate in available:
            return Strings(lang, {**english, **_load_bundled(candidate)})
    raise InvalidOption(f"{flag} {lang!r}: no bundled translation (there are {', '.join(available)}); "
                        "give a .json file of your own")


@lru_cache(maxsize=16)
def _load_bundled(code: str) -> dict:
    text = (resources.files("apachemaint.templates") / "page" / "strings" / f"{code}.json").read_text("utf-8")
    return json.loads(text)


def parse_langs(text: str | None) -> tuple[str, ...]:
    """``--langs en,de,fr``: the languages of one window's pages, the first the default (the
    one the flag page holds, served where no language matches); each must have words."""
    if not text or not text.strip():
        return ()
    langs = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for code in langs:
        if code.endswith(".json"):
            raise InvalidOption(f"--langs {code!r}: name bundled languages; a .json file goes with --lang")
        strings(code, "--langs")  # refuses a tag with no words
    return langs


def type_map(variants: list[tuple[str, str, bytes]]) -> bytes:
    """A mod_negotiation type map carrying each variant's body inline (``Body:``), so that
    Apache picks a language by Accept-Language and sends it from this one file: no second
    request that a ProxyPass could take to the backend. ``variants``: (language, content
    type, body), the default first; it comes again without a language, which makes it the
    answer where no language matches (a variant without one is acceptable to everyone)."""
    import secrets

    while True:
        edge = f"----apachemaint-{secrets.token_hex(8)}----"
        if not any(edge.encode() in body for _, _, body in variants):
            break
    default = variants[0]
    out = []
    for n, (lang, ctype, body) in enumerate([*variants, ("", default[1], default[2])]):
        head = [f"URI: variant-{n}", f"Content-Type: {ctype}"]
        if lang:
            head.append(f"Content-Language: {lang.lower()}")
        record = "\n".join([*head, f"Body:{edge}"]).encode() + b"\n" + body
        if not body.endswith(b"\n"):
            record += b"\n"
        out.append(record + edge.encode() + b"\n")
    return b"\n".join(out)
