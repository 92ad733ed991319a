"""Property tests of the reader and the patcher over generated configs and mutated real ones.

- the reader raises nothing but ConfigSyntaxError, naming the file and a line of it;
- parse -> serialize gives back the input bytes;
- patch is idempotent and only adds lines inside <VirtualHost> sections (on input that has
  no block and no Capistrano recipe to replace);
- when patch refuses a file, no file of the run changes by a byte.

`make test` runs a bounded, derandomized pass (reproducible in CI); `make fuzz` runs a long
random one (APACHEMAINT_FUZZ=1, FUZZ_EXAMPLES=N).  Every crash found becomes a file under
fixtures/regressions/ that `test_regressions_keep_their_properties` replays.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from corpus import FIXTURES, corpus_files, fixture_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from apachemaint import block, reader
from apachemaint import patch as patching
from apachemaint.errors import ApacheMaintError, ConfigSyntaxError

pytestmark = pytest.mark.fuzz

settings.register_profile("bounded", max_examples=60, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = "fuzz" if os.environ.get("APACHEMAINT_FUZZ") == "1" else "bounded"
REGRESSIONS = FIXTURES / "regressions"


# --- inputs --------------------------------------------------------------------------------

def _seed_files() -> list[Path]:
    files = fixture_files() + corpus_files()
    files += sorted((FIXTURES / "malformed").glob("*.conf"))
    return [p for p in files if p.stat().st_size <= 200_000]


SEEDS = [p.read_bytes() for p in _seed_files()]

# Pieces httpd's reader treats specially, spliced into real files.
TOKENS = [b"<VirtualHost *:80>", b"</VirtualHost>", b"<IfModule mod_rewrite.c>", b"</IfModule>",
          b"<Directory />", b"</Directory>", b"</virtualhost>", b"<Macro M $x>", b"</Macro>",
          b"\\\n", b"\\\r\n", b"\\", b"#", b"# ", b"\r\n", b"\n", b"\r", b"<", b">", b"</", b"<>",
          b'"', b"'", b"\t", b" ", b"\xef\xbb\xbf", b"\xe9", b"\xff\xfe", b"\x00",
          b"RewriteEngine On\n", b"RewriteRule ^/a#b /c [R=301,L]\n", b"DocumentRoot /srv/www\n",
          b"RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f\n",
          b"RewriteRule ^.*$ /system/maintenance.html [L]\n", b"ErrorDocument 503 /system/maintenance.html\n",
          b"Redirect permanent / https://example.test/\n",
          b"# BEGIN apachemaint v2 sha256:000000000000 page=%{DOCUMENT_ROOT}/system/maintenance.html\n",
          b"# BEGIN apachemaint\n", b"# END apachemaint\n", b"# BEGIN apachemaint v1 sha256:x retry-after=x\n"]


@st.composite
def mutated(draw) -> bytes:
    """A seed file with a few splices, deletions, duplications or token insertions."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "dup_line", "swap_bytes", "truncate"]))
        n = len(data)
        at = draw(st.integers(0, n))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=4))
        elif op == "delete" and n:
            data[at:at + draw(st.integers(1, 40))] = b""
        elif op == "dup_line" and n:
            start = data.rfind(b"\n", 0, at) + 1
            stop = data.find(b"\n", at)
            stop = n if stop < 0 else stop + 1
            data[stop:stop] = data[start:stop]
        elif op == "swap_bytes" and n >= 2:
            at = min(at, n - 2)
            data[at], data[at + 1] = data[at + 1], data[at]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


NAMES = st.sampled_from(["ServerName", "DocumentRoot", "RewriteEngine", "RewriteRule", "ProxyPass",
                         "Header", "ErrorLog", "Alias", "Require", "Options", "servername"])
WORD = st.text(st.sampled_from('abc/^$.*%{}[]=:#"\'\\-_ 09'), min_size=1, max_size=12)
SECTION = st.sampled_from(["VirtualHost *:80", "VirtualHost 127.0.0.1:8080", "IfModule mod_ssl.c",
                           "IfModule !mod_rewrite.c", "Directory /srv", "Location /", "IfDefine X",
                           "Macro Site $n", "virtualhost *:443"])


def _lines(depth: int) -> st.SearchStrategy[list[str]]:
    leaf = st.one_of(
        st.builds(lambda n, ws: f"{n} {' '.join(ws)}", NAMES, st.lists(WORD, max_size=3)),
        st.builds(lambda w: f"# {w}", WORD),
        st.just(""), st.just("   "),
        st.builds(lambda n, w: f"{n} {w} \\\n    {w}", NAMES, WORD),  # continuation
    )
    if depth == 0:
        return st.lists(leaf, max_size=5)
    return st.lists(st.one_of(leaf.map(lambda x: [x]), st.builds(
        lambda head, body, indent, close_case: [f"<{head}>"] + [indent + ln for ln in body]
        + [f"</{head.split()[0].lower() if close_case else head.split()[0]}>"],
        SECTION, _lines(depth - 1).map(lambda ls: [ln for group in ls for ln in
                                                  (group if isinstance(group, list) else [group])]),
        st.sampled_from(["", "    ", "\t", "  "]), st.booleans())), max_size=5).map(
        lambda groups: [ln for g in groups for ln in (g if isinstance(g, list) else [g])])


@st.composite
def generated(draw) -> bytes:
    """A config built from sections and directives: mostly valid, sometimes not."""
    lines = draw(_lines(2))
    if draw(st.booleans()):  # most real files are one vhost around the rest
        lines = [draw(SECTION.filter(lambda s: s.lower().startswith("virtualhost")).map(lambda s: f"<{s}>"))] \
            + [f"    {ln}" for ln in lines] + ["</VirtualHost>"]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join(lines) + (eol if draw(st.booleans()) else "")
    data = text.encode("utf-8")
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"# \xe9t\xe9\n"])) + data


