"""The reader of record: positions, httpd's lexical rules, exact round trips, and agreement
with apacheconfig as an independent second reader."""
from __future__ import annotations

import re

import pytest
from corpus import FIXTURES, corpus_params, fixture_params

from apachemaint import reader, vhosts
from apachemaint.errors import ConfigSyntaxError
from apachemaint.reader import Comment, Directive, Section


def parse(text: str | bytes) -> reader.ConfigFile:
    return reader.parse(text.encode() if isinstance(text, str) else text, "t.conf")


def test_positions_of_sections_and_directives():
    cf = parse("# top\n<VirtualHost *:80>\n  ServerName a\n</VirtualHost>\n")
    comment, vh = cf.children
    assert isinstance(comment, Comment) and comment.line == 1
    assert isinstance(vh, Section) and (vh.name, vh.args, vh.line, vh.close_line) == ("VirtualHost", ["*:80"], 2, 4)
    d = vh.children[0]
    assert isinstance(d, Directive) and (d.name, d.args, d.line) == ("ServerName", ["a"], 3)
    assert cf.text[d.start:d.end] == "  ServerName a\n"
    assert cf.text[vh.open_end:vh.close_start] == "  ServerName a\n"


def test_hash_inside_a_line_is_data_not_a_comment():
    cf = parse("RewriteRule ^/a#b /c [L]\n  # a comment\n")
    rule, comment = cf.children
    assert rule.args == ["^/a#b", "/c", "[L]"]
    assert isinstance(comment, Comment) and comment.text == "# a comment"


def test_quoted_arguments_are_single_words():
    cf = parse('RewriteCond "%{HTTP_HOST}" "^www\\.(.+)$"\nHeader set X "a \\"b\\" c"\n')
    assert cf.children[0].args == ["%{HTTP_HOST}", "^www\\.(.+)$"]
    assert cf.children[1].args == ["set", "X", 'a "b" c']


def test_backslash_joins_lines_also_in_comments():
    cf = parse("# comment \\\n  still comment\nServerAlias a \\\n  b\nServerName c\n")
    comment, alias, name = cf.children
    assert isinstance(comment, Comment)
    assert alias.args == ["a", "b"] and alias.line == 3
    assert name.line == 5


def test_backslash_followed_by_space_does_not_join():
    cf = parse("ServerAlias a \\ \nServerName c\n")
    assert [c.name for c in cf.children] == ["ServerAlias", "ServerName"]


def test_section_names_close_case_insensitively():
    cf = parse("<virtualhost *:80>\n</VIRTUALHOST>\n")
    assert cf.children[0].lname == "virtualhost"


def test_text_after_a_closing_tag_is_ignored_as_httpd_does():
    # "</VirtualHost> </IfModule>" closes the vhost only; the <IfModule> runs to the end of
    # the file, which httpd accepts when the module is loaded.
    cf = parse("<IfModule x>\n<VirtualHost *:80>\n</VirtualHost> </IfModule>\nServerName a\n")
    ifmodule = cf.children[0]
    assert [type(c).__name__ for c in ifmodule.children] == ["Section", "Directive"]
    assert len(vhosts.find(cf)) == 1
    assert reader.serialize(cf) == cf.to_bytes()


def test_an_unclosed_vhost_outside_a_conditional_is_an_error():
    with pytest.raises(ConfigSyntaxError, match="was not closed"):
        parse("<VirtualHost *:80>\n<IfModule x>\n</IfModule>\n")


@pytest.mark.parametrize("text, line, message", [
    ("<VirtualHost *:80>\n<Directory />\n</VirtualHost>\n", 3, "Expected </Directory> but saw </VirtualHost>"),
    ("<VirtualHost *:80>\n  ServerName a\n", 1, "<VirtualHost> was not closed."),
    ("ServerName a\n</VirtualHost>\n", 2, "</VirtualHost> without matching <VirtualHost> section"),
    ("<VirtualHost *:80\n</VirtualHost>\n", 1, "<VirtualHost> directive missing closing '>'"),
    ("<IfModule a>\n<VirtualHost *:80>\n</IfModule>\n</VirtualHost>\n", 3,
     "Expected </VirtualHost> but saw </IfModule>"),
])
def test_malformed_input_names_file_and_line(text, line, message):
    with pytest.raises(ConfigSyntaxError) as err:
        parse(text)
    assert (err.value.file, err.value.line) == ("t.conf", line)
    assert message in err.value.message
    assert str(err.value).startswith(f"t.conf:{line}: ")


