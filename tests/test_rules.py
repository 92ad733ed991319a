"""Every rule fires on its fixture and stays silent on its ``_fp`` twin (fixtures/rules/), and
the registry keeps its promises (codes, docs, examples).  A fixture whose first lines say
``# fixture-modules: a b c`` is checked as part of a server that loads exactly those modules
(and httpd's built-ins); the real-Apache tests start Apache with the same list."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from corpus import FIXTURES

from apachemaint import block, reader
from apachemaint.block import BlockOptions
from apachemaint.check import check_config, find_vhosts
from apachemaint.findings import Severity
from apachemaint.layouts import DEBIAN_BUILTIN
from apachemaint.rules import REGISTRY, UNKNOWN, ServerContext, VHostContext
from apachemaint.rules.scope import rule_flags

RULES = FIXTURES / "rules"
_MODULES = re.compile(r"^# fixture-modules:(.*)$", re.MULTILINE)


def fixture_modules(path: Path) -> tuple[str, ...] | None:
    m = _MODULES.search(path.read_text())
    return tuple(m.group(1).split()) if m else None


def context_for(path: Path) -> ServerContext:
    mods = fixture_modules(path)
    if mods is None:
        return UNKNOWN
    return ServerContext(modules=set(mods) | DEBIAN_BUILTIN, defines=None)


def codes_for(path: Path) -> set[str]:
    return {f.code for f in check_config(reader.read(path), context_for(path))}


def test_every_rule_has_a_firing_and_a_silent_fixture():
    missing = [f"{code}{suffix}.vhost" for code in REGISTRY for suffix in ("", "_fp")
               if not (RULES / f"{code}{suffix}.vhost").is_file()]
    assert not missing, f"rules without fixtures: {missing}"
    orphans = {p.stem.removesuffix("_fp") for p in RULES.glob("*.vhost")} - set(REGISTRY)
    assert not orphans, f"fixtures of no rule: {orphans}"


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_fires_on_its_fixture(code):
    assert code in codes_for(RULES / f"{code}.vhost")


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_is_silent_on_its_fp_fixture(code):
    assert code not in codes_for(RULES / f"{code}_fp.vhost")


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_module_is_complete(code):
    rule = REGISTRY[code]
    assert re.fullmatch(r"AM\d{3}", rule.CODE) and rule.CODE == code
    assert rule.SUMMARY and isinstance(rule.SEVERITY, Severity)
    doc = rule.__doc__ or ""
    assert re.search(r"^(Fails|Reported)", doc, re.MULTILINE), "docstring needs a failing example"
    assert re.search(r"^(Passes|Not reported)", doc, re.MULTILINE), "docstring needs a passing example"
    assert callable(rule.check)


def test_rule_modules_are_all_registered():
    modules = {p.stem for p in Path(REGISTRY["AM001"].__file__).parent.glob("am[0-9]*.py")}
    assert modules == {m.__name__.rsplit(".", 1)[1] for m in REGISTRY.values()}


def test_rule_findings_point_at_their_fixture_lines():
    """Each firing fixture's finding is on a line of that fixture that exists."""
    for code in REGISTRY:
        path = RULES / f"{code}.vhost"
        lines = path.read_text().count("\n") + 1
        for f in check_config(reader.read(path), context_for(path)):
            assert 1 <= f.line <= lines


# --- rule details the fixtures do not pin down ----------------------------------------------

BLOCK = block.render(BlockOptions(), indent="    ")


def codes_of(text: str, ctx: ServerContext = UNKNOWN) -> list[str]:
    return [f.code for f in check_config(reader.parse(text, "t.conf"), ctx)]


def vhost(before: str = "", after: str = "DocumentRoot /srv/a\n") -> str:
    return f"<VirtualHost *:80>\n{before}{BLOCK}{after}</VirtualHost>\n"


