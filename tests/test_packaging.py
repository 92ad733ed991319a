"""The package as it is published: the wheel and the sdist are built from this tree (python -m
build --no-isolation, into a temp folder), their contents and metadata checked, the wheel
installed into a fresh virtualenv and its command run, and a few of the tests run from the
unpacked sdist.  Building needs `build` and setuptools >= 77 (.ci/run installs them)."""
from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import apachemaint
from apachemaint.compat import tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib().loads((ROOT / "pyproject.toml").read_text())
VERSION = apachemaint.__version__
# What a build must not read or leave: the tree is copied without these first.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "dist", "artifacts", "__pycache__",
                                    ".pytest_cache", ".hypothesis", ".nox", "hits.log", "*.gem", "*.tar.gz")
# The folders the sdist carries so that its tests run (README "Development").
SDIST_TREES = ("tests", "fixtures", "tools", "contrib", "collection", "gem", "templates", "apachemaint")
SDIST_FILES = ("LICENSE", "README.md", ".pre-commit-hooks.yaml", "pyproject.toml", "MANIFEST.in")
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")


def _need_build() -> None:
    missing = []
    try:
        import build  # noqa: F401
    except ImportError:
        missing.append("build")
    try:
        import setuptools
        if int(setuptools.__version__.split(".")[0]) < 77:
            missing.append("setuptools>=77")
    except ImportError:
        missing.append("setuptools>=77")
    if missing:
        why = f"{', '.join(missing)} not installed (pip install build 'setuptools>=77')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(wheel, sdist), built as `python -m build` does: the sdist first, the wheel from it."""
    _need_build()
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE, symlinks=True)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", work / "dist", src])
    wheel, = (work / "dist").glob("apachemaint-*.whl")
    sdist, = (work / "dist").glob("apachemaint-*.tar.gz")
    yield wheel, sdist


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        return email.parser.Parser().parsestr(z.read(f"apachemaint-{VERSION}.dist-info/METADATA").decode())


def test_one_license_everywhere():
    """MIT, one text: the package's LICENSE is the gem's, and every manifest names MIT."""
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert (ROOT / "gem" / "capistrano-apachemaint" / "LICENSE").read_text() == text
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert re.search(r'^\s*license:\s*\n\s*- MIT\s*$', (ROOT / "collection" / "galaxy.yml").read_text(), re.M)
    assert re.search(r"^\s*license: MIT$",
                     (ROOT / "contrib" / "ansible" / "roles" / "apachemaint" / "meta" / "main.yml").read_text(), re.M)
    assert 'spec.license = "MIT"' in (ROOT / "gem" / "capistrano-apachemaint"
                                      / "capistrano-apachemaint.gemspec").read_text()


def test_homepage_is_the_one_the_sarif_help_links_point_into():
    assert PYPROJECT["project"]["urls"]["Homepage"] == apachemaint.HOMEPAGE


def test_readme_has_no_link_that_breaks_on_pypi():
    """PyPI shows the README without the repository beside it: a relative link or image is dead there."""
    links = re.findall(r"\]\(([^)\s]+)", (ROOT / "README.md").read_text())
    assert [u for u in links if not u.startswith(("https://", "http://", "#"))] == []


def test_every_fixture_link_is_one_the_sdist_copy_can_restore():
    """An sdist stores links as copies; tests/corpus.copy_tree makes `*-enabled/NAME` a link to
    `../*-available/NAME` again, so that must be the only kind of link in the fixtures."""
    odd = [f"{p} -> {os.readlink(p)}" for p in (ROOT / "fixtures").rglob("*") if p.is_symlink()
           and not (p.parent.name.endswith("-enabled")
                    and os.readlink(p) == f"../{p.parent.name[:-len('enabled')]}available/{p.name}")]
    assert odd == []


