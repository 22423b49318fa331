"""The Dask path on a LocalCluster gives the same results as grading locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import report
from grader.batch import BatchOptions, grade
from grader.errors import ExitCode
from grader.sandbox import resolve
from grader.settings import RunSettings, Source, choose, prepare

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent


def _settings(cache: Path) -> RunSettings:
    """The exam under the smoke budget on 2000 images, its data cached in `cache`."""
    source = Source("fashion-mnist-polynomial-decay", "smoke", cache_dir=cache)
    return prepare(choose(source), sandbox=resolve(no_sandbox=False), subset=2000)


@pytest.mark.slow
def test_dask_local_cluster_matches_local_grading(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("reference_py.py", "syntax_error.ipynb"):
        (folder / name).write_bytes((ROOT / "submissions" / name).read_bytes())
    cache = tmp_path / "cache"
    local_lines: list[str] = []
    local = grade(
        [folder],
        _settings(cache),
        BatchOptions(out=tmp_path / "local", jobs=1, echo=local_lines.append, progress="plain"),
    )
    with distributed.LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        lines: list[str] = []
        remote = grade(
            [folder],
            _settings(cache),
            BatchOptions(
                out=tmp_path / "dask",
                jobs=1,
                scheduler=cluster.scheduler_address,
                echo=lines.append,
                progress="plain",
            ),
        )
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
