"""grader.executor: the default number of jobs, and a local pool that survives a dead worker."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import pytest
from executor_helpers import fake_task

from grader import data, executor
from grader import spec as spec_module
from grader.discover import SubmissionRef
from grader.errors import UsageError
from grader.results import Status
from grader.sandbox import Sandbox
from grader.settings import RunSettings

GIB = 1024**3


def _settings(tmp_path: Path) -> RunSettings:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    return RunSettings(
        spec=spec,
        budget=spec.budget("smoke"),
        cache=tmp_path / "cache",
        lang="en",
        threads=1,
        sandbox=Sandbox(None),
    )


def test_default_jobs_follow_cores_and_memory() -> None:
    assert executor.plan(None, cores=2, memory=16 * GIB) == executor.Plan(
        1, 2, "2 cores, 16.0 GiB available"
    )
    assert executor.plan(None, cores=16, memory=64 * GIB).jobs == 8
    many_cores_little_memory = executor.plan(None, cores=16, memory=5 * GIB)
    assert many_cores_little_memory.jobs == 5 * GIB // executor.JOB_MEMORY_BYTES
    assert many_cores_little_memory.threads == 16 // many_cores_little_memory.jobs
    assert executor.plan(None, cores=1, memory=None).jobs == 1


def test_explicit_jobs_share_the_cores() -> None:
    assert executor.plan(2, cores=2, memory=GIB) == executor.Plan(2, 1, "as asked")
    assert executor.plan(3, cores=8, memory=GIB).threads == 2
    with pytest.raises(UsageError, match="--jobs"):
        executor.plan(0, cores=2)


def test_settings_with_the_spec_survive_pickling(tmp_path: Path) -> None:
    """Tasks carry the spec by value; its read-only tables must pickle."""
    settings = _settings(tmp_path)
    again = pickle.loads(pickle.dumps(settings))
    assert again.spec.rubric == settings.spec.rubric
    assert again.spec.budgets["smoke"] == settings.budget


def test_a_dead_worker_costs_only_its_submission(tmp_path: Path) -> None:
    refs = []
    for name in ("a", "die", "b", "c", "d"):
        path = tmp_path / f"{name}.py"
        path.write_text("x = 1\n" * (len(name) + 1), encoding="utf-8")
        refs.append(SubmissionRef(name, path, "py"))
    started: list[str] = []
    pool = executor.LocalPool(
        _settings(tmp_path), 2, executor.ScratchDirs(tmp_path / "work"), task=fake_task
    )
    try:
        results = dict(pool.run(refs, lambda ref, folder: started.append(ref.id)))
    finally:
        pool.close()
    by_id = {ref.id: result for ref, result in results.items()}
    assert sorted(by_id) == ["a", "b", "c", "d", "die"]
    assert sorted(started) == sorted(by_id)
    assert by_id["die"].status is Status.ERROR
    assert "worker process" in by_id["die"].message and "died" in by_id["die"].message
    for name in ("a", "b", "c", "d"):
        assert by_id[name].status is Status.GRADED
        assert by_id[name].score == len("x = 1\n") * (len(name) + 1)
    # The work ran in worker processes, never in the grader's own; how it spread over
    # the two workers depends on timing, so only the bound is checked.
    pids = {by_id[n].timings["pid"] for n in ("a", "b", "c", "d")}
    assert os.getpid() not in pids and 1 <= len(pids) <= 3


def test_a_crash_is_told_in_the_reports_language(tmp_path: Path) -> None:
    # The crash texts were English only; a Spanish report now reads them in Spanish.
    settings = dataclasses.replace(_settings(tmp_path), lang="es")
    gone = SubmissionRef("gone", tmp_path / "gone.py", "py")  # vanished after discovery
    pool = executor.LocalPool(settings, 1, executor.ScratchDirs(tmp_path / "work"), task=fake_task)
    try:
        ((ref, result),) = list(pool.run([gone], lambda ref, folder: None))
    finally:
        pool.close()
    # Read as `load` reads it, so refused as `load` refuses it (the name, not the path).
    assert ref is gone and result.status is Status.REJECTED
    assert result.message.startswith("gone.py no se puede leer: ")


@pytest.mark.slow  # a pool grades two notebooks: 37 s, the slowest test of `-m "not slow"` here
def test_local_pool_grades_for_real(tmp_path: Path) -> None:
    """The spawn path end to end: the real task, the data found by the worker, the child."""
    root = Path(__file__).resolve().parent.parent / "submissions"
    refs = [
        SubmissionRef("nohm", root / "no_hypermodel.ipynb", "ipynb"),
        SubmissionRef("syntax", root / "syntax_error.ipynb", "ipynb"),
    ]
    cache = data.prepare(cache_dir=tmp_path / "cache")
    settings = RunSettings(
        spec=spec_module.load("fashion-mnist-polynomial-decay"),
        budget=spec_module.load("fashion-mnist-polynomial-decay").budget("smoke"),
        cache=cache,
        lang="en",
        subset=2000,
        threads=1,
    )
    pool = executor.LocalPool(settings, 2, executor.ScratchDirs(tmp_path / "work"))
    try:
        results = {ref.id: result for ref, result in pool.run(refs, lambda r, f: None)}
    finally:
        pool.close()
    assert results["syntax"].status is Status.ERROR
    assert "SyntaxError" in results["syntax"].message
    assert results["nohm"].status is Status.GRADED
    assert results["nohm"].source_path == str(root / "no_hypermodel.ipynb")
    assert {c.id for c in results["nohm"].checks if c.status.value == "failed"} == {"structure"}
