"""Shared pytest configuration."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite the golden files in tests/goldens/ from the current output",
    )


# --- shared fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh, empty dataset cache (`--cache-dir`), one per test module: a module's
    grades share what they decode and split, and nothing of the user's cache is read."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def fashion_cache(cache_dir: Path) -> Path:
    """Fashion-MNIST decoded into the module's fresh cache (from the Debian package, else
    the Keras cache): the folder `data.prepare` returns."""
    from grader import data

    return data.prepare(cache_dir=cache_dir)


@pytest.fixture(scope="module")
def validated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
):  # -> validate_helpers.Validated
    """`grade validate` of one shipped assignment, the parameter (a key of
    tests/validate_helpers.py's `CASES`, given with `indirect=True`): run once per module,
    shared by every test of that module that reads the same assignment's run."""
    from validate_helpers import CASES

    return CASES[request.param].run(tmp_path_factory, cache_dir)


# Seconds each heavy module took in one process on a quiet two-core machine here
# (2026-11-30, whole suite in one pytest process). `make test` runs two xdist workers
# with --dist loadfile, which hands out whole files in collection order: the longest go
# first so that neither worker is left with a long file at the end. Unlisted modules
# follow in their usual order; a stale figure only costs balance, never a test.
HEAVY_SECONDS = {
    # Every shipped assignment's `grade validate` (six grades), moved here on 2026-12-07
    # from the six modules below that ran one each: the sum of what those modules took
    # (and-gate 223, selu 200, mnist 196, cyclic 176, cifar 161, validate 160) less the
    # tests they kept, an estimate until a quiet run measures it. Measured once on
    # 2026-12-07 at nice 15 beside two benchmark runs (load 8 to 13): 1,580 s, the six
    # grades 115 to 366 s each.
    "test_validate_shipped.py": 960,
    "test_corpus.py": 863,
    # Its four SLURM batches, one run on 2026-12-07 beside other engineers' training (load
    # about 7 on the two cores): 392 s; quiet, it is shorter.
    "test_slurm.py": 392,
    "test_batch.py": 188,
    "test_selfcheck.py": 177,
    "test_schedules.py": 173,
    "test_terminal.py": 150,
    "test_search.py": 129,
    "test_notebook_identity.py": 119,
    "test_evaluate.py": 100,
    "test_packaging.py": 97,
    "test_determinism.py": 92,
    "test_dask.py": 88,
    "test_probe.py": 84,
    "test_checks.py": 80,
    # What test_validate.py keeps: one grade of a broken reference.
    "test_validate.py": 60,
    "test_runner.py": 59,
    "test_gradescope.py": 56,
    "test_resume.py": 53,
    "test_report.py": 48,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def weight(item: pytest.Item) -> int:
        return -HEAVY_SECONDS.get(item.path.name, 0)

    items.sort(key=weight)  # stable: the order within a module and among the rest is kept


# A CI run that is stopped at its time limit prints no summary: say each failure, and when
# each module first reported, as it happens, so a cut-off log still names them.
_STARTED = time.monotonic()
_SEEN: set[str] = set()
_CONFIG: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG.append(config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not _CONFIG or hasattr(_CONFIG[0], "workerinput"):
        return  # an xdist worker: its controller prints
    terminal = _CONFIG[0].pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return
    elapsed = time.monotonic() - _STARTED
    module = report.nodeid.split("::", 1)[0]
    if module not in _SEEN:
        _SEEN.add(module)
        terminal.ensure_newline()
        node = getattr(getattr(report, "node", None), "gateway", None)
        where = f" on {node.id}" if node is not None else ""
        terminal.write_line(f"[{elapsed:6.0f} s] {module} started{where}")
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        why = (crash.message if crash is not None else str(report.longrepr)).splitlines()
        first = why[0][:200] if why else ""
        terminal.ensure_newline()
        terminal.write_line(
            f"[{elapsed:6.0f} s] FAILED {report.nodeid} ({report.when}, "
            f"{report.duration:.0f} s): {first}"
        )
