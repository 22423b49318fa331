"""Gradescope: results.json against the documented schema, autograder.zip, the container run."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest
from mnist_helpers import accepting, write_synthetic_mnist

from grader import autograder, data, datasets, gradescope
from grader.errors import DataError
from grader.results import Assessment, CheckResult, CheckStatus, GradeResult, Location, Status
from grader.settings import Source

ROOT = Path(__file__).resolve().parent.parent


def _graded() -> GradeResult:
    return GradeResult(
        id="ana", sha256="f" * 64, assignment="a", budget="smoke", status=Status.GRADED,
        score=2.5, max_score=3.0, test_accuracy=0.8123, timings={"total": 12.34},
        checks=(
            CheckResult("schedule", "PolynomialDecay schedule", CheckStatus.PASSED, 2.0, 2.0, ""),
            CheckResult("optimizer", "SGD", CheckStatus.FAILED, 0.0, 0.5, "Adam used",
                        location=Location(cell=7, line=3)),
            CheckResult("accuracy", "Test accuracy", CheckStatus.SKIPPED, 0.5, 0.5, "subset",
                        hidden=True),
        ),
    )  # fmt: skip


def test_results_json_follows_gradescopes_schema() -> None:
    data = gradescope.to_results(_graded(), lang="en")
    gradescope.validate(data)
    assert data["score"] == 2.5 and data["execution_time"] == 12.3
    assert "81.23 %" in data["output"]
    tests = {t["tags"][0]: t for t in data["tests"]}
    assert tests["schedule"] == {
        "name": "PolynomialDecay schedule", "score": 2.0, "max_score": 2.0, "status": "passed",
        "output": "", "tags": ["schedule"], "visibility": "visible",
    }  # fmt: skip
    assert tests["optimizer"]["status"] == "failed"
    assert tests["optimizer"]["output"] == "Adam used (cell 7, line 3)"
    assert tests["accuracy"]["visibility"] == "after_published"  # hidden check


def test_an_ungraded_submission_still_has_a_valid_results_json() -> None:
    result = GradeResult.without_results(
        Assessment("a", "smoke", 10.0),
        id="x",
        sha256="",
        status=Status.TIMEOUT,
        message="stopped at 240 s",
    )
    data = gradescope.to_results(result, lang="es")
    gradescope.validate(data)
    assert data["score"] == 0.0 and data["tests"] == []
    assert "Tiempo agotado" in data["output"] and "240 s" in data["output"]


@pytest.mark.parametrize(
    "broken",
    [
        {"tests": [{"name": "t", "score": 1, "visibility": "students"}]},  # unknown visibility
        {"score": 1, "tests": [{"score": 1, "status": "ok"}]},  # unknown status
        {"score": "10"},  # score must be a number
        {"tests": [{"name": "no score anywhere"}]},
        {"score": 1, "sorce": 2},  # misspelt key Gradescope would ignore
    ],
)
def test_the_schema_rejects_what_gradescope_does_not_document(broken: dict) -> None:
    with pytest.raises(gradescope.GradescopeSchemaError):
        gradescope.validate(broken)


def test_autograder_zip_contents(tmp_path: Path) -> None:
    path = autograder.build_package(
        tmp_path / "autograder.zip", Source("fashion-mnist-polynomial-decay", "smoke", "en")
    )
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        infos = {info.filename: info for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
    for script in ("setup.sh", "run_autograder"):  # at the root, executable
        assert stat.S_IMODE(infos[script].external_attr >> 16) == 0o755
        assert infos[script].external_attr >> 16 & stat.S_IFREG
    assert setup.startswith("#!/usr/bin/env bash") and run.startswith("#!/usr/bin/env bash")
    assert "python3.11 -m venv" in setup and "-c constraints.txt -e ." in setup
    assert "bubblewrap" in setup and "dataset-fashion-mnist" in setup
    assert "-m grader.autograder --submission /autograder/submission" in run
    assert "--results /autograder/results/results.json" in run
    assert "--budget smoke" in run and "--lang en" in run and "--no-sandbox" not in run
    assert {"pyproject.toml", "constraints.txt", "README.md"} <= names
    assert {
        "grader/batch.py",
        "grader/autograder.py",
        "grader/schema/gradescope.schema.json",
    } <= names
    assert {"templates/report.html.j2", "templates/summary.html.j2"} <= names
    spec = "assignments/fashion-mnist-polynomial-decay/"
    assert {spec + "assignment.toml", spec + "reference.ipynb"} <= names
    assert not any("__pycache__" in n or n.startswith("data/") for n in names)


def test_autograder_zip_can_carry_the_dataset(tmp_path: Path) -> None:
    path = autograder.build_package(
        tmp_path / "a.zip",
        Source("fashion-mnist-polynomial-decay"),
        include_data=True,
        no_sandbox=True,
    )
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        run = archive.read("run_autograder").decode()
        setup = archive.read("setup.sh").decode()
    assert {f"data/{name}" for name in data.FILE_NAMES} <= names
    assert "--data-dir data" in run and "--no-sandbox" in run
    assert "dataset-fashion-mnist" not in setup


def test_autograder_zip_of_another_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MNIST has no Debian package: setup.sh installs none, and --include-data ships its npz."""
    mnist = "mnist-polynomial-decay"
    path = autograder.build_package(tmp_path / "m.zip", Source(mnist))
    with zipfile.ZipFile(path) as archive:
        setup = archive.read("setup.sh").decode()
        assert f"assignments/{mnist}/assignment.toml" in archive.namelist()
    assert "dataset-fashion-mnist" not in setup
    npz = write_synthetic_mnist(tmp_path / "d" / "mnist.npz", train=20, test=5)
    with pytest.raises(DataError, match="not the original MNIST file"):  # the real hash
        autograder.build_package(
            tmp_path / "bad.zip", Source(mnist, data_dir=npz.parent), include_data=True
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "m.zip"]  # nothing half-written
    monkeypatch.setitem(datasets.REGISTRY, "mnist", accepting(npz))
    path = autograder.build_package(
        tmp_path / "a.zip", Source(mnist, data_dir=npz.parent), include_data=True
    )
    with zipfile.ZipFile(path) as archive:
        shipped = [n for n in archive.namelist() if n.startswith("data/")]
        assert shipped == ["data/mnist.npz"]
        assert archive.read("data/mnist.npz") == npz.read_bytes()
        assert "--data-dir data" in archive.read("run_autograder").decode()