@pytest.mark.parametrize("line", [
    "Redirect permanent /old https://example.com/new\n",
    "RedirectMatch ^/x$ /y\n",
    "Alias /static /srv/static\n",
    "ProxyPass /api http://127.0.0.1:9/\n",
    "RewriteRule ^/a$ /b\n",  # no [L]: rewriting goes on to the block
    "RewriteRule ^/a$ - [E=x:1]\n",
    "<Location /x>\nRewriteRule ^ - [L]\n</Location>\n",  # per-directory: runs after the block
])
def test_block_not_first_does_not_cry_wolf(line):
    assert "AM005" not in codes_of(vhost(before=line))


@pytest.mark.parametrize("flags", ["[L]", "[END]", "[P]", "[R=301]", "[last]", "[redirect=302,NE]",
                                   "[proxy,QSA]"])
def test_block_not_first_fires_for_each_winning_flag(flags):
    assert "AM005" in codes_of(vhost(before=f"RewriteRule ^/(.*)$ http://127.0.0.1:9/$1 {flags}\n"))


def test_block_not_first_sees_rules_in_conditionals_that_hold():
    rule = "<IfModule mod_rewrite.c>\nRewriteRule ^ http://x/ [R,L]\n</IfModule>\n"
    assert "AM005" in codes_of(vhost(before=rule))
    gone = ServerContext(modules=set(DEBIAN_BUILTIN), defines=set())
    rule = "<IfModule mod_nothing.c>\nRewriteRule ^ http://x/ [R,L]\n</IfModule>\n"
    assert "AM005" not in codes_of(vhost(before=rule), gone)


def test_rule_flags_reads_long_and_short_names():
    d = reader.parse("RewriteRule ^ x [R=301,last,NC]\n").children[0]
    assert rule_flags(d) == {"r": "301", "l": "", "nc": ""}


def test_whole_vhost_in_ifmodule_of_a_missing_module_is_reported():
    text = f"<IfModule mod_rewrite.c>\n{vhost()}</IfModule>\n"
    without = ServerContext(modules=set(DEBIAN_BUILTIN) | {"headers"}, defines=set())
    assert codes_of(text, without) == ["AM007"]  # every other rule skips a vhost httpd skips
    with_it = ServerContext(modules=set(DEBIAN_BUILTIN) | {"headers", "rewrite", "setenvif"}, defines=set())
    assert codes_of(text, with_it) == []
    assert "AM007" not in codes_of(text)  # no server known: nothing to say


def test_ifmodule_names_match_either_way():
    text = vhost(after="DocumentRoot /srv/a\n<IfModule rewrite_module>\n"
                 "RewriteRule ^ - [R=503,L]\n</IfModule>\n")
    ctx = ServerContext(modules=set(DEBIAN_BUILTIN) | {"headers"}, defines=set())
    assert "AM007" in codes_of(text, ctx)


def test_engine_off_before_the_block_or_in_a_section_is_fine():
    assert "AM008" not in codes_of(vhost(before="RewriteEngine Off\n"))
    assert "AM008" not in codes_of(vhost(after="DocumentRoot /a\n<Location /x>\nRewriteEngine Off\n</Location>\n"))
    wrapped = "DocumentRoot /a\n<IfModule mod_rewrite.c>\nRewriteEngine off\n</IfModule>\n"
    # The current block turns the engine on in its <If>, which merges after any RewriteEngine Off.
    assert "AM008" not in codes_of(vhost(after=wrapped))
    legacy = ("RewriteEngine On\nRewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f\n"
              "RewriteRule ^ - [R=503,L]\n")
    assert "AM008" in codes_of(f"<VirtualHost *:80>\n{legacy}{wrapped}</VirtualHost>\n")


def test_passenger_high_performance_at_server_level():
    d = reader.parse("PassengerHighPerformance On\n").children[0]
    ctx = ServerContext(modules=set(DEBIAN_BUILTIN) | {"rewrite", "headers"}, server_level=[d])
    assert "AM009" in codes_of(vhost(), ctx)


