"""Taking a site down and bringing it back: what `down`, `up`, `status` and `run` do.

Maintenance is on exactly while the page file exists (the classic Capistrano contract), so
a page written by `cap deploy:web:disable` works too.  Beside the page, `down` keeps a
state folder (``.apachemaint/``) that the managed block reads: an armed copy of the page,
its JSON twin, the Retry-After, bypass tokens and a record of who started maintenance.

Order is what makes flips race-free.  The block decides once per request whether the flag
is there, but serves the ErrorDocument a moment later, from the copy in ``.apachemaint/``.
So `down` writes the copy first and raises the flag last, and `up` lowers the flag first
and removes the copy only after a grace period: a request that saw the flag always finds
the page.
"""
from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import page
from .errors import ApacheMaintError
from .location import Target, from_docroot, from_vhost
from .safewrite import write_atomic

__all__ = ["Target", "down", "from_docroot", "from_vhost", "run", "status", "up"]

DISARM_GRACE = 1.0  # seconds between lowering the flag and removing the armed copy


@dataclass
class DownResult:
    targets: list[Target]
    html: bytes
    retry_after: int
    token: str | None = None


def _who() -> str:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"{user}@{socket.gethostname()}"


def down(targets: list[Target], *, reason: str = "", until: str | None = None, template: Path | None = None,
         bypass: bool = False, now: datetime | None = None, lang: str = page.DEFAULT_LANG,
         refresh: bool = False) -> DownResult:
    now = now or datetime.now(UTC)
    parsed = page.parse_until(until, now)
    html = page.render_html(reason, parsed, now, template, lang=lang, refresh=refresh)
    result = DownResult(targets, html, 0)
    for t in targets:
        if bypass and not t.options.bypass_cookie:
            raise ApacheMaintError("this vhost's block has no bypass cookie (patch it with --bypass-cookie NAME)",
                                   t.source)
        if not t.root.is_dir():
            raise ApacheMaintError("document root does not exist", t.root)
    if bypass:
        result.token = secrets.token_urlsafe(24)
    for t in targets:
        retry = (parsed.retry_after(now) if parsed else None) or t.options.retry_after
        result.retry_after = retry
        record = {"since": now.isoformat(timespec="seconds"), "reason": reason,
                  "until": parsed.text if parsed else None,
                  "until_iso": parsed.at.isoformat() if parsed and parsed.at else None,
                  "retry_after": retry, "by": _who()}
        for folder in t.missing:
            _mkdir(folder, 0o755)
        _mkdir(t.state, 0o755)
        # Armed first: the copy, the JSON twin and the Retry-After are all in place before
        # the flag that makes the block answer 503.
        write_atomic(t.state / "page.html", html, mode=0o644)
        write_atomic(t.state / "page.json", page.render_json(reason, parsed, retry, since=now), mode=0o644)
        write_atomic(t.state / "retry-after", str(retry).encode(), mode=0o644)
        write_atomic(t.state / "state.json", (json.dumps(record, indent=2) + "\n").encode(), mode=0o644)
        if result.token:
            # Listable by nobody, stat-able by Apache: a token is only good to who knows it.
            _mkdir(t.state / "bypass", 0o711)
            write_atomic(t.state / "bypass" / result.token, b"", mode=0o600)
        write_atomic(t.page, html, mode=0o644)
    return result


def _mkdir(path: Path, mode: int) -> None:
    try:
        path.mkdir(mode=mode, exist_ok=True)
        os.chmod(path, mode)  # mkdir's mode is filtered by the umask; Apache's workers need these bits
    except OSError as exc:
        raise ApacheMaintError(f"cannot create folder: {exc.strerror}", path) from None


def up(targets: list[Target], *, grace: float = DISARM_GRACE) -> bool:
    """Lift maintenance; True when it was on anywhere."""
    was_on = False
    for t in targets:
        try:
            t.page.unlink()
            was_on = True
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ApacheMaintError(f"cannot remove the page: {exc.strerror}", t.page) from None
        shutil.rmtree(t.state / "bypass", ignore_errors=True)  # tokens die with the window
    if not any(t.state.exists() for t in targets):
        return was_on
    if was_on:
        time.sleep(grace)
    for t in targets:
        for name in ("page.html", "page.json", "retry-after", "state.json"):
            try:
                (t.state / name).unlink()
            except FileNotFoundError:
                pass
        try:
            t.state.rmdir()
        except OSError:
            pass  # not empty: someone else's files, left alone
    return was_on


@dataclass
class Status:
    target: Target
    down: bool
    record: dict | None  # what `down` recorded; None for a page written by another tool

    def as_dict(self, now: datetime) -> dict:
        d = {"page": str(self.target.page), "source": self.target.source, "maintenance": self.down,
             "patched": self.target.patched}
        if self.record:
            d.update({k: self.record.get(k) for k in ("since", "reason", "until", "by")})
            if self.record.get("until_iso"):
                left = datetime.fromisoformat(self.record["until_iso"]) - now
                d["seconds_left"] = max(0, int(left.total_seconds()))
        return d


def status(targets: list[Target]) -> list[Status]:
    out = []
    for t in targets:
        on = t.page.is_file()
        record = None
        if on and (t.state / "state.json").is_file():
            try:
                record = json.loads((t.state / "state.json").read_text())
            except (OSError, ValueError):
                record = None
        out.append(Status(t, on, record))
    return out


def run(targets: list[Target], command: list[str], *, on_failure: str, **down_args) -> int:
    """Down, run the command, up on success; on failure keep or lift. The command's status."""
    if on_failure not in ("keep", "lift"):
        raise ApacheMaintError(f"--on-failure {on_failure!r}: choose keep or lift")
    if not command:
        raise ApacheMaintError("no command given after --")
    down(targets, **down_args)
    try:
        code = subprocess.call(command)
    except OSError as exc:
        if on_failure == "lift":
            up(targets)
        raise ApacheMaintError(f"cannot run {command[0]}: {exc.strerror}") from None
    if code == 0 or on_failure == "lift":
        up(targets)
    return code
