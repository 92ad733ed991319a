"""patch: where the block goes, what else changes (nothing), idempotence, and options."""
from __future__ import annotations

import difflib
import errno
import json
import os
import stat
from pathlib import Path

import pytest
from corpus import corpus_params, fixture_params
from test_reader import KNOWN_BAD

from apachemaint import block, checkpoint, forked, reader, vhosts
from apachemaint import patch as patching
from apachemaint.block import BlockOptions, State
from apachemaint.errors import ApacheMaintError, BlockError, InvalidOption, UnsafeWrite
from apachemaint.patch import Action, plan_text
from apachemaint.safewrite import PartialWrite


def patched(text: str | bytes, **given) -> tuple[reader.ConfigFile, str, list]:
    cf = reader.parse(text.encode() if isinstance(text, str) else text, "t.conf")
    new, results = plan_text(cf, given)
    return cf, new, results


def first_block(text: str) -> block.Found:
    cf = reader.parse(text.encode())
    return block.find_managed(cf, vhosts.find(cf)[0].section)[0]


PROXY = "<VirtualHost *:80>\n    ServerName a\n    ProxyPass / http://127.0.0.1:3000/\n</VirtualHost>\n"


def test_block_goes_right_after_the_opening_line_with_the_vhost_indentation():
    _, new, results = patched(
        "<IfModule mod_ssl.c>\n\t<VirtualHost *:443>\n\t\tServerName a\n\t</VirtualHost>\n</IfModule>\n")
    lines = new.splitlines()
    assert lines[1] == "\t<VirtualHost *:443>"
    assert lines[2].startswith("\t\t# BEGIN apachemaint v2 sha256:")
    assert lines[3].startswith("\t\tSetEnvIfExpr ")
    assert "\t\t\tErrorDocument 503 /system/maintenance.html" in lines
    assert results[0].action is Action.INSERTED


def test_crlf_files_stay_crlf():
    _, new, _ = patched(PROXY.replace("\n", "\r\n"))
    assert new.count("\n") == new.count("\r\n")


def test_only_lines_inside_vhosts_are_added_and_nothing_else_changes():
    cf, new, _ = patched("# head\n" + PROXY + "Listen 8080\n" + PROXY.replace("a\n", "b\n"))
    ops = difflib.SequenceMatcher(None, cf.text.splitlines(True), new.splitlines(True)).get_opcodes()
    assert {op[0] for op in ops} == {"equal", "insert"}
    new_cf = reader.parse(new.encode(), "t.conf")
    assert [len(block.find_managed(new_cf, v.section)) for v in vhosts.find(new_cf)] == [1, 1]


def test_patching_twice_changes_nothing():
    _, once, _ = patched(PROXY, allow_paths=("/up",))
    _, twice, results = patched(once)
    assert twice == once
    assert results[0].action is Action.CURRENT


def test_recorded_options_are_kept_and_given_ones_replace_them():
    _, once, _ = patched(PROXY, allow_paths=("/up",), retry_after=60)
    _, again, results = patched(once, allow_ips=("203.0.113.0/24",))
    assert first_block(again).marker.options == BlockOptions(allow_paths=("/up",), retry_after=60,
                                                   allow_ips=("203.0.113.0/24",),
                                                   page=first_block(once).marker.options.page)
    assert results[0].action is Action.RECONFIGURED
    assert again.count("# BEGIN apachemaint") == 1


def test_hand_edited_block_is_detected_and_replaced_in_place():
    _, once, _ = patched(PROXY)
    edited = once.replace("[R=503,L]", "[R=302,L]")
    assert block.state_of(first_block(edited)) is State.EDITED
    _, fixed, results = patched(edited)
    assert fixed == once and results[0].action is Action.REWRITTEN


def test_reindenting_the_block_is_not_an_edit():
    _, once, _ = patched(PROXY)
    assert block.state_of(first_block(once.replace("    Rewrite", "  Rewrite"))) is State.CURRENT


