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

import grp
import json
import os
import pwd
import secrets
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import audit, block, caller, page, pagedir
from .errors import ApacheMaintError
from .layouts import LAYOUTS
from .location import Target, from_docroot, from_vhost

__all__ = ["Target", "down", "from_docroot", "from_vhost", "run", "status", "up"]

DISARM_GRACE = 1.0  # seconds between lowering the flag and removing the armed copy


@dataclass
class DownResult:
    targets: list[Target]
    html: bytes
    retry_after: int  # seconds from `down`
    token: str | None = None
    retry_header: str = ""  # what clients get: those seconds, or the end as an HTTP-date
    unseen: list[str] = field(default_factory=list)  # page folders Apache's workers cannot enter


def _who() -> str:
    """Who started the window: the sudo caller when sudo really ran us, else the real user."""
    return f"{caller.real_user()}@{socket.gethostname()}"


@dataclass
class _Site:
    """One target's page folder, state folder and bypass folder, open (and maybe locked)."""
    target: Target
    folder: pagedir.Folder
    state: pagedir.Folder | None = None
    bypass: pagedir.Folder | None = None

    def close(self) -> None:
        for f in (self.bypass, self.state, self.folder):
            if f is not None:
                f.close()

    def record(self) -> dict | None:
        """The window `down` recorded, or None (none, or not one `down` could have written)."""
        record, problem = self.read_record()
        return None if problem else record

    def read_record(self) -> tuple[dict | None, str]:
        """The recorded window and "" , or None and why it is not trusted: the state folder
        sits in a docroot that its owner can write, so the file is anyone's text."""
        if self.state is None:
            return None, ""
        data = pagedir.read(self.state.fd, block.STATE_FILE, f"{self.state.path}/{block.STATE_FILE}")
        if data is None:
            return None, ""
        try:
            record = json.loads(data)
        except (ValueError, RecursionError):
            return None, "not JSON"
        problem = record_problem(record)
        return (None, problem) if problem else (record, "")

    def page_id(self) -> str | None:
        st = pagedir.entry(self.folder.fd, self.target.page.name)
        return pagedir.identity(st) if st is not None else None

    def holds(self, record: dict) -> bool:
        """Whether the page is the very file ``record``'s `down` wrote.  A record from before
        page ids had a modification time (``dev:ino``) is judged by what it has."""
        recorded, current = record.get("page_id"), self.page_id()
        if not (recorded and current):
            return False
        return current == recorded or (recorded.count(":") == 1 and current.startswith(recorded + ":"))


# What `down` writes to state.json, by type (None: a field left out or not known).
_RECORD_TYPES = {"since": str, "reason": str, "until": str, "until_given": str, "until_iso": str, "by": str,
                 "retry_after": int, "langs": list, "page_id": str, "window": str}


def record_problem(record) -> str:
    """Why ``record`` is not a state.json `down` wrote, or ""."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kind in _RECORD_TYPES.items():
        value = record.get(key)
        if value is not None and type(value) is not kind:  # type(): a bool is no retry_after
            return f"{key} is not a {'number' if kind is int else 'list' if kind is list else 'string'}"
    if not all(isinstance(code, str) for code in record.get("langs") or ()):
        return "langs holds more than language codes"
    for key in ("since", "until_iso"):
        try:
            at = datetime.fromisoformat(record[key]) if record.get(key) else None
        except ValueError:
            return f"{key} is not an ISO date and time"
        if at is not None and at.utcoffset() is None:
            return f"{key} has no time zone"
    return ""


def _open(t: Target, *, create: bool = False, lock: bool = False, bypass: bool = False) -> _Site | None:
    """The target's folders by the rules of `pagedir`; None when the page folder is missing.

    The lock is on the page folder, which apachemaint never removes, and is taken before
    the state folder is opened, since `up` may remove that.
    """
    root, below = t.walk
    folder = pagedir.open_folder(root, below, create=0o755 if create else None)
    if folder is None:
        return None
    site = _Site(t, folder)
    try:
        if lock:
            pagedir.lock(folder.fd, folder.path)
        site.state = pagedir.child(folder, block.STATE_DIR, create=0o755 if create else None)
        if site.state is not None:
            # Listable by nobody, stat-able by Apache: a token is only good to who knows it.
            site.bypass = pagedir.child(site.state, block.BYPASS_DIR, create=0o711 if create and bypass else None)
    except BaseException:
        site.close()
        raise
    return site


def _check(targets: list[Target]) -> list[str]:
    """Walk every target once without creating anything, so that a refusal writes nothing;
    the page folders found that Apache's workers cannot enter (see `_workers_can_enter`)."""
    unseen = []
    for t in targets:
        site = _open(t)
        if site is not None:
            if not _workers_can_enter(os.fstat(site.folder.fd)):
                unseen.append(site.folder.path)
            site.close()
    return unseen


