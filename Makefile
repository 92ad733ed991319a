# The README's commands. Everything installs into .venv; apache2 comes from Debian's packages.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES ?= apache2

.PHONY: install apache demo test test-quick lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian's apache2 (needs root or sudo); a no-op where it is installed.
apache:
	@command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); }

demo: install apache
	$(PY) -m apachemaint.demo

test: install apache
	$(PY) -m pytest -q

# Everything but the tests marked slow.
test-quick: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m ruff check apachemaint tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