def test_empty_file_and_bom_and_crlf_and_latin1_round_trip():
    for data in (b"", b"\xef\xbb\xbf<VirtualHost *:80>\r\nServerName a\r\n</VirtualHost>\r\n",
                 b"# caf\xe9\nServerAdmin r\xe9mi@example.org\n", b"ServerName a"):
        try:
            cf = reader.parse(data, "t.conf")
        except ConfigSyntaxError:
            assert data.startswith(b"\xef\xbb\xbf")
            continue
        assert reader.serialize(cf) == data
    crlf = reader.parse(b"<VirtualHost *:80>\r\n</VirtualHost>\r\n", "t.conf")
    assert crlf.eol == "\r\n" and vhosts.find(crlf)[0].line == 1


def test_a_byte_order_mark_is_part_of_the_first_line_as_httpd_reads_it():
    # httpd: "Invalid command '\xef\xbb\xbf#'" for a commented first line, and a
    # <VirtualHost> right after the mark is no section, so its </VirtualHost> is stray.
    cf = reader.parse(b"\xef\xbb\xbf# c\n<VirtualHost *:80>\n</VirtualHost>\n", "t.conf")
    assert cf.bom and isinstance(cf.children[0], Directive) and len(vhosts.find(cf)) == 1
    with pytest.raises(ConfigSyntaxError) as err:
        reader.parse(b"\xef\xbb\xbf<VirtualHost *:80>\n</VirtualHost>\n", "t.conf")
    assert err.value.line == 2 and "without matching" in err.value.message


def _expected_malformed() -> list:
    table = FIXTURES / "malformed" / "EXPECTED.txt"
    rows = [ln.split("\t") for ln in table.read_text().splitlines() if ln.strip()]
    return [pytest.param(name, int(line), msg, id=name) for name, line, msg in rows]


# Where httpd's verdict depends on which modules are loaded, the reader takes an <IfModule>
# as true (it cannot know), so these rows hold only for a server without that module.
MODULE_DEPENDENT = {"same-line-close-module-absent.conf"}
# httpd words a few errors after its own internals; the reader says the same thing its way.
REWORDED = {"ifmodule-close-space.conf": "</IfModule> directive missing closing '>'"}


@pytest.mark.parametrize("name, line, message", _expected_malformed())
def test_malformed_fixtures_fail_where_httpd_fails(name, line, message):
    path = FIXTURES / "malformed" / name
    if name in MODULE_DEPENDENT:
        reader.read(path)  # accepted: the module may be loaded
        return
    with pytest.raises(ConfigSyntaxError) as err:
        reader.read(path)
    assert (err.value.file, err.value.line) == (str(path), line)
    assert REWORDED.get(name, message) in err.value.message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigSyntaxError) as err:
        reader.read(tmp_path / "nope.conf")
    assert "no such file" in str(err.value)


# Files in the corpus that httpd itself rejects: the reader must reject them too.
KNOWN_BAD = {"bad_conf_file.conf": "<VirtualHost> was not closed."}


@pytest.mark.parametrize("path", fixture_params() + corpus_params())
def test_parse_then_serialize_gives_back_the_same_bytes(path):
    data = path.read_bytes()
    if path.name in KNOWN_BAD:
        with pytest.raises(ConfigSyntaxError, match=KNOWN_BAD[path.name]):
            reader.parse(data, str(path))
        return
    cf = reader.parse(data, str(path))
    assert reader.serialize(cf) == data


def _apacheconfig_vhosts(data: bytes) -> list[str] | None:
    """VirtualHost arguments in file order as apacheconfig reads them; None where it cannot."""
    apacheconfig = pytest.importorskip("apacheconfig")
    from apacheconfig import flavors, make_loader
    from apacheconfig.wloader import BlockNode

    try:
        with make_loader(writable=True, **flavors.NATIVE_APACHE) as loader:
            tree = loader.loads(data.decode("utf-8"))
    except (apacheconfig.ApacheConfigError, UnicodeDecodeError, Exception):  # noqa: BLE001 - second opinion only
        return None
    out: list[str] = []

    def visit(node) -> None:
        for child in node:
            if isinstance(child, BlockNode):
                if child.tag.lower() == "virtualhost":
                    out.append(" ".join((child.arguments or "").split() if isinstance(child.arguments, str)
                                        else list(child.arguments or ())))
                visit(child)

    visit(tree)
    return out


@pytest.mark.parametrize("path", fixture_params() + corpus_params())
def test_agrees_with_apacheconfig_on_vhosts(path):
    data = path.read_bytes()
    theirs = _apacheconfig_vhosts(data)
    if theirs is None or path.name in KNOWN_BAD:
        pytest.skip("apacheconfig cannot parse this file (a known limit of that reader)")
    # apacheconfig keeps a continuation backslash inside section arguments; httpd joins the lines.
    theirs = [re.sub(r"\s*\\\s*", " ", t) for t in theirs]
    ours = [" ".join(vh.section.args) for vh in vhosts.find(reader.parse(data, str(path)))]
    assert ours == theirs
