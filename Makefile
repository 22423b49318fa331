# Two commands for a fresh Debian machine (README): `make grade` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
OUT ?= reports
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Grading needs the dataset (four original idx .gz files) and the sandbox tool; only the
# tests need a browser (tests/test_browser.py renders a report in Debian's chromium) and a
# one-node SLURM (tests/test_slurm.py, `make slurm`: Debian's slurm-wlm and munge).
GRADE_PACKAGES := dataset-fashion-mnist bubblewrap
TEST_PACKAGES := $(GRADE_PACKAGES) chromium slurm-wlm munge
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

# The reports' language: `make grade GRADE_LANG=en`, or `make grade LANG=en` as the README
# says. LANG is also the locale: make hands a variable given on its command line to every
# recipe's environment, so the grader's processes get back the locale make was started
# with (read from its own initial environment), and an unset one stays unset.
GRADE_LANG ?=
ifeq ($(origin LANG),command line)
GRADE_LANG := $(LANG)
STARTED_LANG := $(shell tr '\0' '\n' < /proc/$$PPID/environ 2>/dev/null | sed -n 's/^LANG=//p')
ifeq ($(STARTED_LANG),)
unexport LANG
else
override LANG := $(STARTED_LANG)
endif
endif

.PHONY: setup system system-test python python-test grade test test-fast lint clean slurm slurm-stop

setup: system python

define apt_install
	@missing=""; for p in $(1); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

system:
	$(call apt_install,$(GRADE_PACKAGES))

system-test:
	$(call apt_install,$(TEST_PACKAGES))

# A venv with the package and its pinned dependencies (constraints.txt pins the whole tree);
# the test, lint and benchmark tools (extras `test` and `bench`) only for `make test`.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	touch $@

python: $(STAMP)

python-test: $(TEST_STAMP)

# Exit code 1 means "some submissions were not graded": submissions/ holds broken
# examples on purpose, so that is the expected outcome here; 2 is a real failure.
# submissions/grade.toml names the assignment (the exam), as `grade submissions/` reads it.
# --calibrate: a machine with other libraries than the committed calibrations' (their
# fingerprint) computes the reference's `default` calibration first (5 seeds, a few
# minutes) instead of stopping; one that differs only in its CPU uses the committed one
# (the reports say on which CPU it was measured).
grade: setup
	$(VENV)/bin/grade submissions/ --calibrate --out $(OUT) $(if $(GRADE_LANG),--lang $(GRADE_LANG)) || [ $$? -eq 1 ]
	@echo "reports in $(OUT)/, gradebook in $(OUT)/grades.csv, class summary in $(OUT)/summary.html"

# Two pytest-xdist workers, one per core, each taking whole test files (--dist loadfile:
# a module's shared grade runs once), the longest files first (tests/conftest.py).
# Most of a test's time is TensorFlow's single-threaded import in a fresh child process,
# so the second worker uses the core the first leaves idle. `make test TEST_JOBS=0` runs
# everything in one process. The 30 slowest tests are listed at the end.
TEST_JOBS ?= 2
test: system-test python-test
	$(VENV)/bin/python -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=30

# The same suite without the tests marked `slow` (those that train a model or grade a
# batch, docs/DESIGN.md "The test suite"), for the edit-test loop: under 5 minutes on two
# quiet cores (3 min 3 s measured, bench/RESULTS.md).
# CI runs `make test`.
test-fast: system-test python-test
	$(VENV)/bin/python -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=10 -m "not slow"

lint: python-test
	$(VENV)/bin/ruff check grader tests bench
	$(VENV)/bin/ruff format --check grader tests bench

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache

# The one-node SLURM of tests/test_slurm.py and of `grade --cluster slurm` tried by hand
# (docs/cluster.md).
SLURM_STATE ?= /tmp/grader-slurm
# Prints SLURM_CONF=...: export it, then `grade ... --cluster slurm`; `make slurm-stop` ends it.
slurm: system-test
	scripts/slurm/one-node.sh start $(SLURM_STATE)

slurm-stop:
	scripts/slurm/one-node.sh stop $(SLURM_STATE)