def test_wheel_contents_and_metadata(dists):
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = z.read(f"apachemaint-{VERSION}.dist-info/entry_points.txt").decode()
    assert f"apachemaint-{VERSION}.dist-info/licenses/LICENSE" in names
    modules = {f"apachemaint/{p.relative_to(ROOT / 'apachemaint')}" for p in (ROOT / "apachemaint").rglob("*.py")}
    templates = {f"apachemaint/templates/{p.relative_to(ROOT / 'templates')}"
                 for p in (ROOT / "templates").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    contrib = {f"apachemaint/contrib/{p.relative_to(ROOT / 'contrib')}" for p in (ROOT / "contrib").rglob("*")
               if p.is_file()}
    assert modules | templates | contrib <= names
    assert not [n for n in names if n.startswith(("tests/", "fixtures/", "gem/", "collection/"))]
    assert "apachemaint = apachemaint.entry:entry" in entry_points

    meta = wheel_metadata(wheel)
    assert meta["Metadata-Version"] >= "2.4"
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.9"
    classifiers = meta.get_all("Classifier")
    assert {f"Programming Language :: Python :: {v}" for v in PYTHONS} <= set(classifiers)
    assert {"Operating System :: POSIX", "Intended Audience :: System Administrators"} <= set(classifiers)
    assert not [c for c in classifiers if c.startswith("License ::")]  # the expression says it
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert urls["Homepage"] == apachemaint.HOMEPAGE
    assert urls["Repository"] == "https://github.com/apachemaint/apachemaint"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().startswith("# apachemaint")


def test_sdist_carries_what_its_tests_need(dists):
    _, sdist = dists
    top = f"apachemaint-{VERSION}/"
    with tarfile.open(sdist) as tar:
        names = {m.name[len(top):] for m in tar.getmembers() if m.isfile()}
    assert set(SDIST_FILES) <= names
    for tree in SDIST_TREES:
        files = {str(p.relative_to(ROOT)) for p in (ROOT / tree).rglob("*")
                 if p.is_file() and not NOT_SOURCE(str(p.parent), [p.name]) and "__pycache__" not in p.parts}
        assert files, tree
        assert sorted(files - names) == [], f"{tree}/ incomplete in the sdist"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".gem"))]


def fresh_venv(python: str | Path, where: Path) -> Path:
    """A virtualenv with the pip its Python bundles (today's pip no longer runs on 3.9)."""
    run([python, "-m", "venv", where])
    return where / "bin" / "python"


def pip_into(venv_python: Path, *args) -> subprocess.CompletedProcess:
    return run([venv_python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args])


def cli_smoke(venv_python: Path, cwd: Path) -> None:
    """The installed command: its version, and `check` on a vhost without the block and one with it."""
    cli = venv_python.parent / "apachemaint"
    env = {**os.environ, "PYTHONPATH": ""}
    assert run([cli, "--version"], cwd=cwd, env=env).stdout.strip() == f"apachemaint {VERSION}"
    rules = ROOT / "fixtures" / "rules"
    for name in ("AM001.vhost", "AM001_fp.vhost"):
        shutil.copy(rules / name, cwd / name)
    found = subprocess.run([cli, "check", "AM001.vhost"], capture_output=True, text=True, cwd=cwd, env=env)
    assert found.returncode == 1 and "AM001.vhost:2:1: AM001" in found.stdout, found.stdout + found.stderr
    run([cli, "check", "AM001_fp.vhost"], cwd=cwd, env=env)
    where = run([venv_python, "-c", "import apachemaint; print(apachemaint.__file__)"], cwd=cwd, env=env)
    assert str(venv_python.parent.parent) in where.stdout  # the wheel's, not this tree's


def interpreters() -> list:
    """This interpreter, and each supported one installed by pyenv or on PATH (CI has only the first)."""
    found = {".".join(map(str, sys.version_info[:2])): sys.executable}
    for version in PYTHONS:
        pyenv = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
        path = str(pyenv[-1]) if pyenv else shutil.which(f"python{version}")
        if path:
            found.setdefault(version, path)
    ordered = sorted(found.items(), key=lambda kv: tuple(map(int, kv[0].split("."))))
    return [pytest.param(path, id=version) for version, path in ordered]


@pytest.mark.slow
@pytest.mark.parametrize("python", interpreters())
def test_wheel_runs_on_every_installed_python(dists, tmp_path, python):
    """The one wheel (py3-none-any) on each Python 3.9-3.13 that is here, dependencies from the index."""
    wheel, _ = dists
    venv_python = fresh_venv(python, tmp_path / "venv")
    pip_into(venv_python, wheel)
    cli_smoke(venv_python, tmp_path)


def _deps_from_here(venv: Path) -> None:
    """Let a fresh venv of this same interpreter import what this environment has installed
    (pytest, the dependencies, setuptools), without fetching anything."""
    here = [p for p in sys.path if p.endswith("site-packages")]
    site, = (venv / "lib").glob("python*/site-packages")
    (site / "zz_deps_from_test_env.pth").write_text("\n".join(here) + "\n")


# A few tests that read the fixtures (the first needs their links restored), render templates
# and run Apache.
SDIST_SUBSET = ["tests/test_check.py::test_server_check_follows_includes_and_reads_modules",
                "tests/test_new.py::test_enable_writes_sites_available_and_links_it", "tests/test_layouts.py"]


