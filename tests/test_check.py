"""`apachemaint check` as CI and pre-commit run it: exit codes, formats, suppression,
settings, whole-server reading, --fix, and its cost on a large tree."""
from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from corpus import FIXTURES, ROOT, debian_tree
from run_cli import cli_runner

from apachemaint import block, check, layouts, server
from apachemaint.block import BlockOptions
from apachemaint.findings import Finding, Severity, github, text


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def apachemaint(*args, cwd: Path | None = None, env: dict | None = None, state: Path | None = None,
                input: bytes | None = None) -> Result:
    """The command line, in-process (a child per call would dominate this file's runtime)."""
    from apachemaint.cli import app

    env = {"GITHUB_ACTIONS": None, **(env or {})}  # these tests may themselves run under Actions
    if state is not None:
        env["APACHEMAINT_STATE_DIR"] = str(state)
    old = os.getcwd()
    os.chdir(cwd or old)
    try:
        r = cli_runner().invoke(app, [str(a) for a in args], env=env, input=input)
    finally:
        os.chdir(old)
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Result(r.exit_code, r.stdout, r.stderr)

BLOCK = block.render(BlockOptions(), indent="    ")
PROXY = ("<VirtualHost *:80>\n    ServerName a\n    DocumentRoot /srv/a\n"
         "    <Directory /srv/a>\n        Require all granted\n    </Directory>\n"
         "    ProxyPass / http://127.0.0.1:3000/\n</VirtualHost>\n")
PATCHED = PROXY.replace("<VirtualHost *:80>\n", "<VirtualHost *:80>\n" + BLOCK)


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


# --- exit codes and the text format ---------------------------------------------------------

def test_exit_codes_follow_the_failing_severity(tmp_path):
    clean = write(tmp_path / "clean.conf", PATCHED)
    assert apachemaint("check", clean, cwd=tmp_path).returncode == 0
    macro = write(tmp_path / "m.conf", f"<Macro M $x>\n{PATCHED}</Macro>\n")
    result = apachemaint("check", macro, cwd=tmp_path)
    assert result.returncode == 1 and f"{macro}:2:1: AM014 [warning]" in result.stdout
    assert apachemaint("check", "--fail-on", "error", macro, cwd=tmp_path).returncode == 0
    info = write(tmp_path / "r.conf", "<VirtualHost *:80>\nRedirect / https://a/\n</VirtualHost>\n")
    assert apachemaint("check", info, cwd=tmp_path).returncode == 0
    assert apachemaint("check", "--fail-on", "info", info, cwd=tmp_path).returncode == 1
    assert apachemaint("check", "--fail-on", "loud", info, cwd=tmp_path).returncode == 2
    assert apachemaint("check", "--ignore", "AM999", info, cwd=tmp_path).returncode == 2


def test_unreadable_files_exit_2_and_the_rest_is_still_checked(tmp_path):
    bad = write(tmp_path / "bad.conf", "<VirtualHost *:80>\n</Directory>\n")
    good = write(tmp_path / "good.conf", PROXY)
    result = apachemaint("check", bad, tmp_path / "gone.conf", good, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}:2:1: AM000 [error] Expected </VirtualHost> but saw </Directory>" in result.stdout
    assert f"{tmp_path / 'gone.conf'}:1:1: AM000" in result.stdout
    assert f"{good}:1:1: AM001" in result.stdout