def test_outdated_block_is_replaced():
    _, once, _ = patched(PROXY)
    # An older release: other body, digest matching that body.
    old_body = [ln for ln in block.body_lines(BlockOptions()) if "onsuccess" not in ln]
    begin = once.splitlines()[1]
    old_begin = begin.replace(begin.split()[4], "sha256:" + block.digest(old_body))
    lines = once.splitlines(True)
    body_end = next(i for i, ln in enumerate(lines) if "# END apachemaint" in ln)
    old = "".join([lines[0], old_begin + "\n"] + [f"    {ln}\n" for ln in old_body] + lines[body_end:])
    assert block.state_of(first_block(old)) is State.OUTDATED
    _, fixed, results = patched(old)
    assert fixed == once and results[0].action is Action.UPDATED


def test_begin_without_end_is_an_error_with_a_line():
    _, once, _ = patched(PROXY)
    broken = "".join(ln for ln in once.splitlines(True) if "# END apachemaint" not in ln)
    with pytest.raises(BlockError) as err:
        patched(broken)
    assert err.value.line == 2


def test_legacy_capistrano_block_is_replaced():
    legacy = ("<VirtualHost *:80>\n  DocumentRoot /srv/a/public\n  RewriteEngine On\n"
              "  RewriteCond %{REQUEST_URI} !\\.(css|gif|jpg|png)$\n"
              "  RewriteCond %{DOCUMENT_ROOT}/system/maintenance.html -f\n"
              "  RewriteCond %{SCRIPT_FILENAME} !maintenance.html\n"
              "  RewriteRule ^.*$ /system/maintenance.html [L]\n"
              "  RewriteRule ^/old$ /new [R=301,L]\n</VirtualHost>\n")
    _, new, results = patched(legacy)
    assert results[0].action is Action.LEGACY
    assert "/system/maintenance.html [L]" not in new.replace("%{DOCUMENT_ROOT}/system/maintenance.html [L]", "")
    assert "RewriteRule ^/old$ /new [R=301,L]" in new and "DocumentRoot /srv/a/public" in new


@pytest.mark.parametrize("conf", [
    "<VirtualHost *:80>\n  ServerName a\n  Redirect permanent / https://a/\n</VirtualHost>\n",
    # certbot's redirect names its hosts: proven for them, and (second on *:80) nothing else reaches it
    "<VirtualHost *:80>\n  ServerName z\n  Redirect / https://z/\n</VirtualHost>\n"
    "<VirtualHost *:80>\n  ServerName a\n  RewriteEngine on\n  RewriteCond %{SERVER_NAME} =a\n"
    "  RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n</VirtualHost>\n",
    "<VirtualHost *:80>\n  RedirectMatch 301 ^/?(.*) https://a/$1\n</VirtualHost>\n",
])
def test_redirect_only_vhosts_are_left_alone(conf):
    cf, new, results = patched(conf)
    assert new == cf.text and {r.action for r in results} == {Action.NOT_APPLICABLE}


def test_a_host_conditioned_redirect_that_may_be_the_default_vhost_is_patched():
    # First on *:80 in its file, so maybe the server's default: a request for any other Host
    # falls through the condition to the DocumentRoot and must get the page too.
    conf = ("<VirtualHost *:80>\n  ServerName a\n  DocumentRoot /srv/a\n  RewriteEngine on\n"
            "  RewriteCond %{SERVER_NAME} =a\n"
            "  RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n</VirtualHost>\n")
    _, _, results = patched(conf)
    assert results[0].action is Action.INSERTED


@pytest.mark.parametrize("conf", [
    # A redirect of part of the site, or a redirect beside a proxy, still serves content.
    "<VirtualHost *:80>\n  Redirect permanent /old https://a/new\n  DocumentRoot /srv/a\n</VirtualHost>\n",
    "<VirtualHost *:80>\n  Redirect / https://a/\n  ProxyPass /api http://127.0.0.1:1/\n</VirtualHost>\n",
    "<VirtualHost *:80>\n  RewriteEngine on\n  RewriteCond %{REQUEST_URI} ^/shop\n"
    "  RewriteRule ^ https://a%{REQUEST_URI} [R=301,L]\n  DocumentRoot /srv/a\n</VirtualHost>\n",
])
def test_vhosts_that_serve_something_are_patched(conf):
    _, _, results = patched(conf)
    assert results[0].action is Action.INSERTED


