# Two commands for a fresh Debian machine (README): `make grade` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
OUT ?= reports
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
DEBIAN_PACKAGES := dataset-fashion-mnist bubblewrap chromium
STAMP := $(VENV)/.installed

.PHONY: setup system system-test python grade test lint clean slurm slurm-stop

setup: system python

# Debian packages: the dataset (four original idx .gz files) and the sandbox tool.
system:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# A venv with the package and its pinned dependencies (constraints.txt pins the whole tree).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,bench]'
	touch $@

python: $(STAMP)

# Exit code 1 means "some submissions were not graded": submissions/ holds broken
# examples on purpose, so that is the expected outcome here; 2 is a real failure.
# --calibrate: a machine with other libraries than the committed calibrations' (their
# fingerprint) computes the reference's `default` calibration first (5 seeds, a few
# minutes) instead of stopping; one that differs only in its CPU uses the committed one
# (the reports say on which CPU it was measured).
grade: setup
	$(VENV)/bin/grade submissions/ --assignment fashion-mnist-polynomial-decay --calibrate --out $(OUT) || [ $$? -eq 1 ]
	@echo "reports in $(OUT)/, gradebook in $(OUT)/grades.csv"

# Two pytest-xdist workers, one per core, each taking whole test files (--dist loadfile:
# a module's shared grade runs once), the longest files first (tests/conftest.py).
# Most of a test's time is TensorFlow's single-threaded import in a fresh child process,
# so the second worker uses the core the first leaves idle. `make test TEST_JOBS=0` runs
# everything in one process. The 30 slowest tests are listed at the end.
TEST_JOBS ?= 2
test: setup system-test
	$(VENV)/bin/python -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=30

lint: python
	$(VENV)/bin/ruff check grader tests bench
	$(VENV)/bin/ruff format --check grader tests bench

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache

# The one-node SLURM of tests/test_slurm.py and of `grade --cluster slurm` tried by hand
# (docs/cluster.md): Debian's slurm-wlm and munge, needed by `make test` only.
TEST_DEBIAN_PACKAGES := slurm-wlm munge
SLURM_STATE ?= /tmp/grader-slurm
system-test:
	@$(MAKE) --no-print-directory system DEBIAN_PACKAGES="$(TEST_DEBIAN_PACKAGES)"

# Prints SLURM_CONF=...: export it, then `grade ... --cluster slurm`; `make slurm-stop` ends it.
slurm: system-test
	scripts/slurm/one-node.sh start $(SLURM_STATE)

slurm-stop:
	scripts/slurm/one-node.sh stop $(SLURM_STATE)
