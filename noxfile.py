"""The version matrix (`make matrix`): the suite without the slow and real-Apache tests on every
Python apachemaint supports, and the real-Apache part on the oldest one.  Interpreters are found on
PATH and under ~/.pyenv/versions (pyenv need not be active); one that is missing is skipped by nox
unless --error-on-missing-interpreters (what `make matrix` passes under CI=true)."""
from __future__ import annotations

import glob
import os

import nox

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
# The real-Apache tests (and the browser ones, which drive Apache too) on the oldest Python.
APACHE_PYTHON = PYTHONS[0]

os.environ["PATH"] = os.pathsep.join(
    [os.environ.get("PATH", ""), *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")))])
nox.options.sessions = ["tests", "apache"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session) -> None:
    # build and setuptools>=77: tests/test_packaging.py builds the wheel and sdist offline.
    session.install("-e", ".[test]", "build", "setuptools>=77")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    _install(session)
    session.run("python", "-m", "pytest", "-q", "-m", "not slow and not apache and not browser",
                *session.posargs, env={"CI": os.environ.get("CI", "")})


@nox.session(python=APACHE_PYTHON)
def apache(session: nox.Session) -> None:
    _install(session)
    session.run("python", "-m", "pytest", "-q", "-m", "(apache or browser) and not slow", *session.posargs,
                env={"CI": os.environ.get("CI", "")})