def test_vhosts_in_ifmodule_ifdefine_and_macro_are_found():
    conf = ("<IfModule mod_rewrite.c>\n<IfDefine PROD>\n<VirtualHost *:80>\n</VirtualHost>\n</IfDefine>\n</IfModule>\n"
            "<Macro Site $name>\n<VirtualHost *:80>\n  ServerName $name\n</VirtualHost>\n</Macro>\n")
    _, new, results = patched(conf)
    assert [r.action for r in results] == [Action.INSERTED, Action.INSERTED]
    assert [r.vhost.within for r in results] == [("<IfModule mod_rewrite.c>", "<IfDefine PROD>"),
                                                 ("<Macro Site $name>",)]


@pytest.mark.parametrize("given, fragment", [
    ({"page": "/srv/shop/shared/system/maintenance.html"}, '<Directory "/srv/shop/shared/system">'),
    ({"allow_paths": ("/up", "/health.json")}, r"RewriteCond %{REQUEST_URI} !^(?:/up|/health\.json)$"),
    ({"allow_ips": ("203.0.113.0/24", "2001:db8::/32")}, "RewriteCond expr \"! -R '2001:db8::/32'\""),
    ({"assets": ("webmanifest",)}, "|eot|webmanifest)$ %{DOCUMENT_ROOT}%{REQUEST_URI} [NC,"),
    ({"retry_after": 900}, 'Header always setifempty Retry-After "900"'),
    ({"bypass_cookie": "team_pass"}, "team_pass=([0-9A-Za-z_-]{16,128})"),
])
def test_options_reach_the_block(given, fragment):
    _, new, _ = patched(PROXY, **given)
    assert fragment in new


@pytest.mark.parametrize("given, words", [
    ({"allow_ips": ("10.0.0.1/8",)}, "--allow-ip"),
    ({"allow_ips": ("nonsense",)}, "--allow-ip"),
    ({"allow_paths": ("/up now",)}, "--allow-path"),
    ({"allow_paths": ("/up(.*)",)}, "--allow-path"),
    ({"allow_paths": ("up",)}, "--allow-path"),
    ({"page": "relative/maintenance.html"}, "--page"),
    ({"page": "/srv/a b/maintenance.html"}, "--page"),
    ({"page": "/srv/../etc/maintenance.html"}, "--page"),
    ({"assets": (".png",)}, "--asset-ext"),
    ({"bypass_cookie": "a;b"}, "--bypass-cookie"),
    ({"retry_after": 0}, "--retry-after"),
])
def test_bad_option_values_are_refused(given, words):
    with pytest.raises(InvalidOption, match=words.replace("-", "\\-")):
        BlockOptions().merged(**given)


def test_marker_records_the_options_exactly():
    opts = BlockOptions(page="/srv/x/maintenance.html", assets=("webmanifest",), allow_paths=("/up",),
                        allow_ips=("203.0.113.0/24",), bypass_cookie="c", retry_after=42)
    first = block.render(opts).splitlines()[0]
    assert block.parse_marker(first).options == opts


@pytest.mark.parametrize("path", fixture_params() + corpus_params())
def test_patch_is_idempotent_and_only_adds_inside_vhosts(path):
    if path.name in KNOWN_BAD:
        pytest.skip("httpd rejects this file too")
    data = path.read_bytes()
    cf = reader.parse(data, str(path))
    new, results = plan_text(cf, {"allow_paths": ("/up",)})
    again, _ = plan_text(reader.parse(cf.to_bytes(new), str(path)), {"allow_paths": ("/up",)})
    assert again == new
    if any(r.action is Action.LEGACY for r in results):
        return  # legacy lines are removed on purpose; covered above
    ops = difflib.SequenceMatcher(None, cf.text.splitlines(True), new.splitlines(True), autojunk=False).get_opcodes()
    assert {op[0] for op in ops} <= {"equal", "insert"}
    inserted = sum(op[4] - op[3] for op in ops if op[0] == "insert")
    new_cf = reader.parse(cf.to_bytes(new), str(path))
    blocks = [f for v in vhosts.find(new_cf) for f in block.find_managed(new_cf, v.section)]
    assert len(blocks) == sum(r.action is Action.INSERTED for r in results)
    # A vhost without a DocumentRoot gets a page of its own, and the block a grant for it.
    assert inserted == sum(len(block.render(f.marker.options).splitlines()) for f in blocks)
    assert {f.marker.options.allow_paths for f in blocks} <= {("/up",)}