def test_colour_only_on_a_tty_and_never_with_no_color(tmp_path):
    conf = write(tmp_path / "a.conf", PROXY)
    assert "\033[" not in apachemaint("check", conf, cwd=tmp_path).stdout

    def on_tty(env: dict) -> str:
        master, slave = pty.openpty()
        proc = subprocess.run([sys.executable, "-m", "apachemaint", "check", str(conf)], check=False, stdout=slave,
                              stderr=subprocess.DEVNULL, env={**os.environ, **env}, cwd=tmp_path, timeout=60)
        os.close(slave)
        out = os.read(master, 65536).decode()
        os.close(master)
        assert proc.returncode == 1
        return out

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\033[31mAM001" in on_tty({**env, "NO_COLOR": ""})
    assert "\033[" not in on_tty({"NO_COLOR": "1"})


# --- formats ------------------------------------------------------------------------------

F = [Finding("a b/x.conf", 3, 1, "AM005", Severity.ERROR, "50% done, a:b\nnext"),
     Finding("x.conf", 1, 1, "AM010", Severity.INFO, "only redirects")]


def test_text_format():
    assert text(F[1:]) == "x.conf:1:1: AM010 [info] only redirects\n"


def test_github_annotations_escape_what_workflow_commands_need():
    out = github(F).splitlines()
    assert out[0] == "::error file=a b/x.conf,line=3,col=1,title=AM005::AM005 50%25 done, a:b%0Anext"
    assert out[1].startswith("::notice file=x.conf,line=1,col=1,title=AM010::")


def test_github_format_is_chosen_under_github_actions(tmp_path):
    conf = write(tmp_path / "a.conf", PROXY)
    out = apachemaint("check", conf, cwd=tmp_path, env={"GITHUB_ACTIONS": "true"}).stdout
    assert out.startswith(f"::error file={conf},line=1,col=1,title=AM001::")
    out = apachemaint("check", "--format", "text", conf, cwd=tmp_path, env={"GITHUB_ACTIONS": "true"}).stdout
    assert out.startswith(f"{conf}:1:1: AM001")


def test_json_format(tmp_path):
    conf = write(tmp_path / "a.conf", PROXY)
    data = json.loads(apachemaint("check", "--format", "json", conf, cwd=tmp_path).stdout)
    assert data == {"version": 1, "findings": [{"file": str(conf), "line": 1, "column": 1, "code": "AM001",
                                                "severity": "error", "message": data["findings"][0]["message"]}]}
    assert json.loads(apachemaint("check", "--format", "json", write(tmp_path / "b.conf", PATCHED)).stdout) \
        == {"version": 1, "findings": []}


# The parts of the SARIF 2.1.0 schema (sarif-schema-2.1.0.json, OASIS) that this output uses,
# written out here: the schema itself cannot be fetched at test time, no installable package
# ships it, and it is not vendored.
SARIF_SUBSET = {
    "type": "object", "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                   "rules": {"type": "array", "uniqueItems": True, "items": {
                                       "type": "object", "required": ["id"],
                                       "properties": {
                                           "id": {"type": "string"},
                                           "helpUri": {"type": "string", "format": "uri"},
                                           "shortDescription": {"$ref": "#/$defs/message"},
                                           "fullDescription": {"$ref": "#/$defs/message"},
                                           "defaultConfiguration": {"type": "object", "properties": {
                                               "level": {"$ref": "#/$defs/level"}}}}}}}}}},
                "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                "invocations": {"type": "array", "items": {
                    "type": "object", "required": ["executionSuccessful"],
                    "properties": {"executionSuccessful": {"type": "boolean"}}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["message"],
                    "properties": {
                        "ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": {"$ref": "#/$defs/level"},
                        "message": {"$ref": "#/$defs/message"},
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {"type": "object", "properties": {
                                "artifactLocation": {"type": "object", "properties": {
                                    "uri": {"type": "string", "format": "uri-reference"}}},
                                "region": {"type": "object", "properties": {
                                    "startLine": {"type": "integer", "minimum": 1},
                                    "startColumn": {"type": "integer", "minimum": 1}}}}}}}}}}}}}}},
    "$defs": {"message": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
              "level": {"enum": ["none", "note", "warning", "error"]}},
}


def test_sarif_is_valid_and_rule_ids_are_stable(tmp_path):
    conf = write(tmp_path / "a.conf", PROXY)
    log = json.loads(apachemaint("check", "--format", "sarif", conf.name, cwd=tmp_path).stdout)
    jsonschema.validate(log, SARIF_SUBSET, format_checker=jsonschema.FormatChecker())
    run = log["runs"][0]
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert all(r["helpUri"].endswith("#" + r["id"].lower()) and r["helpUri"].startswith("https://")
               for r in run["tool"]["driver"]["rules"])
    broken = json.loads(apachemaint("check", "--format", "sarif", write(tmp_path / "b.conf", "<If\n")).stdout)
    jsonschema.validate(broken, SARIF_SUBSET)
    assert broken["runs"][0]["invocations"] == [{"executionSuccessful": False}]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert ids == sorted(ids) and {"AM000", "AM001", "AM005", "AM015"} <= set(ids)
    [result] = run["results"]
    assert result["ruleId"] == "AM001" and ids[result["ruleIndex"]] == "AM001"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "a.conf"


# --- suppression and settings ---------------------------------------------------------------

