"""The block's digest for the options most vhosts carry, known without rendering the template.

A one-file `check` of a patched vhost (what pre-commit runs on every commit) spent most of its
time importing Jinja2 and rendering the block only to learn that it is current.  ``DIGESTS``
holds what rendering gives for the options ``make fixtures`` lists, with the digest of the
two sources rendering depends on (the template and ``block.py``, whose constants fill it):
when either has changed since, the table is not used and the block is rendered, so a stale
table costs time, never a wrong answer.  Written by ``tools/fixtures.py``; do not edit.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

SOURCES = '6b4205d8f19282e9'  # digest of the template and block.py the table was rendered from
DIGESTS: dict[str, str] = {  # repr(BlockOptions) -> the body's digest
    "BlockOptions(page='%{DOCUMENT_ROOT}/system/maintenance.html', assets=(), allow_paths=(), allow_ips=(), bypass_cookie='apachemaint_bypass', retry_after=300, bypass_url='/.apachemaint/bypass')": '65da099b7993',  # noqa: E501
    "BlockOptions(page='%{DOCUMENT_ROOT}/system/maintenance.html', assets=(), allow_paths=('/up',), allow_ips=(), bypass_cookie='apachemaint_bypass', retry_after=300, bypass_url='/.apachemaint/bypass')": 'f118329e6364',  # noqa: E501
}

_current: list[str] = []


def sources_digest() -> str:
    """The digest of what rendering the block depends on, as it is installed now."""
    from . import block, templates

    h = hashlib.sha256()
    try:
        for path in (Path(templates.__path__[0]) / "vhost" / "maintenance-block.conf.j2", Path(block.__file__)):
            h.update(path.read_bytes())
    except OSError:  # sources not readable as files (a zipped install): render instead
        return ""
    return h.hexdigest()[:16]


def known(options) -> str | None:
    """The body digest for ``options`` (a BlockOptions), or None: render it."""
    found = DIGESTS.get(repr(options))
    if found is None:
        return None
    if not _current:
        _current.append(sources_digest())
    return found if _current[0] == SOURCES else None
