"""The maintenance page and its JSON twin, rendered from Jinja2 templates.

``until`` is understood as an ISO 8601 time, a clock time ("12:00 UTC", the next one to
come), or a duration ("30m", "2h", "1h30m"); anything else is free text shown as given.
From a time comes the Retry-After the clients get.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import ApacheMaintError, InvalidOption

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?:\s*(?:UTC|Z))?$", re.I)


@dataclass(frozen=True)
class Until:
    text: str  # as shown on the page
    at: datetime | None  # when it is a time

    def retry_after(self, now: datetime) -> int | None:
        if self.at is None:
            return None
        return max(1, int((self.at - now).total_seconds()))


def parse_until(text: str | None, now: datetime) -> Until | None:
    if not text or not text.strip():
        return None
    text = text.strip()
    m = _DURATION.match(text.replace(" ", ""))
    if m and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        at = now + timedelta(days=d, hours=h, minutes=mi, seconds=s)
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


def _show(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def render_html(reason: str, until: Until | None, since: datetime, template: Path | None = None) -> bytes:
    env = _environment()
    try:
        if template is None:
            source = (resources.files("apachemaint.templates") / "page" / "maintenance.html.j2").read_text()
        else:
            source = Path(template).read_text()
        tpl = env.from_string(source)
        html = tpl.render(reason=reason, until_text=until.text if until else "",
                          until_iso=until.at.isoformat() if until and until.at else "",
                          since_iso=since.isoformat())
    except OSError as exc:
        raise ApacheMaintError(f"cannot read template: {exc.strerror}", template) from None
    except Exception as exc:  # noqa: BLE001 - any template error is the user's template's
        import jinja2

        if not isinstance(exc, jinja2.TemplateError):
            raise
        line = getattr(exc, "lineno", None)
        raise ApacheMaintError(f"template does not render: {exc}", template or "default page", line) from None
    return html.encode("utf-8")


def render_json(reason: str, until: Until | None, retry_after: int) -> bytes:
    doc = {"status": 503, "maintenance": True, "reason": reason or None,
           "until": until.at.isoformat() if until and until.at else (until.text if until else None),
           "retry_after": retry_after}
    return (json.dumps(doc, indent=2) + "\n").encode()
