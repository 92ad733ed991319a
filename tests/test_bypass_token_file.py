"""`down --bypass-token-file FILE|-` (and `run`): the fleet token off the command line, where
`ps` and sudo's log would show it (F4).  The file's rules: a regular file, not a link, not
readable by group or others, read with the sudo caller's rights; `-` is the first line of
stdin.  Every refusal is one line naming the file, exit 2, nothing written.  The real-Apache
half (the token opens the site) is in test_bypass_fleet_http.py."""
from __future__ import annotations

import os
import pwd
import sys
import tempfile
from pathlib import Path

import pytest
from run_cli import apachemaint

TOKEN = "file-Token_0123456789abcdef"


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    return root


def _token_file(folder: Path, text: str = TOKEN + "\n", mode: int = 0o600) -> Path:
    path = folder / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def _bypass_names(docroot: Path) -> list[str]:
    return sorted(p.name for p in (docroot / "system" / ".apachemaint" / "bypass").iterdir())


def _refused(result, docroot: Path, *words: str) -> None:
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(w in result.stderr for w in words), result.stderr
    assert TOKEN not in result.stderr
    assert list(docroot.iterdir()) == []


def test_a_private_file_gives_the_token(docroot, tmp_path):
    done = apachemaint("down", "--docroot", docroot, "--bypass-token-file", _token_file(tmp_path))
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout and _bypass_names(docroot) == [TOKEN]


def test_stdin_gives_its_first_line_stripped(docroot):
    done = apachemaint("down", "--docroot", docroot, "--bypass-token-file", "-", input=f"  {TOKEN}\t \nmore\n")
    assert done.returncode == 0, done.stderr
    assert _bypass_names(docroot) == [TOKEN]


def test_run_reads_only_the_first_line_and_leaves_the_rest_to_its_command(docroot, tmp_path):
    seen = tmp_path / "seen"
    command = [sys.executable, "-c", f"import sys; open({str(seen)!r}, 'w').write(sys.stdin.read())"]
    done = apachemaint("run", "--docroot", docroot, "--bypass-token-file", "-", "--", *command,
                       input=f"{TOKEN}\nfor the command\n")
    assert done.returncode == 0, done.stderr
    assert seen.read_text() == "for the command\n"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_group_or_others_may_read_is_refused(docroot, tmp_path, mode):
    token = _token_file(tmp_path, mode=mode)
    _refused(apachemaint("down", "--docroot", docroot, "--bypass-token-file", token), docroot,
             f"{token}: --bypass-token-file: readable by group or others")


def test_a_link_is_refused_even_to_a_private_file(docroot, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(_token_file(tmp_path))
    _refused(apachemaint("down", "--docroot", docroot, "--bypass-token-file", link), docroot,
             f"{link}: --bypass-token-file: ", "a link")


def test_a_fifo_a_folder_a_device_and_a_missing_file_are_refused_without_hanging(docroot, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    for name in (fifo, folder, "/dev/zero", tmp_path / "missing"):
        _refused(apachemaint("down", "--docroot", docroot, "--bypass-token-file", name), docroot,
                 f"{name}: --bypass-token-file: ")


def test_a_file_larger_than_a_token_file_is_refused(docroot, tmp_path):
    _refused(apachemaint("down", "--docroot", docroot, "--bypass-token-file",
                         _token_file(tmp_path, TOKEN + "\n" + "x" * 5000)), docroot, "is no token file")


@pytest.mark.parametrize("text", ["", "\n", "   \n" + TOKEN + "\n", "short\n", "has space in it!!\n",
                                  "\xe4" * 20 + "\n", "x" * 129])
def test_a_file_without_a_good_token_on_its_first_line_is_refused(docroot, tmp_path, text):
    token = _token_file(tmp_path, text)
    _refused(apachemaint("down", "--docroot", docroot, "--bypass-token-file", token), docroot,
             f"{token}: --bypass-token-file: ")
    _refused(apachemaint("down", "--docroot", docroot, "--bypass-token-file", "-", input=text), docroot,
             "--bypass-token-file -: ")


def test_the_file_and_the_token_exclude_each_other(docroot, tmp_path):
    token = _token_file(tmp_path)
    for given, env in ((["--bypass-token", TOKEN], {}), ([], {"APACHEMAINT_BYPASS_TOKEN": TOKEN})):
        for command in ("down", "run"):
            extra = ["--", "true"] if command == "run" else []
            _refused(apachemaint(command, "--docroot", docroot, *given, "--bypass-token-file", token, *extra,
                                 env=env), docroot, "--bypass-token", "--bypass-token-file: give one")
    # An empty APACHEMAINT_BYPASS_TOKEN is none, as without the file.
    done = apachemaint("down", "--docroot", docroot, "--bypass-token-file", token,
                       env={"APACHEMAINT_BYPASS_TOKEN": ""})
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="plays sudo: needs root")
def test_under_sudo_the_file_is_read_with_the_callers_rights(docroot):
    """A sudoers rule for apachemaint must not read root's files for its user: a root-only
    0600 file (inside a folder the caller may enter) is refused for the sudo caller nobody."""
    nobody = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory(prefix="apachemaint-token-") as d:
        os.chmod(d, 0o755)
        token = _token_file(Path(d))
        sudo = {"SUDO_USER": "nobody", "SUDO_UID": str(nobody.pw_uid), "SUDO_GID": str(nobody.pw_gid)}
        _refused(apachemaint("down", "--docroot", docroot, "--bypass-token-file", token, env=sudo), docroot,
                 f"{token}: --bypass-token-file: cannot read it: Permission denied")
        os.chown(token, nobody.pw_uid, nobody.pw_gid)  # the caller's own file is theirs to hand over
        done = apachemaint("down", "--docroot", docroot, "--bypass-token-file", token, env=sudo)
        assert done.returncode == 0, done.stderr
        assert _bypass_names(docroot) == [TOKEN]