@pytest.mark.slow
def test_tests_run_from_the_unpacked_sdist(dists, tmp_path):
    """`pip install -e .` in the unpacked sdist, then pytest there (README "Development")."""
    _, sdist = dists
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    tree = tmp_path / f"apachemaint-{VERSION}"
    # Without a pip (or the old setuptools ensurepip brings on 3.9-3.11) of its own: this
    # environment's pip, setuptools and dependencies serve it.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _deps_from_here(venv)
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "-e", tree])
    env = {**os.environ, "PYTHONPATH": "", "CI": "true"}
    done = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SDIST_SUBSET],
                          capture_output=True, text=True, cwd=tree, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout) and " skipped" not in done.stdout, done.stdout[-2000:]


def test_one_version_for_the_tag():
    """One tag vX.Y.Z (README "Releases") names the package, the gem and the collection."""
    gem = (ROOT / "gem" / "capistrano-apachemaint" / "lib" / "capistrano" / "apachemaint" / "version.rb").read_text()
    assert re.search(r'VERSION = "([^"]+)"', gem).group(1) == VERSION
    assert re.search(r"^version: (\S+)$", (ROOT / "collection" / "galaxy.yml").read_text(), re.M).group(1) == VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert f"rev: v{VERSION}" in (ROOT / "README.md").read_text()


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
                "-c", "commit.gpgsign=false", *args], cwd=cwd)


@pytest.mark.slow
def test_pre_commit_hook_from_a_release_tag(tmp_path):
    """`pre-commit try-repo` at the tag the README's `rev:` names: the hook installs from the
    repository and fails a vhost without the block, passes one with it."""
    pre_commit = shutil.which("pre-commit", path=os.path.dirname(sys.executable)) or shutil.which("pre-commit")
    if pre_commit is None:
        why = "pre-commit not installed (pip install pre-commit)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)
    if shutil.which("git") is None:
        pytest.fail("git not installed", pytrace=False)
    repo = tmp_path / "apachemaint"
    shutil.copytree(ROOT, repo, ignore=NOT_SOURCE, symlinks=True)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release")
    git(repo, "tag", f"v{VERSION}")
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    for name in ("AM001.vhost", "AM001_fp.vhost"):
        shutil.copy(ROOT / "fixtures" / "rules" / name, project / name)
    git(project, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "PYTHONPATH": "", "NO_COLOR": "1"}

    def try_repo(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([pre_commit, "try-repo", repo, "apachemaint-check", "--ref", f"v{VERSION}",
                               "--files", name], capture_output=True, text=True, cwd=project, env=env, timeout=600)

    bad = try_repo("AM001.vhost")
    assert bad.returncode == 1 and "AM001.vhost:2:1: AM001" in bad.stdout, bad.stdout + bad.stderr
    good = try_repo("AM001_fp.vhost")
    assert good.returncode == 0 and "Passed" in good.stdout, good.stdout + good.stderr


def test_source_keeps_to_python_3_9():
    """What 3.9 lacks, caught on any Python (the matrix finds it only where 3.9 is installed):
    zip(strict=), datetime.UTC, dataclass(slots=) outside compat.py, `X | Y` in a Typer option
    (Typer evaluates those annotations), and a module with code but without postponed annotations
    (cli.py goes without them on purpose: see its header)."""
    import ast

    problems = []
    for path in sorted((ROOT / "apachemaint").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(ROOT)
        has_code = any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body)
        if has_code and path.name != "cli.py" and not any(
                isinstance(n, ast.ImportFrom) and n.module == "__future__"
                and any(a.name == "annotations" for a in n.names) for n in tree.body):
            problems.append(f"{where}: no `from __future__ import annotations`")
        for node in ast.walk(tree):
            line = f"{where}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "zip" \
                    and any(k.arg == "strict" for k in node.keywords):
                problems.append(f"{line}: zip(strict=) is 3.10+")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dataclass" \
                    and any(k.arg == "slots" for k in node.keywords):
                problems.append(f"{line}: dataclass(slots=) is 3.10+ (use compat.SLOTS)")
            if (isinstance(node, ast.Attribute) and node.attr == "UTC" and getattr(node.value, "id", "") == "datetime"
                    or isinstance(node, ast.ImportFrom) and node.module == "datetime"
                    and any(a.name == "UTC" for a in node.names)):
                problems.append(f"{line}: datetime.UTC is 3.11+ (timezone.utc)")
            if path.name == "cli.py" and isinstance(node, ast.arg) and node.annotation is not None and any(
                    isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(node.annotation)):
                problems.append(f"{line}: `X | Y` in a Typer annotation is 3.10+ (Optional[...])")
    assert problems == []
