# Everything runs in a virtual environment this Makefile creates (.venv), so a
# fresh machine needs only Python 3 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench docs lint clean vendor-suites

$(STAMP): setup.py setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# The demo needs the package alone (requests, python-dateutil, backoff), not the test tools.
DEMO_STAMP := $(VENV)/.demo-installed

$(DEMO_STAMP): setup.py setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) -m analytics_sdk.devtools.demo

test: $(STAMP)
	$(PY) -m pytest -q

# The whole suite on every supported Python (3.9-3.13, found on PATH or through
# pyenv), each in a fresh venv with that Python's own pip: see noxfile.py. CI runs
# it after `make test`. nox lives in a throwaway venv of its own.
CI_VENV := .ci-venv
CI_STAMP := $(CI_VENV)/.installed

$(CI_STAMP):
	test -x $(CI_VENV)/bin/python || $(PYTHON) -m venv $(CI_VENV)
	$(CI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'nox>=2024.3'
	touch $(CI_STAMP)

test-all: $(CI_STAMP)
	$(CI_VENV)/bin/nox

# The benchmark has its own environment: peers are measured, never dependencies.
BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): setup.py setup.cfg pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[speed]' segment-analytics-python mparticle amplitude-analytics
	-$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check rudder-sdk-python
	-$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check posthog
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/compare.py --json benchmarks/latest.json
	$(BENCH_VENV)/bin/python benchmarks/mparticle_compare.py
	$(BENCH_VENV)/bin/python benchmarks/amplitude_compare.py

# The vendors' own test suites against the drop-ins (compat/): mParticle's is downloaded
# from PyPI; Amplitude's comes from a checkout of github amplitude/Amplitude-Python at
# tag v1.2.3 (its PyPI package has no tests): make vendor-suites AMPLITUDE_CHECKOUT=path
vendor-suites: $(STAMP)
	$(PY) compat/run_mparticle_suite.py
	test -n "$(AMPLITUDE_CHECKOUT)" || { echo "set AMPLITUDE_CHECKOUT to an Amplitude-Python v1.2.3 checkout"; exit 2; }
	$(PY) compat/run_amplitude_suite.py "$(AMPLITUDE_CHECKOUT)"

# The docs site (Sphinx + MyST + autodoc; docs/README.md says why) in a venv of its own.
# -W: any warning fails the build; -E: every page is read again, so none hides one.
DOCS_VENV := .docs-venv
DOCS_STAMP := $(DOCS_VENV)/.installed

$(DOCS_STAMP): docs/requirements.txt setup.py setup.cfg pyproject.toml
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e . -r docs/requirements.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(DOCS_VENV)/bin/python -m sphinx -W --keep-going -E -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

lint: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check mypy types-requests types-python-dateutil
	$(PY) -m mypy analytics_sdk

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(CI_VENV) $(DOCS_VENV) .nox build dist *.egg-info .pytest_cache docs/_build docs/_generated
