"""Differently written, equally declared: one search for all (grader.training.SearchStore).

The reference and three solutions that write it differently (every name changed; a
list-form Sequential whose model, layers, optimizer and schedule carry names; helper
functions) declare the same training at every hyperparameter value, so a batch trains the
search once and the three take it from the store: the same trials, the same test accuracy,
the same points. A near miss (decay_steps 100) declares something else: its own search,
and the schedule_params point lost. Through the real sandbox, child and trainer, on a
subset under `smoke`.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from grader.batch import BatchOptions, grade
from grader.sandbox import resolve
from grader.settings import Source, choose, prepare

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "tests" / "equivalents"
EXPECTED = tomllib.loads((FOLDER / "EXPECTED.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("equivalents")
    folder = work / "class"
    folder.mkdir()
    shutil.copy(ROOT / "submissions" / "reference_py.py", folder / "reference.py")
    for name in EXPECTED:
        shutil.copy(FOLDER / f"{name}.py", folder / f"{name}.py")
    out = work / "out"
    code = grade(
        [folder],
        prepare(
            choose(Source(assignment="fashion-mnist-polynomial-decay", budget="smoke")),
            sandbox=resolve(no_sandbox=False),
            subset=2000,
        ),
        BatchOptions(out=out, jobs=1, progress="plain", echo=lambda _: None),
    )
    assert code == 0
    return {
        path.parent.name: json.loads(path.read_text(encoding="utf-8"))
        for path in out.glob("*/result.json")
    }


def _checks(result: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in result["checks"]}


def test_every_solution_is_trained_by_the_grader(results: dict[str, dict]) -> None:
    assert set(results) == {"reference", *EXPECTED}
    assert {r["training"] for r in results.values()} == {"grader"}


def test_equivalent_solutions_share_the_references_search_and_grade(
    results: dict[str, dict],
) -> None:
    reference = results["reference"]
    assert reference["test_accuracy"] is not None
    trained = [n for n, r in results.items() if "search_shared" not in r["timings"]]
    # The first of the equivalent four (in the batch's order) trained; the near miss too.
    assert len(trained) == 2 and "near_decay_steps_100" in trained
    for name, expected in EXPECTED.items():
        if not expected["equivalent"]:
            continue
        result = results[name]
        assert result["test_accuracy"] == reference["test_accuracy"], name
        assert result["trials"] == reference["trials"], name
        assert result["score"] == reference["score"], name
        assert _checks(result) == _checks(reference), name


def test_the_near_miss_loses_its_point_and_trains_its_own_search(
    results: dict[str, dict],
) -> None:
    near = results["near_decay_steps_100"]
    failed = {k for k, v in _checks(near).items() if v == "failed"}
    assert failed == set(EXPECTED["near_decay_steps_100"]["fail"])
    assert near["trials"] != results["reference"]["trials"]