def test_inline_suppression_covers_the_next_line_or_the_whole_vhost(tmp_path):
    conf = write(tmp_path / "a.conf", "# apachemaint: disable=AM001\n" + PROXY + PROXY
                 + "# apachemaint: disable=all\n" + f"<Macro M>\n{PROXY}</Macro>\n")
    result = apachemaint("check", conf, cwd=tmp_path)
    assert [ln.split(": ")[1].split()[0] for ln in result.stdout.splitlines()] == ["AM001"]
    assert f"{conf}:{2 + PROXY.count(chr(10))}:1: AM001" in result.stdout  # the second vhost only
    line = write(tmp_path / "b.conf", PATCHED.replace(
        "    ProxyPass", "    # apachemaint: disable=AM005\n    RewriteRule ^/x http://b/ [P]\n    ProxyPass"))
    moved = line.read_text().replace("    # apachemaint: disable=AM005\n    RewriteRule ^/x http://b/ [P]\n", "")
    moved = moved.replace("<VirtualHost *:80>\n", "<VirtualHost *:80>\n    # apachemaint: disable=AM005\n"
                          "    RewriteRule ^/x http://b/ [P]\n")
    line.write_text(moved)
    assert apachemaint("check", line, cwd=tmp_path).returncode == 0
    line.write_text(moved.replace("    # apachemaint: disable=AM005\n", ""))
    assert "AM005" in apachemaint("check", line, cwd=tmp_path).stdout


def test_settings_file_and_cli_precedence(tmp_path):
    project = tmp_path / "proj"
    conf = write(project / "sites" / "m.conf", f"<Macro M $x>\n{PATCHED}</Macro>\n")
    write(project / "pyproject.toml", "[project]\nname='x'\n\n[tool.apachemaint]\nignore = ['AM014']\n")
    assert apachemaint("check", conf, cwd=project / "sites").returncode == 0  # found in a parent folder
    assert apachemaint("check", "--ignore", "AM001", conf, cwd=project).returncode == 1  # CLI wins
    # .apachemaint.toml wins over pyproject.toml in the same folder.
    write(project / ".apachemaint.toml", 'fail-on = "error"\nformat = "json"\n[severity]\nAM014 = "error"\n')
    result = apachemaint("check", conf, cwd=project)
    assert result.returncode == 1 and json.loads(result.stdout)["findings"][0]["severity"] == "error"
    write(project / ".apachemaint.toml", 'fail-on = "loud"\n')
    result = apachemaint("check", conf, cwd=project)
    assert result.returncode == 2 and "unknown severity" in result.stderr and ".apachemaint.toml" in result.stderr
    write(project / ".apachemaint.toml", 'ignores = ["AM014"]\n')
    assert "unknown setting(s) ignores" in apachemaint("check", conf, cwd=project).stderr


def test_a_pyproject_toml_is_ours_only_where_it_names_us(tmp_path):
    project = tmp_path / "proj"
    conf = write(project / "m.conf", f"<Macro M $x>\n{PATCHED}</Macro>\n")
    # Broken TOML, but another tool's file: not read, no error (AM014 reported as usual).
    write(project / "pyproject.toml", "[project\nname = 'x'\n")
    result = apachemaint("check", conf, cwd=project)
    assert result.returncode == 1 and "AM014" in result.stdout and not result.stderr
    write(project / "pyproject.toml", "[project\n[tool.apachemaint]\nignore = ['AM014']\n")
    result = apachemaint("check", conf, cwd=project)
    assert result.returncode == 2 and "pyproject.toml" in result.stderr and "cannot read settings" in result.stderr


# --- whole servers ------------------------------------------------------------------------

def test_server_check_follows_includes_and_reads_modules(tmp_path):
    tree = debian_tree(tmp_path, "etc-apache2-no-rewrite")
    site = tree / "sites-available" / "shop.example.com.conf"
    site.write_text(site.read_text().replace("<VirtualHost *:80>\n", "<VirtualHost *:80>\n" + BLOCK, 1))
    result = apachemaint("check", "--config", tree / "apache2.conf", cwd=tmp_path)
    assert result.returncode == 1
    shop = tree / "sites-enabled" / "shop.example.com.conf"
    assert f"{shop}:4:1: AM006 [error] mod_rewrite is not loaded" in result.stdout
    assert f"{shop}:4:1: AM006 [error] mod_headers is not loaded" in result.stdout
    assert "blog.example.com" not in result.stdout  # not enabled, not included
    assert f"{tree / 'sites-enabled' / '000-default.conf'}:1:1: AM001" in result.stdout
    # Files named with --config get that server's modules when it includes them (through a
    # sites-enabled link too), and none when it does not (a disabled site).
    blog = tree / "sites-available" / "blog.example.com.conf"
    blog.write_text(blog.read_text().replace("<VirtualHost *:80>\n", "<VirtualHost *:80>\n" + BLOCK, 1))
    alone = apachemaint("check", "--config", tree / "apache2.conf", site, blog, cwd=tmp_path)
    assert f"{site}:4:1: AM006" in alone.stdout and f"{blog}:" not in alone.stdout