def _workers_can_enter(st: os.stat_result) -> bool:
    """Whether Apache's workers can look into a page folder.  One they cannot enter (a private
    shared/public/system of uploads, 0700, or 0750 for the deploy's group) hides the page from
    them: the flag is never seen and the site stays up.  Which user the workers run as is the
    server's to say; any platform's run user or group counts (see `layouts`)."""
    if st.st_mode & stat.S_IXOTH:
        return True
    if st.st_mode & stat.S_IXUSR and _name(pwd.getpwuid, st.st_uid) in {lay.run_user for lay in LAYOUTS}:
        return True
    return bool(st.st_mode & stat.S_IXGRP) and _name(grp.getgrgid, st.st_gid) in {lay.run_group for lay in LAYOUTS}


def _name(lookup, ident: int) -> str:
    try:
        return lookup(ident)[0]
    except KeyError:
        return ""


def down(targets: list[Target], *, reason: str = "", until: str | None = None, template: Path | None = None,
         bypass: bool = False, now: datetime | None = None, lang: str = page.DEFAULT_LANG,
         refresh: bool = False, site_name: str | None = None, bypass_token: str | None = None,
         langs: tuple[str, ...] = ()) -> DownResult:
    """``bypass`` makes a random token for this window; ``bypass_token`` uses the one given
    (the same on every server of a fleet).  Either way it lives only as long as the window.
    ``langs``: a page per language, Apache choosing by Accept-Language; the first is the
    default and the one the flag page holds (``lang`` is then not used)."""
    now = now or datetime.now(timezone.utc)
    if bypass_token is not None:
        block.check_token(bypass_token)  # before anything is read or written
        bypass = True
    parsed = page.parse_until(until, now)
    languages = tuple(langs) or (lang,)
    site = site_of(targets) if site_name is None else site_name
    pages = [(code, page.render_html(reason, parsed, now, template, lang=code, refresh=refresh, site=site))
             for code in languages]
    html = pages[0][1]
    result = DownResult(targets, html, 0)
    for t in targets:
        if bypass and not t.options.bypass_cookie:
            raise ApacheMaintError("this vhost's block has no bypass cookie (patch it with --bypass-cookie NAME)",
                                   t.source)
    result.unseen = _check(targets)
    if bypass:
        result.token = bypass_token or secrets.token_urlsafe(24)
    sites: list[_Site] = []
    staged: list[pagedir.Staged] = []
    try:
        plans = []
        for t in targets:
            site = _open(t, create=True, lock=True, bypass=bypass)
            if site is None:
                raise ApacheMaintError("document root does not exist", t.root)
            sites.append(site)
            retry = (parsed.retry_after(now) if parsed else None) or t.options.retry_after
            result.retry_after = retry
            # The block sends the file's text as it is: a date when the end is a time.
            header = (parsed.retry_header(now) if parsed else None) or str(retry)
            result.retry_header = header
            twins = [(code, page.render_json(reason, parsed, retry, since=now, lang=code)) for code in languages]
            maps = None
            if langs:
                maps = (page.type_map([(code, "text/html; charset=utf-8", body) for code, body in pages]),
                        page.type_map([(code, "application/json", body) for code, body in twins]))
            plans.append(_stage(site, staged, html, twins[0][1], maps, header,
                                {"since": now.isoformat(timespec="seconds"), "reason": reason,
                                 "until": parsed.text if parsed else None,
                                 # As asked ("30m"): how a deploy tool tells its own window from
                                 # a new one, since `until` is already the end it worked out.
                                 "until_given": parsed and until.strip(),
                                 "until_iso": parsed.at.isoformat() if parsed and parsed.at else None,
                                 "retry_after": retry, "by": _who(), "langs": list(languages)},
                                result.token))
        audit.append({"event": "down", "at": now.isoformat(timespec="seconds"), "by": _who(), "reason": reason,
                      "until": parsed.text if parsed else None,
                      "until_iso": parsed.at.isoformat() if parsed and parsed.at else None,
                      "pages": [str(t.page) for t in targets]})
        # Everything is written and durable; only now does anything a client sees change.
        for site, order in zip(sites, plans):
            if not langs:  # a window in one language: the last one's maps must not answer instead
                for name in (block.PAGE_MAP, block.JSON_MAP):
                    pagedir.remove(site.state.fd, name, f"{site.state.path}/{name}")
            for s in order:
                pagedir.switch(s)
            for f in (site.bypass, site.state, site.folder):
                if f is not None:
                    pagedir.sync(f.fd)
        staged = []
    finally:
        pagedir.discard(staged)
        for site in sites:
            site.close()
    return result


def site_of(targets: list[Target]) -> str:
    """The name the page shows: the vhosts' ServerName when they all have the same one (one
    page is rendered for every target), else none rather than the wrong one."""
    names = {t.site for t in targets}
    return (names.pop() or "") if len(names) == 1 else ""


