"""An ``Include`` inside a vhost counts where it stands: a snippet's ``[P]`` rule before the
block (AM005), its ``RewriteEngine Off`` (AM008) or ``PassengerHighPerformance on`` (AM009)
is reported at the Include line, plain and with the server config, and the behaviour
claims hold on a real Apache for the included form too."""
from __future__ import annotations

from pathlib import Path

import pytest
from http_client import get
from test_check_http import BEHAVIOUR, PAGE, current_blocks, host_of
from test_rules import RULES

from apachemaint import check
from apachemaint.httpd import DEFAULT_MODULES

# rule -> the fixture lines that move into the included snippet
MOVED = {
    "AM005": ("RewriteEngine On\n", "RewriteCond %{REQUEST_URI} !^/(assets|system)/", "[P,L]"),
    "AM008": ("RewriteEngine Off",),
    "AM009": ("PassengerHighPerformance on",),
}


def split(code: str, tmp: Path) -> tuple[Path, int]:
    """The firing fixture with its offending lines moved into a snippet it includes; the
    Include's line."""
    lines = current_blocks((RULES / f"{code}.vhost").read_text()).splitlines(keepends=True)
    snippet = tmp / f"{code}-snippet.conf"
    moved, out, at = [], [], 0
    for line in lines:
        # Before the block only: the block's own "RewriteEngine On" stays.
        if (any(m in line for m in MOVED[code]) and not line.lstrip().startswith("#")
                and not moved_block(out)):
            moved.append(line.strip() + "\n")
            if len(moved) == 1:
                out.append(f"    Include {snippet}\n")
                at = len(out)
            continue
        out.append(line)
    assert moved, code
    snippet.write_text("".join(moved))
    conf = tmp / f"{code}.conf"
    conf.write_text("".join(out))
    return conf, at


def moved_block(out: list[str]) -> bool:
    """Whether the managed block has started in what is written so far (and not ended)."""
    text = "".join(out)
    return text.count("# BEGIN apachemaint") > text.count("# END apachemaint")


@pytest.mark.parametrize("code", sorted(MOVED))
def test_an_included_snippet_counts_at_its_include_line(code, tmp_path):
    conf, line = split(code, tmp_path)
    assert (code, line) in {(f.code, f.line) for f in check.check_files([conf])}


@pytest.mark.apache
@pytest.mark.parametrize("code", sorted(set(MOVED) & set(BEHAVIOUR)))
def test_the_included_form_really_stays_up_during_maintenance(code, apache_factory, backend, served_tmp_path):
    conf, line = split(code, served_tmp_path)
    docroot = served_tmp_path / "www"
    (docroot / "system").mkdir(parents=True)
    (docroot / "system" / "maintenance.html").write_bytes(PAGE)
    apache = apache_factory([conf], defines={"DOCROOT": str(docroot), "BACKEND_PORT": str(backend.port)},
                            modules=DEFAULT_MODULES)
    findings = check.check_files([conf], config=apache.conf)
    assert (code, line) in {(f.code, f.line) for f in findings}
    resp = get(apache.url(BEHAVIOUR[code]), headers={"Host": host_of(f"{code}.vhost")})
    assert resp.status == 200, f"{code} in a snippet: Apache answered {resp.status}"