# --- apply, checkpoints and restore: the user's bytes, mode and owner come back exactly ---

@pytest.fixture(params=["checkpoint here", "checkpoint forked"])
def sites(tmp_path: Path, monkeypatch, request) -> list[Path]:
    """Three vhost files of different line ends, bytes, modes and (as root) owners; the
    checkpoint of a patch is made in this process, or in a second one (as for a big batch)."""
    monkeypatch.setenv("APACHEMAINT_STATE_DIR", str(tmp_path / "state"))
    if request.param == "checkpoint forked":
        monkeypatch.setattr(forked, "MIN_ITEMS", 0)
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
    folder = tmp_path / "sites"
    folder.mkdir()
    bodies = [PROXY.encode(), PROXY.replace("\n", "\r\n").encode(), b"# caf\xe9 (latin-1)\n" + PROXY.encode()]
    files = []
    for i, (body, mode) in enumerate(zip(bodies, (0o644, 0o640, 0o600))):
        f = folder / f"{i}.conf"
        f.write_bytes(body)
        f.chmod(mode)
        if os.geteuid() == 0 and i:
            os.chown(f, 1000 * i, 65534)
        files.append(f)
    return files


def _state(files: list[Path]) -> list[tuple]:
    return [(f.read_bytes(), stat.S_IMODE(os.stat(f).st_mode), os.stat(f).st_uid, os.stat(f).st_gid) for f in files]


def _no_link(*args, **kwargs):
    raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))


@pytest.mark.parametrize("backup", ["link", "copy"])
def test_checkpoint_and_restore_round_trip_byte_for_byte(sites, monkeypatch, backup):
    if backup == "copy":
        monkeypatch.setattr(os, "link", _no_link)  # e.g. the state folder on another filesystem
    before = _state(sites)
    inodes = [os.stat(f).st_ino for f in sites]
    report = patching.apply([patching.plan(f) for f in sites], configtest=False)
    assert all(f.read_bytes() != b for f, (b, *_) in zip(sites, before))
    assert [s[1:] for s in _state(sites)] == [s[1:] for s in before], "patched files keep mode and owner"
    manifest = json.loads((report.checkpoint / "manifest.json").read_text())
    assert [set(e) for e in manifest["files"]] == [{"path", "backup", "sha256_before", "sha256_after"}] * 3
    for entry, (data, *_), ino in zip(manifest["files"], before, inodes):
        saved = report.checkpoint / entry["backup"]
        assert saved.read_bytes() == data
        if backup == "link":
            assert os.stat(saved).st_ino == ino, "the untouched original itself, not a copy"
        else:
            assert os.stat(saved).st_ino != ino and stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert checkpoint.restore() == sites
    assert _state(sites) == before
    assert not list(sites[0].parent.parent.rglob("*apachemaint-tmp*"))


def test_restore_refuses_a_file_edited_after_the_patch_unless_forced(sites):
    original = sites[0].read_bytes()
    patching.apply([patching.plan(f) for f in sites], configtest=False)
    with open(sites[0], "ab") as fh:  # edited in place: the backup must not change with it
        fh.write(b"# later\n")
    edited = _state(sites)
    with pytest.raises(ApacheMaintError, match="changed since") as err:
        checkpoint.restore()
    assert err.value.file == str(sites[0])
    assert _state(sites) == edited, "nothing restored"
    checkpoint.restore(force=True)
    assert sites[0].read_bytes() == original


def test_a_file_edited_between_plan_and_checkpoint_is_saved_as_planned(sites):
    plan = patching.plan(sites[0])
    with open(sites[0], "ab") as fh:
        fh.write(b"# edited meanwhile\n")
    folder = checkpoint.create([checkpoint.Change(plan.real, plan.old_bytes, plan.new_bytes)])
    saved = folder / json.loads((folder / "manifest.json").read_text())["files"][0]["backup"]
    assert saved.read_bytes() == plan.old_bytes
    assert os.stat(saved).st_ino != os.stat(sites[0]).st_ino, "a copy, since a link would hold the edit"