def _stage(site: _Site, staged: list, html: bytes, twin: bytes, maps: tuple[bytes, bytes] | None, retry: str,
           record: dict, token: str | None) -> list[pagedir.Staged]:
    """Write one site's new window to temp files; the order to switch them in: the armed
    copy, twin and Retry-After first, the flag last."""
    old = site.record()
    # The same window only while the page is the very file our last `down` put there; a
    # page removed by hand or by another tool ended that window, and its tokens with it.
    new_window = not (old and site.holds(old) and old.get("window"))
    record["window"] = secrets.token_hex(8) if new_window else old["window"]
    st, folder, t = site.state, site.folder, site.target
    if new_window and site.bypass is not None:
        pagedir.empty(site.bypass.fd, site.bypass.path)  # the last window's tokens die before this one opens

    def add(where: pagedir.Folder, name: str, data: bytes, mode: int) -> pagedir.Staged:
        staged.append(pagedir.stage(where.fd, name, data, mode, f"{where.path}/{name}"))
        return staged[-1]

    order = [add(st, block.PAGE_COPY, html, 0o644), add(st, block.PAGE_JSON, twin, 0o644),
             add(st, block.RETRY_AFTER, retry.encode(), 0o644)]
    if maps:
        order += [add(st, block.PAGE_MAP, maps[0], 0o644), add(st, block.JSON_MAP, maps[1], 0o644)]
    if token:
        order.append(add(site.bypass, token, b"", 0o600))
    flag = add(folder, t.page.name, html, 0o644)
    record["page_id"] = flag.ident
    order += [add(st, block.STATE_FILE, (json.dumps(record, indent=2) + "\n").encode(), 0o644), flag]
    return order


def up(targets: list[Target], *, grace: float = DISARM_GRACE) -> bool:
    """Lift maintenance; True when it was on anywhere.

    The lock is held through the grace, so a `down` started meanwhile waits and then
    writes a complete window that this cleanup cannot touch.
    """
    _check(targets)
    sites: list[_Site] = []
    try:
        for t in targets:
            site = _open(t, lock=True)
            if site is not None:
                sites.append(site)
        on = [str(site.target.page) for site in sites if pagedir.entry(site.folder.fd, site.target.page.name)]
        if on:
            audit.append({"event": "up", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "by": _who(),
                          "pages": on})
        was_on = False
        for site in sites:
            was_on |= pagedir.remove(site.folder.fd, site.target.page.name, str(site.target.page))
            if site.bypass is not None:
                pagedir.empty(site.bypass.fd, site.bypass.path)  # tokens die with the window
                try:
                    os.rmdir(block.BYPASS_DIR, dir_fd=site.state.fd)
                except OSError:
                    pass
        if not any(site.state for site in sites):
            return was_on
        if was_on:
            time.sleep(grace)
        for site in sites:
            if site.state is None:
                continue
            for name in (block.PAGE_MAP, block.JSON_MAP, block.PAGE_COPY, block.PAGE_JSON, block.RETRY_AFTER,
                         block.STATE_FILE):
                pagedir.remove(site.state.fd, name, f"{site.state.path}/{name}")
            try:
                os.rmdir(block.STATE_DIR, dir_fd=site.folder.fd)
            except OSError:
                pass  # not empty: someone else's files, left alone
        return was_on
    finally:
        for site in sites:
            site.close()


# The window's record fields `status --json` shows as they were recorded.
_SHOWN = ("since", "reason", "until", "until_given", "until_iso", "by", "langs")


@dataclass
class Status:
    target: Target
    down: bool
    record: dict | None  # what `down` recorded; None for a page written by another tool
    problem: str = ""  # why the state file was not trusted ("" when it was, or there is none)

    def as_dict(self, now: datetime) -> dict:
        d = {"page": str(self.target.page), "source": self.target.source, "maintenance": self.down,
             "patched": self.target.patched}
        if self.record:
            d.update({k: self.record.get(k) for k in _SHOWN})
            if self.record.get("until_iso"):
                left = datetime.fromisoformat(self.record["until_iso"]) - now
                d["seconds_left"] = max(0, int(left.total_seconds()))
        if self.problem:
            d["state_problem"] = self.problem
        return d


def status(targets: list[Target]) -> list[Status]:
    out = []
    for t in targets:
        site = _open(t)
        if site is None:
            out.append(Status(t, False, None))
            continue
        try:
            try:
                on = stat.S_ISREG(os.stat(t.page.name, dir_fd=site.folder.fd).st_mode)  # as the block's -f
            except OSError:
                on = False
            record, problem = site.read_record() if on else (None, "")
            if record and record.get("page_id") is not None and not site.holds(record):
                record = None  # left by an earlier window; this page came from elsewhere
        finally:
            site.close()
        out.append(Status(t, on, record, f"{site.state.path}/{block.STATE_FILE}: {problem} (ignored)"
                          if problem else ""))
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
