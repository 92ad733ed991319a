"""The command line: a thin Typer layer.  Each command parses its options, calls one core
function, prints, and exits with one of the codes below.  Core errors arrive as
ApacheMaintError and leave as one ``FILE:LINE: message`` line on stderr."""
from __future__ import annotations

import sys
from functools import wraps
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1  # check found problems; patch --check would change a file
EXIT_ERROR = 2  # bad input or usage: nothing was written

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Put web applications behind Apache httpd into maintenance mode, safely.")


def reports_errors(fn):
    """Turn the core's errors into one line on stderr and exit status 2."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        from .errors import ApacheMaintError

        try:
            return fn(*args, **kwargs)
        except ApacheMaintError as exc:
            print(str(exc), file=sys.stderr)
            raise typer.Exit(EXIT_ERROR) from None
    return wrapper


def _version(value: bool) -> None:
    if value:
        print(f"apachemaint {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None) -> None:
    """Put web applications behind Apache httpd into maintenance mode, safely."""


Files = Annotated[list[Path], typer.Argument(help="Vhost files (a sites-enabled link is followed to its file).")]


@app.command()
@reports_errors
def patch(
    files: Files,
    page: Annotated[Optional[str], typer.Option(
        help="Where the page (and so the maintenance flag) lives: %{DOCUMENT_ROOT}/... or an "
             "absolute path. Default: %{DOCUMENT_ROOT}/system/maintenance.html.")] = None,
    asset_ext: Annotated[Optional[list[str]], typer.Option(
        "--asset-ext", help="Extra file extension served normally during maintenance (repeatable).")] = None,
    allow_path: Annotated[Optional[list[str]], typer.Option(
        "--allow-path", help="URL path that keeps working, e.g. a health check /up (repeatable).")] = None,
    allow_ip: Annotated[Optional[list[str]], typer.Option(
        "--allow-ip", help="Client network (CIDR) let through, matched on the client address (repeatable).")] = None,
    bypass_cookie: Annotated[Optional[str], typer.Option(
        help="Cookie name whose per-window token lets a browser through.")] = None,
    retry_after: Annotated[Optional[int], typer.Option(
        help="Seconds sent in Retry-After with the 503. Default 300.")] = None,
    diff: Annotated[bool, typer.Option("--diff", help="Print the unified diff; write nothing.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 if any file would change.")] = False,
    config: Annotated[Optional[Path], typer.Option(
        help="Main server config to test after patching (default: detect Debian/RHEL/httpd layouts).")] = None,
    no_configtest: Annotated[bool, typer.Option(
        "--no-configtest", help="Do not run Apache's config test after patching.")] = False,
) -> None:
    """Add or update the managed maintenance block in every <VirtualHost> of each file."""
    from . import patch as patching
    from .block import BlockOptions

    given = {"page": page, "assets": _tuple(asset_ext), "allow_paths": _tuple(allow_path),
             "allow_ips": _tuple(allow_ip), "bypass_cookie": bypass_cookie, "retry_after": retry_after}
    BlockOptions().merged(**given)  # refuse bad values before reading any file
    plans = [patching.plan(f, given) for f in files]
    for p in plans:
        if p.followed_link:
            print(f"{p.path}: symlink followed to {p.real}")
        for r in p.results:
            extra = f" ({r.detail})" if r.detail else ""
            print(f"{p.path}:{r.vhost.line}: {r.vhost.tag}: {r.action.value}{extra}")
    if diff or check:
        if diff:
            sys.stdout.write("".join(p.diff() for p in plans))
        would = [p.path for p in plans if p.changed]
        for path in would:
            print(f"{path}: would change", file=sys.stderr)
        raise typer.Exit(EXIT_FINDINGS if check and would else EXIT_OK)
    report = patching.apply(plans, config=config, configtest=not no_configtest)
    if report.checkpoint:
        print(f"originals saved in {report.checkpoint} (undo: apachemaint restore)")
    for main_conf, outcome in report.tested.items():
        print(f"config test of {main_conf}: {outcome}")
    for path in report.untested:
        print(f"{path}: not included by any server config found; config not tested")
    if not any(p.changed for p in plans):
        print("nothing to change")


def _tuple(values: Optional[list[str]]) -> Optional[tuple[str, ...]]:
    return tuple(values) if values else None


EXIT_DOWN = 3  # status: maintenance is on

Docroot = Annotated[Optional[Path], typer.Option(
    help="The site's DocumentRoot: the page goes to DOCROOT/system/maintenance.html.")]
Vhost = Annotated[Optional[Path], typer.Option(
    help="A patched vhost file: the page goes where its maintenance block looks.")]
Reason = Annotated[Optional[str], typer.Option(envvar="REASON", help="Why the site is down (env REASON).")]
Until = Annotated[Optional[str], typer.Option(
    envvar="UNTIL", help="When it is back: ISO 8601, '12:00 UTC', or a duration like 30m or 2h (env UNTIL).")]
Template = Annotated[Optional[Path], typer.Option(help="Your own Jinja2 page template.")]


def _targets(docroot: Optional[Path], vhost: Optional[Path]):
    from . import maintenance
    from .errors import ApacheMaintError

    if (docroot is None) == (vhost is None):
        raise ApacheMaintError("give exactly one of --docroot DIR or --vhost FILE")
    return maintenance.from_docroot(docroot) if docroot else maintenance.from_vhost(vhost)


def _down(targets, reason, until, template, bypass, verify):
    from . import maintenance, verify as verifying

    result = maintenance.down(targets, reason=reason or "", until=until, template=template, bypass=bypass)
    for t in targets:
        print(f"maintenance on: {t.page} (Retry-After {result.retry_after})")
    if result.token:
        cookie = targets[0].options.bypass_cookie
        print(f"bypass for this window only: send the cookie {cookie}={result.token}")
        print(f"  e.g. curl --cookie '{cookie}={result.token}' URL, or in the browser console: "
              f"document.cookie = '{cookie}={result.token}; path=/'")
    if verify:
        verifying.expect_down(verify, result.html)
        print(f"verified: {verify} answers 503 with the page")
    return result


@app.command()
@reports_errors
def down(docroot: Docroot = None, vhost: Vhost = None, reason: Reason = None, until: Until = None,
         template: Template = None,
         bypass: Annotated[bool, typer.Option(help="Make a bypass token for this window and print it.")] = False,
         verify: Annotated[Optional[str], typer.Option(
             help="Afterwards, check that this URL answers 503 with the page.")] = None) -> None:
    """Put the site into maintenance: render the page and put it where the vhost looks."""
    _down(_targets(docroot, vhost), reason, until, template, bypass, verify)


@app.command()
@reports_errors
def up(docroot: Docroot = None, vhost: Vhost = None,
       verify: Annotated[Optional[str], typer.Option(
           help="Afterwards, check that this URL no longer answers 503.")] = None) -> None:
    """Lift maintenance (a no-op when the site is up)."""
    from . import maintenance, verify as verifying

    targets = _targets(docroot, vhost)
    was_on = maintenance.up(targets)
    print("maintenance off" if was_on else "already up")
    if verify:
        verifying.expect_up(verify)
        print(f"verified: {verify} no longer answers 503")


@app.command()
@reports_errors
def status(docroot: Docroot = None, vhost: Vhost = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Is the site in maintenance? Exit 0 when up, 3 when down, 2 on errors."""
    import json
    from datetime import datetime, timezone

    from . import maintenance

    now = datetime.now(timezone.utc)
    states = [s.as_dict(now) for s in maintenance.status(_targets(docroot, vhost))]
    if as_json:
        print(json.dumps(states if len(states) > 1 else states[0], indent=2))
    else:
        for s in states:
            print(f"{'DOWN' if s['maintenance'] else 'up'}: {s['page']}")
            for key in ("since", "reason", "until", "by", "seconds_left"):
                if s.get(key) not in (None, ""):
                    print(f"  {key.replace('_', ' ')}: {s[key]}")
            if s["patched"] is not None:
                print(f"  vhost {s['source']}: " + ("patched, block current" if s["patched"]
                                                    else "block NOT current (run apachemaint patch)"))
    raise typer.Exit(EXIT_DOWN if any(s["maintenance"] for s in states) else EXIT_OK)


