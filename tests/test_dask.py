"""The Dask path on a LocalCluster gives the same results as grading locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import report
from grader.batch import grade
from grader.errors import ExitCode

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = {
    "assignment": "fashion-mnist-polynomial-decay",
    "budget": "smoke",
    "subset": 2000,
    "progress": "plain",
}


@pytest.mark.slow
def test_dask_local_cluster_matches_local_grading(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("reference_py.py", "syntax_error.ipynb"):
        (folder / name).write_bytes((ROOT / "submissions" / name).read_bytes())
    cache = tmp_path / "cache"
    local_lines: list[str] = []
    local = grade(
        paths=[folder], out=tmp_path / "local", cache_dir=cache, jobs=1,
        echo=local_lines.append, **OPTIONS,
    )  # fmt: skip
    with distributed.LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        lines: list[str] = []
        remote = grade(
            paths=[folder], out=tmp_path / "dask", cache_dir=cache, jobs=1,
            scheduler=cluster.scheduler_address, echo=lines.append, **OPTIONS,
        )  # fmt: skip
    assert local == remote == ExitCode.NOT_ALL_GRADED
    # The terminal speaks the spec's language (Spanish) when --lang is not given.
    assert "con el planificador de Dask tcp://" in lines[0]
    for sid in ("reference_py", "syntax_error"):
        a = report.read_result(tmp_path / "local" / sid / "result.json")
        b = report.read_result(tmp_path / "dask" / sid / "result.json")
        assert (a.status, a.score, a.test_accuracy) == (b.status, b.score, b.test_accuracy)
        assert [t.val_accuracy for t in a.trials] == [t.val_accuracy for t in b.trials]
        assert b.source_path == str(folder / f"{sid}.{'py' if sid.endswith('py') else 'ipynb'}")
    assert (tmp_path / "dask" / "grades.csv").read_text() == (
        tmp_path / "local" / "grades.csv"
    ).read_text()