@pytest.mark.slow
def test_the_container_entry_point_writes_results_json(tmp_path: Path) -> None:
    """What run_autograder does, on a folder laid out as /autograder/submission."""
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "exam.ipynb").write_bytes((ROOT / "submissions" / "adam.ipynb").read_bytes())
    results = tmp_path / "results" / "results.json"
    argv = ["--submission", str(submission), "--results", str(results)]
    argv += ["--assignment", "fashion-mnist-polynomial-decay"]
    assert autograder.main([*argv, "--budget", "smoke", "--lang", "en", "--subset", "2000"]) == 0
    written = json.loads(results.read_text(encoding="utf-8"))
    gradescope.validate(written)
    tests = {t["tags"][0]: t for t in written["tests"]}
    assert tests["optimizer"]["status"] == "failed" and "Adam" in tests["optimizer"]["output"]
    assert written["score"] == sum(t["score"] for t in written["tests"])

    # Two notebooks: the folder is rejected, and Gradescope still gets a results.json.
    (submission / "copy.ipynb").write_bytes((submission / "exam.ipynb").read_bytes())
    assert autograder.main([*argv, "--budget", "smoke", "--subset", "2000"]) == 0
    written = json.loads(results.read_text(encoding="utf-8"))
    gradescope.validate(written)
    assert written["score"] == 0 and "copy.ipynb" in written["output"]
