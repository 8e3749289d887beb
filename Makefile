# Two commands on a fresh Debian machine with Python 3.11:
#   make serve   install and start the server on its embedded defaults
#   make test    install everything the tests need and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# Test processes: most tests wait on servers and sockets, so two share this machine's cores well
# (about 15 minutes against 25 in one). TEST_WORKERS=1 runs them one after another.
TEST_WORKERS ?= 2

.PHONY: serve test lint typecheck system-packages system-packages-test clean

serve: system-packages $(VENV)/.installed
	$(BIN)/visavis serve

test: system-packages system-packages-test $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

system-packages:
	@scripts/install-system-packages.sh system-packages.txt

system-packages-test:
	@scripts/install-system-packages.sh system-packages-test.txt

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Visavis needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[test]'
	@touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