def test_missing_include_is_reported_like_apache(tmp_path):
    tree = debian_tree(tmp_path)
    ports = tree / "ports.conf"
    ports.write_text(ports.read_text() + "IncludeOptional nothing/*.conf\nInclude nope.conf\nInclude empty/*.conf\n")
    (tree / "empty").mkdir()
    n = ports.read_text().count("\n")
    result = apachemaint("check", "--config", tree / "apache2.conf", cwd=tmp_path)
    assert result.returncode == 2
    assert (f"{ports}:{n - 1}:1: AM000 [error] Could not open configuration file {tree / 'nope.conf'}: "
            "No such file or directory") in result.stdout
    assert (f"{ports}:{n}:1: AM000 [error] Include/IncludeOptional: No matches for the wildcard '*.conf' "
            f"in '{tree / 'empty'}', failing") in result.stdout
    assert "nothing" not in result.stdout
    assert "000-default.conf:1:1: AM001" in result.stdout  # everything else still checked


def test_conditionals_follow_the_loaded_modules_and_defines(tmp_path):
    main = write(tmp_path / "httpd.conf", f"""ServerRoot {tmp_path}
LoadModule headers_module modules/mod_headers.so
LoadModule setenvif_module modules/mod_setenvif.so
Define PROD
<IfModule mod_rewrite.c>
    Include never.conf
</IfModule>
<IfDefine !PROD>
    Include never.conf
</IfDefine>
<IfDefine PROD>
    IncludeOptional sites/*.conf
</IfDefine>
""")
    (tmp_path / "www").mkdir()
    write(tmp_path / "sites" / "a.conf", PATCHED.replace("/srv/a", str(tmp_path / "www")))
    srv = server.load(main)
    assert {"headers", "core"} <= srv.modules and "rewrite" not in srv.modules
    assert not srv.errors and len(srv.configs) == 2
    codes = [f.code for f in check.check_server(main)]
    assert codes == ["AM006"]


