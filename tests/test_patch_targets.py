"""patch at scale (issue 18): folders, --from-file LIST (- = stdin) and --config MAIN name the
files of one run, so a run of any size is one checkpoint and one config test; with --config,
a named file that server does not include is refused before anything is written."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import debian_tree
from run_cli import apachemaint

VHOST = "<VirtualHost *:80>\n    ServerName {name}\n    DocumentRoot /srv/{name}\n</VirtualHost>\n"


def sites(folder: Path, names: list[str]) -> list[Path]:
    out = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(VHOST.format(name=path.stem))
        out.append(path)
    return out


def patched(path: Path) -> bool:
    return "# BEGIN apachemaint" in path.read_text()


def checkpoints(state: Path) -> list[Path]:
    folder = state / "checkpoints"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_a_folder_is_every_file_httpd_would_include_minus_the_excludes(tmp_path):
    top = tmp_path / "sites"
    files = sites(top, ["a.conf", "b.vhost", ".hidden.conf", "sub/c.conf", "old/d.conf", "000-default.conf"])
    (tmp_path / "other.conf").write_text(VHOST.format(name="other"))
    os.symlink(tmp_path / "other.conf", top / "linked.conf")
    (tmp_path / ".apachemaint.toml").write_text('exclude = ["000-default.conf"]\n')
    out = apachemaint("patch", "--no-configtest", "--exclude", "old/", "sites", cwd=tmp_path, state=tmp_path / "st")
    assert out.returncode == 0, out.stderr
    assert {p.relative_to(top).as_posix() for p in files if patched(p)} == {"a.conf", "b.vhost", ".hidden.conf",
                                                                            "sub/c.conf"}
    assert patched(tmp_path / "other.conf") and (top / "linked.conf").is_symlink()
    assert "sites/sub/c.conf:1: <VirtualHost *:80>: block added" in out.stdout
    assert len(checkpoints(tmp_path / "st")) == 1


def test_a_file_named_one_by_one_is_taken_as_named_even_if_excluded(tmp_path):
    (site,) = sites(tmp_path, ["000-default.conf"])
    out = apachemaint("patch", "--no-configtest", "--exclude", "000-default.conf", site, cwd=tmp_path)
    assert out.returncode == 0 and patched(site)


def test_hundreds_of_files_come_through_stdin_as_one_run(tmp_path):
    files = sites(tmp_path / "many", [f"s{i:04}.conf" for i in range(300)])
    listing = "".join(f"{p}\n" + ("\n" if i % 50 == 0 else "") for i, p in enumerate(files))
    state = tmp_path / "state"
    done = subprocess.run([sys.executable, "-m", "apachemaint", "patch", "--no-configtest", "--from-file", "-"],
                          input=listing, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "APACHEMAINT_STATE_DIR": str(state)})
    assert done.returncode == 0, done.stderr
    assert all(patched(p) for p in files)
    assert done.stdout.count("block added") == 300 and done.stdout.count("originals saved in ") == 1
    assert len(checkpoints(state)) == 1


def test_a_list_file_ignores_blank_lines_and_crlf_and_adds_to_the_named_files(tmp_path):
    a, b, c = sites(tmp_path, ["a.conf", "b.conf", "c.conf"])
    listing = tmp_path / "list.txt"
    listing.write_bytes(f"{b}\r\n\r\n   \n{c}".encode())
    out = apachemaint("patch", "--check", "--from-file", listing, a)
    assert out.returncode == 1
    assert [ln.split(":")[0] for ln in out.stderr.splitlines()] == [str(a), str(b), str(c)]
    out = apachemaint("patch", "--no-configtest", "--from-file", listing, a, b)  # b twice: patched once
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("block added") == 3 and all(patched(p) for p in (a, b, c))


def test_a_link_and_its_file_in_one_run_are_one_file(tmp_path):
    (site,) = sites(tmp_path, ["a.conf"])
    os.symlink(site, tmp_path / "enabled.conf")
    out = apachemaint("patch", "--no-configtest", site, tmp_path / "enabled.conf")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("block added") == 1 and site.read_text().count("# BEGIN apachemaint") == 1


def test_names_through_links_and_dots_meet_in_one_file_and_a_linked_folder_is_a_folder(tmp_path, monkeypatch):
    from apachemaint import targets

    (site,) = sites(tmp_path / "available", ["a.conf"])
    (tmp_path / "enabled").mkdir()
    os.symlink("../available/a.conf", tmp_path / "enabled" / "a.conf")
    os.symlink(tmp_path / "available", tmp_path / "folder-link")
    monkeypatch.chdir(tmp_path)
    assert targets.collect(["enabled/a.conf", "./available//a.conf", "enabled/./a.conf"]) == ["enabled/a.conf"]
    assert targets.collect(["available/a.conf", "enabled/a.conf"]) == ["available/a.conf"]
    assert targets.collect(["folder-link"]) == ["folder-link/a.conf"]


def test_a_list_that_cannot_be_read_is_one_line_and_exit_2(tmp_path):
    out = apachemaint("patch", "--from-file", tmp_path / "missing.txt")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith(f"{tmp_path / 'missing.txt'}: cannot read the list of files")


def test_a_nul_byte_in_the_list_is_one_line_naming_its_line_and_exit_2(tmp_path):
    site = tmp_path / "a.conf"
    site.write_text("<VirtualHost *:80>\n  ServerName a\n</VirtualHost>\n")
    before = site.read_bytes()
    listing = tmp_path / "list.txt"
    listing.write_bytes(f"{site}\n{site}\0/etc/passwd\n".encode())
    for command in ("patch", "unpatch"):
        out = apachemaint(command, "--no-configtest", "--from-file", listing)
        assert out.returncode == 2 and out.stderr == f"{listing}:2: a NUL byte in the list of files (one path a line)\n"
    assert site.read_bytes() == before


def test_nothing_named_is_a_usage_error():
    out = apachemaint("patch")
    assert out.returncode == 2 and "--from-file LIST, or --config MAIN" in out.stderr


@pytest.mark.apache
def test_config_alone_patches_every_vhost_file_the_server_includes_with_one_test(tmp_path):
    tree = debian_tree(tmp_path)
    main = tree / "apache2.conf"
    enabled = sorted({p.resolve() for p in (tree / "sites-enabled").iterdir()})
    disabled = sorted(set((tree / "sites-available").iterdir()) - set(enabled))
    assert enabled and disabled
    before = {p: p.read_bytes() for p in disabled}
    state = tmp_path / "state"
    out = apachemaint("patch", "--config", main, state=state)
    assert out.returncode == 0, out.stderr
    assert all(patched(p) for p in enabled)
    assert {p: p.read_bytes() for p in disabled} == before
    assert out.stdout.count(f"config test of {main}: ") == 1 and len(checkpoints(state)) == 1
    assert "not included" not in out.stdout
    again = apachemaint("patch", "--check", "--config", main, state=state)
    assert again.returncode == 0, again.stderr  # every file of the run is current now


def test_config_with_a_file_it_does_not_include_is_refused_and_nothing_written(tmp_path):
    tree = debian_tree(tmp_path)
    main = tree / "apache2.conf"
    included = tree / "sites-enabled" / "shop.example.com.conf"
    (stray,) = sites(tmp_path, ["stray.conf"])
    before = {p: p.read_bytes() for p in (included.resolve(), stray)}
    out = apachemaint("patch", "--no-configtest", "--config", main, included, stray, state=tmp_path / "state")
    assert out.returncode == 2
    assert out.stderr == (f"{stray}: not included by {main}; patch and unpatch --config edit only files that "
                          "server reads (name its vhost files, or leave out --config)\n")
    assert {p: p.read_bytes() for p in before} == before
    assert checkpoints(tmp_path / "state") == []


def test_config_excludes_apply_to_the_servers_files(tmp_path):
    tree = debian_tree(tmp_path)
    out = apachemaint("patch", "--no-configtest", "--config", tree / "apache2.conf", "--exclude", "000-default.conf")
    assert out.returncode == 0, out.stderr
    assert not patched(tree / "sites-available" / "000-default.conf")
    assert patched(tree / "sites-available" / "shop.example.com.conf")