ANY_CONFIG = st.one_of(mutated(), generated())


# --- the properties ------------------------------------------------------------------------

def _parse(data: bytes, path: str = "fuzz.conf") -> reader.ConfigFile | None:
    """Parse, or check that the refusal is a ConfigSyntaxError naming this file and a line in it."""
    try:
        return reader.parse(data, path)
    except ConfigSyntaxError as exc:
        assert exc.file == path
        lines = data.count(b"\n") + 1
        assert exc.line is not None and 1 <= exc.line <= lines, (exc.line, lines, str(exc))
        return None


def check_reader(data: bytes) -> None:
    cf = _parse(data)
    if cf is not None:
        assert reader.serialize(cf) == data


def _vhost_spans(cf: reader.ConfigFile) -> list[tuple[int, int]]:
    return [(n.line, n.close_line) for n in reader.walk(cf.children)
            if isinstance(n, reader.Section) and n.lname == "virtualhost"]


def check_patch(data: bytes) -> None:
    cf = _parse(data)
    if cf is None:
        return
    try:
        new_text, results = patching.plan_text(cf)
    except ApacheMaintError:  # a managed block that cannot be read: refused, nothing planned
        return
    has_old = any(r.action is not patching.Action.INSERTED for r in results) or \
        any(isinstance(n, reader.Comment) and n.text.startswith(("# BEGIN apachemaint", "# END apachemaint"))
            for n in reader.walk(cf.children))
    new = reader.parse(new_text.encode("utf-8", "surrogateescape"), "fuzz.conf")
    again, again_results = patching.plan_text(new)
    assert again == new_text, "patching a patched file must change nothing"
    assert all(r.action in (patching.Action.CURRENT, patching.Action.NOT_APPLICABLE) for r in again_results)
    marked = any(isinstance(n, reader.Comment) and n.text.startswith(("# BEGIN apachemaint", "# END apachemaint"))
                 for n in reader.walk(cf.children))
    if not marked:  # unpatch gives back every byte, a replaced classic recipe's included
        assert patching.unplan_text(new)[0] == cf.text, "unpatch must give back the file as it was"
    if has_old:
        return  # replacing a block or a recipe legitimately removes lines
    # Lines as httpd counts them: str.splitlines() also breaks at \x1c-\x1e, \x85, U+2028...
    old_lines = cf.text.split("\n")
    new_lines = new_text.split("\n")
    spans = _vhost_spans(new)
    ops = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        assert tag in ("equal", "insert"), (tag, old_lines[i1:i2], new_lines[j1:j2])
        if tag == "insert":
            first, last = j1 + 1, j2  # 1-based lines of the new text
            assert any(a < first and last < b for a, b in spans), (first, last, spans)
            assert new_lines[j1].lstrip().startswith(block.BEGIN)


@settings(settings.get_profile(PROFILE))
@given(ANY_CONFIG)
def test_reader_only_raises_its_own_error_and_round_trips(data):
    check_reader(data)


@settings(settings.get_profile(PROFILE))
@given(ANY_CONFIG)
def test_patch_is_idempotent_and_only_adds_lines_inside_vhosts(data):
    check_patch(data)


@settings(settings.get_profile(PROFILE), max_examples=min(settings.get_profile(PROFILE).max_examples, 25))
@given(mutated())
def test_a_refused_patch_leaves_every_file_byte_identical(tmp_path_factory, data):
    from typer.testing import CliRunner

    from apachemaint.cli import app

    assume(_refused(data))
    tmp = tmp_path_factory.mktemp("refused")
    good = tmp / "good.conf"
    good.write_bytes(b"<VirtualHost *:80>\n    DocumentRoot /srv/www\n</VirtualHost>\n")
    bad = tmp / "bad.conf"
    bad.write_bytes(data)
    result = CliRunner().invoke(app, ["patch", "--no-configtest", str(good), str(bad)],
                                env={"APACHEMAINT_STATE_DIR": str(tmp / "state")})
    assert result.exit_code == 2, result.output
    assert good.read_bytes() == b"<VirtualHost *:80>\n    DocumentRoot /srv/www\n</VirtualHost>\n"
    assert bad.read_bytes() == data


def _refused(data: bytes) -> bool:
    try:
        patching.plan_text(reader.parse(data, "x.conf"))
    except ApacheMaintError:
        return True
    return False


def test_the_mutator_reaches_refusals_and_acceptances():
    """Guard against a fuzzer that only ever feeds one kind of input."""
    assert any(_refused(s) for s in SEEDS) and not all(_refused(s) for s in SEEDS)


def _regressions() -> list:
    files = sorted(p for p in REGRESSIONS.rglob("*") if p.is_file() and p.name != "README.md") \
        if REGRESSIONS.is_dir() else []
    return [pytest.param(p, id=str(p.relative_to(REGRESSIONS))) for p in files] or \
        [pytest.param(None, marks=pytest.mark.skip(reason="no regression fixtures yet"))]


@pytest.mark.parametrize("path", _regressions())
def test_regressions_keep_their_properties(path):
    data = path.read_bytes()
    check_reader(data)
    check_patch(data)


ARG_TEXT = st.text(alphabet=st.sampled_from(list(" \t\x0b\x0c\r\n\x1c\x1f\xa0\u2003\"'\\abc=[]/")), max_size=40)


@settings(settings.get_profile(PROFILE))
@given(ARG_TEXT)
def test_the_fast_word_split_agrees_with_httpds_rules(raw):
    # split_words takes str.split() for plain text; the character loop is httpd's rule.
    assert reader.split_words(raw) == reader._split_quoted(raw)