def test_page_folder_denied_by_the_server_is_granted_by_the_block_itself():
    srv = reader.parse("<Directory />\nRequire all denied\n</Directory>\n"
                       "<Directory /var/www/>\nRequire all granted\n</Directory>\n")
    ctx = ServerContext(modules=set(DEBIAN_BUILTIN) | {"rewrite", "headers"},
                        directories=[n for n in srv.children])
    assert "AM011" not in codes_of(vhost(after="DocumentRoot /srv/a\n"), ctx)
    # Without the block's own grant (a block from before it), the server's deny hides the page.
    assert "AM011" in codes_of(vhost(after="DocumentRoot /srv/a\n").replace("Require all granted", ""), ctx)
    # mod_access_compat is checked apart from Require: the block's grant does not undo it.
    compat = "DocumentRoot /srv/a\n<Directory /srv/a>\nOrder deny,allow\nDeny from all\n</Directory>\n"
    assert "AM011" in codes_of(vhost(after=compat), ctx)
    # A deny deeper than the page's folder does not concern it.
    deeper = compat.replace("Deny from all", "Allow from all") + (
        "<Directory /srv/a/system/private>\nOrder deny,allow\nDeny from all\n</Directory>\n")
    assert "AM011" not in codes_of(vhost(after=deeper), ctx)


def test_absolute_page_is_granted_by_the_block_itself():
    b = block.render(BlockOptions(page="/srv/shared/system/maintenance.html"), indent="    ")
    srv = reader.parse("<Directory />\nRequire all denied\n</Directory>\n")
    ctx = ServerContext(modules=set(DEBIAN_BUILTIN) | {"rewrite", "headers", "setenvif"}, directories=srv.children)
    text = f"<VirtualHost *:80>\n{b}ProxyPass / http://127.0.0.1:9/\n</VirtualHost>\n"
    assert codes_of(text, ctx) == []


@pytest.mark.parametrize("after, fires", [
    ("DocumentRoot /a\nDocumentRoot /b\n", False),  # the last wins, for Apache and for down
    ("DocumentRoot /a\n<IfDefine X>\nDocumentRoot /b\n</IfDefine>\n", True),
    ("<IfDefine X>\nDocumentRoot /b\n</IfDefine>\nDocumentRoot /a\n", False),
    ("DocumentRoot srv/a\n", True),
    ("DocumentRoot /a\nDocumentRoot /a\n", False),
    ("DocumentRoot ${APP_ROOT}/public\n", False),  # no server known: nothing to compare with
])
def test_page_location_cases(after, fires):
    assert ("AM013" in codes_of(vhost(after=after))) == fires


def test_docroot_only_in_a_conditional_is_reported_as_info():
    assert codes_of(vhost(after="<IfDefine PROD>\nDocumentRoot /var/www/a\n</IfDefine>\n")) == ["AM015"]


def test_page_location_define_that_down_cannot_see(monkeypatch):
    monkeypatch.delenv("APP_ROOT", raising=False)
    ctx = ServerContext(modules=set(DEBIAN_BUILTIN) | {"rewrite", "headers"},
                        variables={"APP_ROOT": "/srv/app"}, defined={"APP_ROOT": "/srv/app"})
    assert "AM013" in codes_of(vhost(after="DocumentRoot ${APP_ROOT}/public\n"), ctx)
    monkeypatch.setenv("APP_ROOT", "/srv/app")
    assert "AM013" not in codes_of(vhost(after="DocumentRoot ${APP_ROOT}/public\n"), ctx)


def test_forwarded_for_outside_maintenance_rules_is_not_reported():
    text = vhost(after="DocumentRoot /a\nRewriteCond %{HTTP:X-Forwarded-For} ^10\\.\n"
                 "RewriteRule ^ - [E=internal:1]\n")
    assert "AM012" not in codes_of(text)


def test_vhost_finder_keeps_the_sections_around_each_vhost():
    cf = reader.parse("<IfModule a>\n<IfDefine B>\n<VirtualHost *:80>\n</VirtualHost>\n</IfDefine>\n</IfModule>\n")
    [(vh, chain)] = find_vhosts(cf)
    assert [s.lname for s in chain] == ["ifmodule", "ifdefine"]
    assert VHostContext(cf, vh, ServerContext(modules={"x"}, defines=set()), chain).active is False
