"""`check` reads a managed block's body as one node (reader.Block): whatever it finds must be
what it finds reading every node.  The oracle is the reader without ``blocks``: on every
fixture, every fixture as `patch` leaves it (with several block options), a patched Debian
tree checked with its server, and mutated patched files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from corpus import FIXTURES, debian_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apachemaint import block, check, reader, server
from apachemaint import patch as patching
from apachemaint.errors import ApacheMaintError, ConfigSyntaxError
from apachemaint.rules import UNKNOWN, ServerContext

PROFILE = "fuzz" if os.environ.get("APACHEMAINT_FUZZ") == "1" else "bounded"
settings.register_profile("blocks-bounded", max_examples=80, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("blocks-fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")),
                          deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Options that change what the body holds: an absolute page adds a <Directory> grant (which
# AM011 reads), allow-lists add conditions, no bypass URL drops rules.
OPTIONS = [None, {"page": "/srv/maint/index.html"}, {"allow_ips": ("10.0.0.0/8",), "allow_paths": ("/health",)},
           {"bypass_url": "", "retry_after": 60}]


def _files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size < 200_000)


def _shape(nodes) -> list[tuple]:
    """Every node as walk gives it, by value (a Section's children are compared as walked)."""
    out = []
    for n in reader.walk(nodes):
        row = (type(n).__name__, n.line, n.start, n.end)
        if isinstance(n, (reader.Directive, reader.Section)):
            row += (n.name, n.raw_args, n.lname)
        if isinstance(n, reader.Section):
            row += (n.open_end, n.close_start, n.close_line)
        if isinstance(n, reader.Comment):
            row += (n.text,)
        out.append(row)
    return out


def _both(data: bytes, path: str):
    """The file read both ways, or the error both raise (which must be the same)."""
    try:
        plain = reader.parse(data, path)
    except ConfigSyntaxError as exc:
        with pytest.raises(ConfigSyntaxError) as err:
            reader.parse(data, path, blocks=True)
        assert (err.value.message, err.value.line) == (exc.message, exc.line)
        return None
    return plain, reader.parse(data, path, blocks=True)


def _findings(cf, ctx=UNKNOWN) -> list:
    try:
        return check.check_config(cf, ctx)
    except ApacheMaintError as exc:  # check_config's own callers report these
        return [("raised", exc.message, exc.line)]


def _agree(data: bytes, path: str = "blocks.conf", ctx=UNKNOWN) -> int:
    read = _both(data, path)
    if read is None:
        return 0
    plain, blocks = read
    assert reader.serialize(blocks) == data
    assert _shape(blocks.children) == _shape(plain.children)
    assert _findings(blocks, ctx) == _findings(plain, ctx)
    blocks.release()  # and again after the blocks' nodes were let go
    assert _findings(blocks, ctx) == _findings(plain, ctx)
    return len(blocks.blocks)


def _patched(data: bytes, path: str, options: dict | None) -> bytes | None:
    try:
        text, _ = patching.plan_text(reader.parse(data, path), options)
    except ApacheMaintError:
        return None
    return reader.ConfigFile(path, text, []).to_bytes()


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_fixture_and_its_patched_forms_give_the_same_nodes_and_findings(path):
    data = path.read_bytes()
    _agree(data, str(path))
    for options in OPTIONS:
        patched = _patched(data, str(path), options)
        if patched is not None:
            _agree(patched, str(path))


def test_the_fixtures_hold_blocks_read_as_one_node():
    # Without this the test above could pass with no Block made at all.
    made = sum(_agree(p, str(path)) for path in _files()
               for p in [_patched(path.read_bytes(), str(path), o) for o in OPTIONS] if p is not None)
    assert made > 100


def test_the_markers_are_the_ones_block_writes():
    assert (reader._BEGIN, reader._END) == (block.BEGIN, block.END)


VHOST = "<VirtualHost *:80>\n    ServerName a.test\n    DocumentRoot /srv/a\n    RewriteEngine On\n</VirtualHost>\n"


def _body_with(line: str) -> str:
    """A patched vhost with ``line`` put into its block's body."""
    text, _ = patching.plan_text(reader.parse(VHOST, "a.conf"))
    marker = text.index(block.END)
    at = text.rfind("\n", 0, marker) + 1
    return text[:at] + line + "\n" + text[at:]


@pytest.mark.parametrize("line", [
    "    Include /etc/apache2/more.conf", "    LoadModule x_module x.so", "    Define X 1",
    "    # apachemaint: disable=AM005", "    # a note", "    <If \"true\">", "    </If>",
    "    RewriteRule ^ - \\\n        [L]", "    <VirtualHost *:81>\n    </VirtualHost>"])
def test_a_body_with_what_the_walk_or_a_rule_must_see_is_read_node_by_node(line):
    text = _body_with(line)
    try:
        cf = reader.parse(text, "a.conf", blocks=True)
    except ConfigSyntaxError:
        return  # an unbalanced section: refused as without blocks (see _both)
    assert cf.blocks == []
    _agree(text.encode(), "a.conf")


def test_a_plain_body_is_one_node_with_the_body_span():
    text, _ = patching.plan_text(reader.parse(VHOST, "a.conf"))
    cf = reader.parse(text, "a.conf", blocks=True)
    (b,) = cf.blocks
    vh = cf.children[0]
    assert [type(n).__name__ for n in vh.children[:3]] == ["Comment", "Block", "Comment"]
    assert text[b.start:b.end].splitlines() == text[vh.children[0].end:vh.children[2].start].splitlines()
    assert b.line == vh.children[0].line + 1
    # Two files with the same body share its parsed shape and its text: that is the memory
    # saved.  The file's text is joined again when asked for, and let go by release.
    other = reader.parse(text.replace("a.test", "b.test"), "b.conf", blocks=True)
    assert other.blocks[0].shape is b.shape and other.blocks[0].body is b.body
    assert "text" not in other.__dict__
    assert other.text == text.replace("a.test", "b.test")
    other.release()
    assert "text" not in other.__dict__ and other.lower_text == other.text.lower()


def test_a_patched_debian_server_gives_the_same_findings_either_way(tmp_path):
    root = debian_tree(tmp_path)
    for options in OPTIONS:
        for f in sorted((root / "sites-available").iterdir()):
            patched = _patched(f.read_bytes(), str(f), options)
            if patched is not None:
                f.write_bytes(patched)
        got = {}
        for blocks in (False, True):
            srv = server.load(root / "apache2.conf", blocks=blocks)
            ctx = ServerContext.from_server(srv)
            got[blocks] = [_findings(cf, ctx) for cf in srv.configs.values()]
            markers = sum(cf.text.count(block.BEGIN) for cf in srv.configs.values())
            assert markers and sum(len(cf.blocks) for cf in srv.configs.values()) == (markers if blocks else 0)
        assert got[True] == got[False]
        assert check.check_server(root / "apache2.conf") == sorted(f for fs in got[False] for f in fs)


# --- mutated patched files -------------------------------------------------------------------

SEEDS = [p for path in _files() for p in [_patched(path.read_bytes(), str(path), o) for o in OPTIONS[:2]]
         if p is not None and block.BEGIN.encode() in p]
TOKENS = [b"# END apachemaint\n", b"# BEGIN apachemaint v2 sha256:000000000000\n", b"</VirtualHost>\n",
          b"<If \"true\">\n", b"</If>\n", b"<IfModule x>\n", b"</IfModule>\n", b"Include /nope\n",
          b"Define X\n", b"# apachemaint: disable=AM005\n", b"# note\n", b"\\\n", b"\r\n", b"\n", b"\t",
          b"<Directory /srv>\nRequire all denied\n</Directory>\n", b"RewriteEngine Off\n",
          b"PassengerHighPerformance on\n", b"RewriteCond %{HTTP:X-Forwarded-For} ^10\\.\n"]


@st.composite
def mutated_patched(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["token", "line", "delete"]))
        if op == "delete":
            data[at:at + draw(st.integers(1, 30))] = b""
            continue
        if op == "line":  # at the start of a line, where a directive or marker would stand
            at = data.rfind(b"\n", 0, at) + 1
        data[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(data)


@settings(settings.get_profile(f"blocks-{PROFILE}"))
@given(mutated_patched())
def test_a_mutated_patched_file_gives_the_same_nodes_and_findings(data):
    _agree(data)
