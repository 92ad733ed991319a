# The README's commands. Python packages install into .venv; Apache and what the suites drive
# (chromium, mod_wsgi, Passenger, sshd, capistrano) come from Debian's packages, the same
# list CI installs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES ?= $(shell cat .ci/debian-packages)

.PHONY: install apache system-deps demo test test-quick lint clean bench fuzz fixtures matrix

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,fleet]'
	touch $@

install: $(VENV)/.installed

# Debian's apache2 (needs root or sudo); a no-op where it is installed.
apache:
	@command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq apache2; }

# Every Debian package the whole suite uses; installs only the missing ones.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$SUDO apt-get install -y -qq --no-install-recommends $$missing; }

demo: install apache
	$(PY) -m apachemaint.demo

test: install system-deps
	$(PY) -m pytest -q

# Everything but the tests marked slow.
test-quick: install
	$(PY) -m pytest -q -m "not slow"

# The version matrix (noxfile.py): the suite without slow and real-Apache tests on Python 3.9-3.13
# (from PATH or ~/.pyenv/versions), the real-Apache part on 3.9.  Under CI=true a missing Python fails.
# NOX_ARGS="-s tests-3.12" for one of them.
NOX_ARGS ?=
matrix: install
	@$(PY) -c "import nox" 2>/dev/null || $(PY) -m pip install -q nox
	$(VENV)/bin/nox $(if $(filter true,$(CI)),--error-on-missing-interpreters) $(NOX_ARGS)

# Performance, each figure a ratio to a baseline measured in the same run (README "Performance"):
# config scale (check/patch vs apache2 -t on 1k and 10k vhosts), certbot-apache's parser as a peer
# (1k, 3k, 10k), request cost of the block (wrk), start-up.  Takes ~20 min on 2 cores.
# BENCH_ARGS="--sizes 1000,10000,100000" for the 100k point;
# `python bench/check_scale.py N RUNS` times the in-process check alone.
# The certbot peer (bench/certbot_peer.py) needs certbot-apache, whose python-augeas builds
# against libaugeas; where either cannot be installed its row says so and the rest runs.
BENCH_ARGS ?=
BENCH_APT := libaugeas0 libaugeas-dev augeas-lenses libffi-dev pkg-config
bench: install apache
	@command -v wrk >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }
	@$(PY) -c "import augeas, certbot_apache" 2>/dev/null || { \
	  missing=$$(for p in $(BENCH_APT); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  [ -z "$$missing" ] || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      $$SUDO apt-get install -y -qq $$missing; } || true; }; \
	  $(PY) -m pip install -q certbot-apache || echo "bench: certbot-apache not installed"; }
	$(PY) -m bench $(BENCH_ARGS)

# The long, random run of the property tests (make test runs a bounded, reproducible one).
FUZZ_EXAMPLES ?= 20000
fuzz: install
	APACHEMAINT_FUZZ=1 FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -m fuzz

# Re-render the block in every fixture file that embeds one (after a template change).
fixtures: install
	$(PY) tools/fixtures.py

docs: install
	$(PY) tools/rules_doc.py

lint: install
	$(PY) -m ruff check apachemaint tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .nox