@pytest.mark.parametrize("edit", ["append", "same size"])
def test_a_file_edited_between_plan_and_checkpoint_is_saved_as_planned_by_its_stamp(sites, edit):
    # The plan's stamp, not a read back, tells the link is the file planned from.
    plan = patching.plan(sites[0])
    unchanged = patching.plan(sites[1])
    if edit == "append":
        with open(sites[0], "ab") as fh:
            fh.write(b"# edited meanwhile\n")
    else:
        sites[0].write_bytes(plan.old_bytes.replace(b"<", b"#", 1))
        os.utime(sites[0], ns=(plan.seen.st_mtime_ns + 10**9,) * 2)
    folder = checkpoint.create([checkpoint.Change(p.real, p.old_bytes, p.new_bytes, p.seen) for p in (plan, unchanged)])
    files = json.loads((folder / "manifest.json").read_text())["files"]
    saved, linked = (folder / f["backup"] for f in files)
    assert saved.read_bytes() == plan.old_bytes
    assert os.stat(saved).st_ino != os.stat(sites[0]).st_ino, "a copy, since a link would hold the edit"
    assert os.stat(linked).st_ino == os.stat(sites[1]).st_ino and linked.read_bytes() == unchanged.old_bytes


def test_a_file_with_another_name_is_copied_not_linked(sites, tmp_path):
    os.link(sites[0], tmp_path / "kept-elsewhere.conf")  # the user's own hard link
    original = sites[0].read_bytes()
    report = patching.apply([patching.plan(sites[0])], configtest=False)
    saved = report.checkpoint / json.loads((report.checkpoint / "manifest.json").read_text())["files"][0]["backup"]
    assert os.stat(saved).st_ino != os.stat(tmp_path / "kept-elsewhere.conf").st_ino
    with open(tmp_path / "kept-elsewhere.conf", "ab") as fh:
        fh.write(b"# edited through the other name\n")
    assert saved.read_bytes() == original
    checkpoint.restore()
    assert sites[0].read_bytes() == original


def test_a_backup_that_no_longer_matches_is_not_restored(sites):
    report = patching.apply([patching.plan(f) for f in sites], configtest=False)
    patched = _state(sites)
    entry = json.loads((report.checkpoint / "manifest.json").read_text())["files"][1]
    (report.checkpoint / entry["backup"]).write_bytes(b"damaged\n")
    with pytest.raises(ApacheMaintError, match="backup no longer holds"):
        checkpoint.restore(force=True)
    assert _state(sites) == patched


def test_a_checkpoint_of_an_older_version_still_restores(sites, tmp_path):
    # Written as apachemaint 0.1 did: a 0600 copy per file and the same manifest.
    original = sites[1].read_bytes()
    patching.apply([patching.plan(sites[1])], configtest=False)
    old = tmp_path / "state" / "checkpoints" / "20990101T000000Z-1"
    old.mkdir(mode=0o700)
    (old / "0001-1.conf").write_bytes(original)
    (old / "0001-1.conf").chmod(0o600)
    (old / "manifest.json").write_text(json.dumps({"created": "2099-01-01T00:00:00Z", "files": [{
        "path": str(sites[1]), "backup": "0001-1.conf", "sha256_before": checkpoint._sha(original),
        "sha256_after": checkpoint._sha(sites[1].read_bytes())}]}, indent=2))
    assert checkpoint.all_checkpoints()[-1] == old
    assert checkpoint.restore() == [sites[1]]
    assert sites[1].read_bytes() == original


@pytest.mark.parametrize("backup", ["link", "copy"])
def test_a_write_that_fails_part_way_rolls_every_file_back(sites, monkeypatch, tmp_path, backup):
    if backup == "copy":
        monkeypatch.setattr(os, "link", _no_link)
    before = _state(sites)
    real, renamed = os.replace, []

    def replace(src, dst):
        if Path(dst) in sites:
            renamed.append(dst)
            if len(renamed) == 2:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(UnsafeWrite, match="Input/output error") as err:
        patching.apply([patching.plan(f) for f in sites], configtest=False)
    assert err.value.file == str(sites[1])
    assert _state(sites) == before, "the file written before the failure is put back"
    assert not list((tmp_path / "state" / "checkpoints").iterdir()), "the checkpoint of a rolled-back patch goes"
    assert not list(sites[0].parent.parent.rglob("*apachemaint-tmp*"))