@app.command()
@reports_errors
def render(reason: Reason = None, until: Until = None, template: Template = None,
           output: Annotated[str, typer.Option("-o", "--output", help="File to write, or - for stdout.")] = "-",
           ) -> None:
    """Render the maintenance page only."""
    from datetime import datetime, timezone

    from . import page
    from .safewrite import write_atomic

    now = datetime.now(timezone.utc)
    html = page.render_html(reason or "", page.parse_until(until, now), now, template)
    if output == "-":
        sys.stdout.buffer.write(html)
    else:
        write_atomic(Path(output), html, mode=0o644)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@reports_errors
def run(ctx: typer.Context, docroot: Docroot = None, vhost: Vhost = None, reason: Reason = None,
        until: Until = None, template: Template = None,
        on_failure: Annotated[str, typer.Option(help="When the command fails: keep the site down, or lift.")] = "keep",
        ) -> None:
    """Down, run a command (after --), up on success; exits with the command's status."""
    from . import maintenance

    code = maintenance.run(_targets(docroot, vhost), list(ctx.args), on_failure=on_failure,
                           reason=reason or "", until=until, template=template)
    if code != 0:
        print(f"command failed with status {code}; maintenance "
              + ("kept on" if on_failure == "keep" else "lifted"), file=sys.stderr)
    raise typer.Exit(code)


@app.command()
@reports_errors
def check(files: Files,
          format: Annotated[str, typer.Option(help="Output format: text.")] = "text") -> None:
    """Report vhosts whose maintenance block is missing, edited, outdated or the legacy one."""
    from .check import PARSE_ERROR, check_files
    from .findings import FORMATS, Severity

    if format not in FORMATS:
        print(f"unknown format {format!r}; choose from {', '.join(FORMATS)}", file=sys.stderr)
        raise typer.Exit(EXIT_ERROR)
    findings = check_files(files)
    sys.stdout.write(FORMATS[format](findings))
    if any(f.code == PARSE_ERROR for f in findings):
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_FINDINGS if any(f.severity > Severity.INFO for f in findings) else EXIT_OK)


@app.command()
def rules() -> None:
    """List the lint rules with their codes."""
    from .rules import REGISTRY

    for code, rule in REGISTRY.items():
        print(f"{code}  {rule.SEVERITY.name.lower():7}  {rule.SUMMARY}")


@app.command()
@reports_errors
def restore(
    checkpoint_dir: Annotated[Optional[Path], typer.Argument(
        metavar="[CHECKPOINT]", help="Checkpoint folder (default: the newest).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the checkpoints.")] = False,
    force: Annotated[bool, typer.Option(help="Restore files changed since apachemaint wrote them.")] = False,
) -> None:
    """Put back the files of a patch run from its checkpoint."""
    from . import checkpoint

    if list_:
        for cp in checkpoint.all_checkpoints():
            print(cp)
        return
    for path in checkpoint.restore(checkpoint_dir, force=force):
        print(f"{path}: restored")