def test_no_argument_checks_the_installed_layout(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\n")
    shutil.copytree(debian_tree(tmp_path), root / "etc/apache2", symlinks=True)
    monkeypatch.setenv("APACHEMAINT_ROOT", str(root))
    found = check.check_server()
    assert {Path(f.file).name for f in found} == {"000-default.conf", "shop.example.com.conf"}
    monkeypatch.setenv("APACHEMAINT_ROOT", str(tmp_path / "empty"))
    with pytest.raises(Exception, match="no server config found"):
        check.check_server()


@pytest.mark.apache
def test_use_apachectl_agrees_with_reading_the_includes(tmp_path):
    tree = debian_tree(tmp_path, "etc-apache2-no-rewrite")
    ours = server.load(tree / "apache2.conf", layouts.LAYOUTS[0])
    asked = server.load(tree / "apache2.conf", layouts.LAYOUTS[0], use_apachectl=True)
    assert asked.modules == ours.modules
    assert set(asked.configs) == {str(Path(p)) for p in ours.configs}
    assert check.check_server(tree / "apache2.conf", use_apachectl=True) == check.check_server(tree / "apache2.conf")


def test_parse_dump():
    out = ("Included configuration files:\n  (*) /etc/apache2/apache2.conf\n    (48) /etc/apache2/m.load\n"
           "Define: DUMP_RUN_CFG\nDefine: PROD\nLoaded Modules:\n core_module (static)\n http_module (static)\n"
           " rewrite_module (shared)\n")
    files, mods, defines = server.parse_dump(out)
    assert files == [Path("/etc/apache2/apache2.conf"), Path("/etc/apache2/m.load")]
    assert mods == {"core", "http", "http_core", "rewrite"} and defines == {"PROD"}


# --- --fix --------------------------------------------------------------------------------

def test_fix_patches_safe_findings_only(tmp_path):
    missing = write(tmp_path / "missing.conf", PROXY)
    legacy = tmp_path / "legacy.conf"
    shutil.copy(FIXTURES / "rules" / "AM004.vhost", legacy)
    edited = tmp_path / "edited.conf"
    shutil.copy(FIXTURES / "rules" / "AM002.vhost", edited)
    quiet = write(tmp_path / "quiet.conf", "# apachemaint: disable=AM001\n" + PROXY + PROXY)
    before = {p: p.read_bytes() for p in (edited, quiet)}
    result = apachemaint("check", "--fix", "--no-configtest", missing, legacy, edited, quiet,
                         state=tmp_path / "state", cwd=tmp_path)
    assert f"{missing}: fixed with apachemaint patch" in result.stderr
    assert f"{legacy}: fixed with apachemaint patch" in result.stderr
    assert f"{quiet}: not fixed" in result.stderr
    assert "# BEGIN apachemaint" in missing.read_text() and "RewriteRule ^.*$" not in legacy.read_text()
    assert {p: p.read_bytes() for p in (edited, quiet)} == before
    codes = {ln.split(": ")[1].split()[0] for ln in result.stdout.splitlines()}
    assert codes == {"AM002", "AM001"} and result.returncode == 1


# --- rules, pre-commit, progress ----------------------------------------------------------

def test_rules_lists_every_code_and_documents_one():
    out = apachemaint("rules").stdout
    for code in ["AM000"] + list(check.REGISTRY):
        assert f"\n{code}  " in "\n" + out
    doc = apachemaint("rules", "am005").stdout
    assert doc.startswith("AM005 [error]") and "\nFails:\n" in doc and "Passes" in doc
    assert "    <VirtualHost *:80>\n" in doc  # the example config, indented as a block
    assert apachemaint("rules", "AM999").returncode == 2
    for code in check.REGISTRY:  # plain text: no reStructuredText markup left
        doc = apachemaint("rules", code).stdout
        assert "``" not in doc and "::" not in doc.replace("http://", ""), code
    md = apachemaint("rules", "AM017", "--format", "markdown").stdout
    assert md.startswith("## AM017 [warning]") and "```apache\n<VirtualHost *:80>\n" in md and "`shared/`" in md
    assert "``" not in md.replace("```", "")
    assert apachemaint("rules", "--format", "markdown").stdout.startswith("| code | severity | finding |")
    assert apachemaint("rules", "--format", "rst").returncode == 2


def test_readme_rule_table_is_generated_from_the_rules():
    from apachemaint import ruledoc

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ruledoc.splice(readme) == readme, "README's rule table drifted from the rules: run make docs"
    table = readme[readme.index(ruledoc.BEGIN):readme.index(ruledoc.END)]
    for code in ["AM000", *check.REGISTRY]:
        assert f'<a id="{code.lower()}"></a>{code} |' in table
    assert "``" not in table
    lines = readme.splitlines(keepends=True)
    dropped = "".join(ln for ln in lines if 'id="am016"' not in ln)
    edited = "".join(ln.replace("| error |", "| warning |") if 'id="am005"' in ln else ln for ln in lines)
    assert dropped != readme and edited != readme
    assert ruledoc.splice(dropped) == readme and ruledoc.splice(edited) == readme
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "rules_doc.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_pre_commit_hook_runs_check():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "apachemaint-check" and hooks[0]["entry"] == "apachemaint check"


def test_no_progress_when_stderr_is_not_a_tty(tmp_path):
    files = [write(tmp_path / f"s{i}.conf", PATCHED) for i in range(50)]
    assert apachemaint("check", *files, cwd=tmp_path).stderr == ""


# --- scale --------------------------------------------------------------------------------

def make_tree(root: Path, n: int) -> Path:
    sites = root / "sites"
    sites.mkdir(parents=True)
    (root / "www").mkdir()
    site = PATCHED.replace("/srv/a", str(root / "www"))
    for i in range(n):
        (sites / f"site{i:05}.conf").write_text(site.replace("ServerName a", f"ServerName s{i}.example.com"))
    return write(root / "httpd.conf", f"ServerRoot {root}\nLoadModule rewrite_module m.so\n"
                 "LoadModule headers_module m.so\nLoadModule setenvif_module m.so\nIncludeOptional sites/*.conf\n")


@pytest.mark.slow
def test_a_large_tree_is_checked_in_linear_time(tmp_path):
    """Four times the files may cost about four times as long, not sixteen (the absolute
    speed against apache2 -t is measured by `make bench`, on a quiet machine)."""
    small, large = make_tree(tmp_path / "small", 200), make_tree(tmp_path / "large", 800)
    check.check_server(small)  # warm imports and the template cache
    times = []
    for conf in (small, large):
        t0 = time.process_time()  # CPU time: other processes on the machine do not count
        assert check.check_server(conf) == []
        times.append(time.process_time() - t0)
    assert times[1] < 4 * times[0] * 2, f"not linear: 200 in {times[0]:.2f} s, 800 in {times[1]:.2f} s"


def test_progress_line_after_half_a_second_and_cleared_at_the_end(capsys):
    """The CLI makes one only when stderr is a TTY (test_no_progress_when_stderr_is_not_a_tty)."""
    from apachemaint.cli import _Progress

    p = _Progress()
    p(1, 10)
    assert capsys.readouterr().err == ""  # a short run shows nothing
    p._start -= 1
    p._last -= 1
    p(2, 10)
    p.done()
    assert capsys.readouterr().err == "\rchecking 2/10 files\r\033[K"


# --- CI conventions (issue 17.5) ------------------------------------------------------------

def test_settings_precedence_is_cli_then_file_then_environment_then_default(tmp_path):
    from apachemaint import settings

    file = settings.from_table({"format": "json", "fail-on": "error", "severity": {"AM001": "info"}},
                               tmp_path / ".apachemaint.toml")
    env = {"APACHEMAINT_FORMAT": "sarif", "APACHEMAINT_FAIL_ON": "info", "GITHUB_ACTIONS": "true"}
    assert settings.resolve(settings.Settings()).format == "text"
    assert settings.resolve(settings.Settings()).fail_on == Severity.WARNING
    assert settings.resolve(settings.Settings(), None, {"GITHUB_ACTIONS": "true"}).format == "github"
    assert settings.resolve(settings.Settings(), None, env).format == "sarif"
    assert settings.resolve(settings.Settings(), None, env).fail_on == Severity.INFO
    both = settings.resolve(settings.Settings(), file, env)
    assert (both.format, both.fail_on, both.severity) == ("json", Severity.ERROR, {"AM001": Severity.INFO})
    cli = settings.Settings(format="text", fail_never=True, severity={"AM001": Severity.ERROR})
    top = settings.resolve(cli, file, env)
    assert (top.format, top.fail_never, top.severity) == ("text", True, {"AM001": Severity.ERROR})
    with pytest.raises(settings.SettingsError, match="unknown severity"):
        settings.resolve(settings.Settings(), None, {"APACHEMAINT_FAIL_ON": "loud"})


def test_fail_on_never_exits_0_on_findings_but_2_on_unreadable_input(tmp_path):
    conf = write(tmp_path / "a.conf", PROXY)
    for word in ("never", "none", "NEVER"):
        result = apachemaint("check", "--fail-on", word, conf, cwd=tmp_path)
        assert result.returncode == 0 and "AM001" in result.stdout
    assert apachemaint("check", conf, cwd=tmp_path, env={"APACHEMAINT_FAIL_ON": "never"}).returncode == 0
    write(tmp_path / ".apachemaint.toml", 'fail-on = "never"\n')
    assert apachemaint("check", conf, cwd=tmp_path, env={"APACHEMAINT_FAIL_ON": "info"}).returncode == 0
    assert apachemaint("check", "--fail-on", "warning", conf, cwd=tmp_path).returncode == 1
    assert apachemaint("check", "--fail-on", "never", tmp_path / "missing.conf", cwd=tmp_path).returncode == 2


def test_dash_h_is_help_everywhere_and_shell_completion_is_offered():
    from apachemaint.cli import app

    top = apachemaint("-h")
    assert top.returncode == 0 and "--install-completion" in top.stdout
    import typer.main

    for name in typer.main.get_command(app).commands:
        result = apachemaint(name, "-h")
        assert result.returncode == 0 and result.stdout.startswith("Usage: "), name
        assert f" {name} [OPTIONS]" in result.stdout.splitlines()[0] and "-h, --help" in result.stdout, name


def test_stdin_is_checked_under_its_stdin_filename_and_excluded_by_it(tmp_path):
    result = apachemaint("check", "-", "--stdin-filename", "sites/a.conf", cwd=tmp_path, input=PROXY.encode())
    assert result.returncode == 1 and result.stdout.startswith("sites/a.conf:1:1: AM001")
    assert apachemaint("check", "-", cwd=tmp_path, input=PATCHED.encode()).returncode == 0
    assert apachemaint("check", "-", cwd=tmp_path, input=PROXY.encode()).stdout.startswith("-:1:1: AM001")
    result = apachemaint("check", "-", "--stdin-filename", "sites/a.conf", "--exclude", "sites/",
                         cwd=tmp_path, input=PROXY.encode())
    assert (result.returncode, result.stdout) == (0, "")
    broken = apachemaint("check", "-", "--stdin-filename", "b.conf", cwd=tmp_path, input=b"<VirtualHost *:80>\n")
    assert broken.returncode == 2 and broken.stdout.startswith("b.conf:")


def test_output_file_is_written_atomically_and_never_through_a_link(tmp_path):
    conf = write(tmp_path / "a.conf", PROXY)
    out = tmp_path / "report.sarif"
    result = apachemaint("check", "--format", "sarif", "-o", out, conf, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert json.loads(out.read_text())["runs"][0]["results"][0]["ruleId"] == "AM001"
    out.chmod(0o600)
    assert apachemaint("check", "--output", out, conf, cwd=tmp_path).returncode == 1
    assert out.read_text().startswith(f"{conf}:1:1: AM001") and (out.stat().st_mode & 0o777) == 0o600
    target = write(tmp_path / "elsewhere.txt", "keep\n")
    (tmp_path / "link.txt").symlink_to(target)
    result = apachemaint("check", "-o", tmp_path / "link.txt", conf, cwd=tmp_path)
    assert result.returncode == 2 and target.read_text() == "keep\n" and "Traceback" not in result.stderr


def test_excludes_are_gitignore_like_and_apply_to_included_files(tmp_path):
    from apachemaint.exclude import Excludes

    ex = Excludes(["legacy/", "*.bak.conf", "sites/old/*.conf", "/etc/x/*", "!keep.bak.conf", "a/**/z.conf"])
    for path in ["legacy/a.conf", "/srv/legacy/a.conf", "x.bak.conf", "/etc/apache2/sites/old/a.conf",
                 "/etc/x/y.conf", "a/z.conf", "a/b/c/z.conf", "./legacy/a.conf"]:
        assert ex.excluded(path), path
    for path in ["legacy", "mylegacy/a.conf", "d/keep.bak.conf", "sites/old/d/a.conf", "/srv/etc/x/y.conf",
                 "ok.conf"]:
        assert not ex.excluded(path), path
    a, b = write(tmp_path / "sites" / "a.conf", PROXY), write(tmp_path / "old" / "b.conf", PROXY)
    result = apachemaint("check", "--exclude", "old/", a, b, cwd=tmp_path)
    assert f"{a}:1:1" in result.stdout and f"{b}:" not in result.stdout
    write(tmp_path / ".apachemaint.toml", 'exclude = ["sites/*.conf"]\n')
    result = apachemaint("check", "--exclude", "old/", a, b, cwd=tmp_path)  # the file's and the CLI's
    assert (result.returncode, result.stdout) == (0, "")
    (tmp_path / ".apachemaint.toml").unlink()
    tree = debian_tree(tmp_path / "srv")
    default = tree / "sites-enabled" / "000-default.conf"
    whole = apachemaint("check", "--config", tree / "apache2.conf", cwd=tmp_path)
    assert f"{default}:1:1: AM001" in whole.stdout
    skipped = apachemaint("check", "--config", tree / "apache2.conf", "--exclude", "sites-enabled/000-*",
                          cwd=tmp_path)
    assert f"{default}:" not in skipped.stdout


# Findings whose text needs escaping in every format: markup, quotes, a control character.
AWKWARD = [Finding("sites/a&b.conf", 3, 1, "AM005", Severity.ERROR, 'RewriteRule "<x>" & [P]\x01 wins'),
           Finding("sites/a&b.conf", 9, 1, "AM011", Severity.WARNING, "page denied"),
           Finding("c.conf", 1, 1, "AM010", Severity.INFO, "only redirects")]


def test_junit_is_read_by_junitparser(tmp_path):
    from junitparser import Failure, JUnitXml

    from apachemaint.findings import junit

    path = write(tmp_path / "r.xml", junit(AWKWARD))
    suites = {s.name: s for s in JUnitXml.fromfile(str(path))}
    assert set(suites) == {"sites/a&b.conf", "c.conf"}
    cases = list(suites["sites/a&b.conf"])
    assert [c.name for c in cases] == ["AM005 line 3", "AM011 line 9"] and suites["sites/a&b.conf"].failures == 2
    [failure] = cases[0].result
    assert isinstance(failure, Failure) and failure.type == "AM005" and "<x>" in failure.message
    clean = list(JUnitXml.fromfile(str(write(tmp_path / "ok.xml", junit([])))))
    assert [(s.tests, s.failures) for s in clean] == [(1, 0)]
    conf = write(tmp_path / "a.conf", PROXY)
    assert "AM001" in apachemaint("check", "--format", "junit", conf, cwd=tmp_path).stdout


# Checkstyle has no published schema; this is the shape its consumers (Jenkins' warnings-ng,
# reviewdog, GitLab's and Bitbucket's importers) read, as checkstyle itself writes it.
CHECKSTYLE_XSD = """<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="checkstyle"><xs:complexType><xs:sequence>
    <xs:element name="file" minOccurs="0" maxOccurs="unbounded"><xs:complexType><xs:sequence>
      <xs:element name="error" minOccurs="0" maxOccurs="unbounded"><xs:complexType>
        <xs:attribute name="line" type="xs:positiveInteger" use="required"/>
        <xs:attribute name="column" type="xs:positiveInteger"/>
        <xs:attribute name="severity" use="required"><xs:simpleType><xs:restriction base="xs:string">
          <xs:enumeration value="error"/><xs:enumeration value="warning"/><xs:enumeration value="info"/>
          <xs:enumeration value="ignore"/></xs:restriction></xs:simpleType></xs:attribute>
        <xs:attribute name="message" type="xs:string" use="required"/>
        <xs:attribute name="source" type="xs:string" use="required"/>
      </xs:complexType></xs:element>
    </xs:sequence><xs:attribute name="name" type="xs:string" use="required"/></xs:complexType></xs:element>
  </xs:sequence><xs:attribute name="version" type="xs:string"/></xs:complexType></xs:element>
</xs:schema>
"""


def test_checkstyle_matches_its_consumers_shape():
    import xmlschema

    from apachemaint.findings import checkstyle

    schema = xmlschema.XMLSchema(CHECKSTYLE_XSD)
    out = checkstyle(AWKWARD)
    schema.validate(out)
    data = schema.to_dict(out)
    [first, second] = data["file"]
    assert first["@name"] == "sites/a&b.conf" and [e["@severity"] for e in first["error"]] == ["error", "warning"]
    assert first["error"][0]["@source"] == "apachemaint.AM005" and '"<x>" &' in first["error"][0]["@message"]
    schema.validate(checkstyle([]))


# GitLab's code quality report: an array of Code Climate issues with the fields GitLab requires
# (description, check_name, fingerprint, severity, location.path, location.lines.begin).
CODE_CLIMATE = {"type": "array", "items": {
    "type": "object", "required": ["description", "check_name", "fingerprint", "severity", "location"],
    "properties": {
        "type": {"const": "issue"}, "description": {"type": "string"}, "check_name": {"type": "string"},
        "fingerprint": {"type": "string", "minLength": 1},
        "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
        "categories": {"type": "array", "items": {"enum": [
            "Bug Risk", "Clarity", "Compatibility", "Complexity", "Duplication", "Performance", "Security",
            "Style"]}},
        "location": {"type": "object", "required": ["path", "lines"], "properties": {
            "path": {"type": "string"},
            "lines": {"type": "object", "required": ["begin"],
                      "properties": {"begin": {"type": "integer", "minimum": 1}}}}}}}}


def test_gitlab_code_quality_has_codeclimates_required_fields_and_stable_fingerprints():
    from apachemaint.findings import gitlab

    issues = json.loads(gitlab(AWKWARD))
    jsonschema.validate(issues, CODE_CLIMATE)
    assert [i["severity"] for i in issues] == ["major", "minor", "info"]
    assert len({i["fingerprint"] for i in issues}) == 3
    moved = [Finding(f.file, f.line + 5, f.column, f.code, f.severity, f.message) for f in AWKWARD]
    assert [i["fingerprint"] for i in json.loads(gitlab(moved))] == [i["fingerprint"] for i in issues]
    twice = json.loads(gitlab([AWKWARD[0], AWKWARD[0]]))
    assert twice[0]["fingerprint"] != twice[1]["fingerprint"]


def test_file_level_disable_covers_the_whole_file_wherever_it_stands(tmp_path):
    two = PROXY + PROXY.replace("ServerName a", "ServerName b")
    assert apachemaint("check", write(tmp_path / "a.conf", two)).stdout.count("AM001") == 2
    for content in ("# apachemaint: disable-file=AM001\n" + two, two + "# apachemaint: disable-file = am001, AM014\n",
                    two.replace("    ProxyPass", "    # apachemaint: disable-file=all\n    ProxyPass", 1)):
        result = apachemaint("check", write(tmp_path / "b.conf", content))
        assert (result.returncode, result.stdout) == (0, ""), content
    result = apachemaint("check", write(tmp_path / "c.conf", "# apachemaint: disable-file=AM005\n" + two))
    assert result.stdout.count("AM001") == 2  # only the codes it names


def test_a_misspelt_code_in_a_disable_comment_is_reported(tmp_path):
    conf = write(tmp_path / "a.conf", "# apachemaint: disable=AM01,AM001\n" + PROXY
                 + PATCHED.replace("    ProxyPass", "    # apachemaint: disable-file=AM0005\n    ProxyPass"))
    result = apachemaint("check", conf)
    assert result.returncode == 1 and "AM001" not in result.stdout.replace("AM01,", "")
    lines = [ln for ln in result.stdout.splitlines() if " AM018 " in ln]
    assert len(lines) == 2 and lines[0].startswith(f"{conf}:1:1: AM018 [warning] unknown rule code AM01 ")
    assert "AM0005" in lines[1] and "did you mean AM005?" in lines[1]
    assert apachemaint("check", "--ignore", "AM018", conf).returncode == 0