def test_a_checkpoint_that_cannot_be_completed_leaves_no_folder(sites, monkeypatch, tmp_path):
    def disk_full(path, data, **kwargs):
        raise UnsafeWrite("cannot write: No space left on device", path)

    monkeypatch.setattr(checkpoint, "write_atomic", disk_full)  # the manifest, written last
    before = _state(sites)
    with pytest.raises(UnsafeWrite, match="No space left"):
        patching.apply([patching.plan(f) for f in sites], configtest=False)
    assert _state(sites) == before and all(os.stat(f).st_nlink == 1 for f in sites)
    assert not list((tmp_path / "state" / "checkpoints").iterdir())


@pytest.mark.parametrize("when", ["before the checkpoint", "after the checkpoint"])
def test_a_file_edited_after_planning_is_not_overwritten(sites, monkeypatch, tmp_path, when):
    plans = [patching.plan(f) for f in sites]

    def edit():
        with open(sites[1], "ab") as fh:
            fh.write(b"# edited meanwhile\n")

    if when == "before the checkpoint":
        edit()
    else:
        create = checkpoint.create

        def create_then_edit(changes, *args, **kw):
            folder = create(changes, *args, **kw)
            edit()
            return folder

        monkeypatch.setattr(checkpoint, "create", create_then_edit)
    with pytest.raises(UnsafeWrite, match="changed since apachemaint read it; nothing written") as err:
        patching.apply(plans, configtest=False)
    assert err.value.file == str(sites[1])
    assert sites[1].read_bytes().endswith(b"# edited meanwhile\n")
    assert [f.read_bytes() for f in sites] == [p.old_bytes for p in plans[:1]] + [sites[1].read_bytes()] + \
        [p.old_bytes for p in plans[2:]], "nothing written"
    assert not list((tmp_path / "state" / "checkpoints").iterdir())
    assert not list(sites[0].parent.parent.rglob("*apachemaint-tmp*"))


def test_a_checkpoint_that_cannot_be_saved_stops_the_patch_with_one_error(sites, monkeypatch, tmp_path):
    monkeypatch.setattr(os, "link", _no_link)  # backups are copies, written in one batch
    real = checkpoint.write_many

    def first_copy_only(items, **kwargs):
        items = list(items)
        real(items[:1], **kwargs)
        raise PartialWrite("cannot write: No space left on device", items[1][0], [items[0][0]])

    monkeypatch.setattr(checkpoint, "write_many", first_copy_only)
    before = _state(sites)
    with pytest.raises(UnsafeWrite, match="cannot save the originals: cannot write: No space") as err:
        patching.apply([patching.plan(f) for f in sites], configtest=False)
    assert not isinstance(err.value, PartialWrite), "backups are not the user's files: nothing to roll back"
    assert _state(sites) == before
    assert not list((tmp_path / "state" / "checkpoints").iterdir())
    assert not list(sites[0].parent.parent.rglob("*apachemaint-tmp*"))


# --- progress on a terminal (the check's, reused) -------------------------------------------

def _many(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        out.append(tmp_path / f"s{i}.conf")
        out[-1].write_text(f"<VirtualHost *:80>\n    ServerName s{i}.test\n    DocumentRoot /srv/s{i}\n"
                           "</VirtualHost>\n")
    return out


@pytest.mark.parametrize("n", [3, forked.MIN_ITEMS + 2])
def test_plan_all_tells_progress_every_file_up_to_the_total(tmp_path, n):
    """Both halves count, the second process's too (it arrives at the end, all at once)."""
    files = _many(tmp_path, n)
    calls = []
    plans = patching.plan_all(files, {}, progress=lambda done, total: calls.append((done, total)))
    assert len(plans) == n and calls[-1] == (n, n)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls) and {c[1] for c in calls} == {n}


def test_patch_shows_no_progress_when_stderr_is_piped(tmp_path):
    from run_cli import apachemaint

    files = _many(tmp_path, 50)
    result = apachemaint("patch", "--no-configtest", *files, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_patch_progress_line_names_patching_and_is_cleared(capsys):
    from apachemaint.cli import _Progress

    p = _Progress("patching")
    p._start -= 1  # as if half a second had passed: a short run shows nothing
    p._last -= 1
    p(5, 9)
    p.done()
    assert capsys.readouterr().err == "\rpatching 5/9 files\r\033[K"
