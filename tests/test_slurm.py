"""`grade --cluster slurm` on a real one-node SLURM (tests/slurm_helpers.py), and its plan.

The batch through SLURM jobs gives the local run's results to the digit; a job killed by
`scancel` mid-batch costs nothing (its submission is graded once, on a new job); a job the
cluster refuses stops the batch with SLURM's own words; every job is released at the end
and on Ctrl-C. The plan's arithmetic and the `[cluster]` table are checked without SLURM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from slurm_helpers import Slurm, slurm_fixture  # noqa: F401 - the `slurm` fixture

from grader import cli, cluster, report
from grader import spec as spec_module
from grader.batch import BatchOptions, grade
from grader.cli import grade as grade_cli
from grader.errors import ExitCode, UsageError
from grader.limits import Limits
from grader.sandbox import resolve
from grader.settings import RunSettings, Source, choose, prepare

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
# What the tests grade with, as `grade`'s options (the CLI test passes them as flags).
OPTIONS = {
    "assignment": "fashion-mnist-polynomial-decay",
    "budget": "smoke",
    "subset": 500,
    "progress": "plain",
    "lang": "en",
}
# The reference and two examples that train: one graded full marks, two with lost points.
CLASS = ("reference_py.py", "exponential_decay.ipynb", "adam.ipynb")


def _settings(cache: Path) -> RunSettings:
    """OPTIONS' assignment, budget, language and subset, the data cached in `cache`."""
    source = Source(OPTIONS["assignment"], OPTIONS["budget"], OPTIONS["lang"], cache_dir=cache)
    return prepare(choose(source), sandbox=resolve(no_sandbox=False), subset=OPTIONS["subset"])


def _class(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in CLASS:
        (folder / name).write_bytes((SUBMISSIONS / name).read_bytes())
    return folder


def _ids() -> list[str]:
    return [Path(name).stem for name in CLASS]


def _fitting(tmp_path: Path, slurm: Slurm) -> tuple[Path | None, int]:
    """A course file only if the node has less memory than a job asks for (a small CI
    machine: SLURM would refuse the job), and the memory each job then asks for."""
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    wanted = cluster.job_memory_mb(spec.limits)
    if slurm.memory_mb >= wanted:
        return None, wanted
    return _course_file(tmp_path, memory_mb=slurm.memory_mb), slurm.memory_mb


def _course_file(tmp_path: Path, **table: object) -> Path:
    lines = ["[cluster]"]
    for key, value in table.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    path = tmp_path / "grade.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the plan, without SLURM -----------------------------------------------------------


def test_a_job_asks_for_the_child_the_trainer_and_the_worker_and_the_worst_case_time() -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    exam = spec.budget("exam")
    limits = Limits(memory_mb=4096, eval_memory_mb=3072, eval_seconds=120)
    jobs = cluster.plan(cluster.ClusterConfig(max_jobs=20), exam, limits, 120)
    assert (jobs.jobs, jobs.per_job, jobs.cores) == (20, 6, 2)
    # The trainer's limit is the larger of its own and the child's.
    assert jobs.memory_mb == 4096 + 4096 + cluster.WORKER_OVERHEAD_MB
    hard = exam.submission_seconds + exam.kill_grace_seconds
    assert jobs.walltime_seconds == cluster.START_SECONDS + 6 * (hard + 120)
    assert jobs.walltime == cluster.hms(jobs.walltime_seconds)
    assert jobs.expected_seconds is None  # no measured time given: no estimate invented


def test_the_plan_prices_the_batch_from_the_calibrations_measured_time() -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    config = cluster.ClusterConfig(max_jobs=20, queue="gpu", account="dl101")
    jobs = cluster.plan(
        config, spec.budget("exam"), spec.limits, 120, seconds_per_grade=(1800.0, "measured")
    )
    assert jobs.expected_seconds == 6 * 1800.0
    assert jobs.core_hours == pytest.approx(120 * 2 * 1800 / 3600)
    text = jobs.describe()
    assert "queue gpu, account dl101" in text
    assert "6 x 1800 s = 3 h 0 min (measured)" in text
    assert "120.0 core-hours grading" in text


def test_the_course_file_overrides_and_names_a_bad_key(tmp_path: Path) -> None:
    good = _course_file(
        tmp_path, queue="short", max_jobs=4, walltime="01:30:00", directives=["--qos=exam"]
    )
    config = cluster.read_config("slurm", good)
    assert (config.queue, config.max_jobs, config.directives) == ("short", 4, ("--qos=exam",))
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    assert cluster.plan(config, spec.budget("smoke"), spec.limits, 9).walltime == "01:30:00"
    bad = _course_file(tmp_path, partition="short")
    with pytest.raises(UsageError, match=r"unknown key cluster\.partition"):
        cluster.read_config("slurm", bad)
    bad = _course_file(tmp_path, walltime="90 min")
    with pytest.raises(UsageError, match=r"cluster\.walltime must be HH:MM:SS"):
        cluster.read_config("slurm", bad)


def test_dry_run_prints_the_exam_plan_and_grades_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "reports"
    code = cli.main(
        [str(SUBMISSIONS), "--assignment", "fashion-mnist-polynomial-decay", "--budget", "exam",
         "--cluster", "slurm", "--dry-run", "--out", str(out),
         "--cluster-config", str(_course_file(tmp_path, max_jobs=20))]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "SLURM: 8 submission(s) to grade in at most 8 job(s) at once" in text
    assert "expected wall time once the jobs run: 1 x " in text
    assert "core-hours grading" in text
    assert not (out / "grades.csv").exists()


def test_the_job_script_asks_slurm_for_the_plan_and_runs_this_grader(tmp_path: Path) -> None:
    # dask-jobqueue writes the script from cluster_options; nothing is submitted here.
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    config = cluster.ClusterConfig(queue="short", account="dl101", directives=("--qos=exam",))
    jobs = cluster.plan(config, spec.budget("default"), spec.limits, 7)
    dask_jobqueue = cluster._import_jobqueue()
    with dask_jobqueue.SLURMCluster(**cluster.cluster_options(jobs, tmp_path)) as built:
        script = built.job_script()
    for line in (
        "#SBATCH -p short", "#SBATCH -A dl101", "#SBATCH --cpus-per-task=2",
        f"#SBATCH --mem={jobs.memory_mb}M", f"#SBATCH -t {jobs.walltime}",
        "#SBATCH --qos=exam", f"export PYTHONPATH={ROOT}",
        f"{sys.executable} -m distributed.cli.dask_worker",
    ):  # fmt: skip
        assert line in script, (line, script)
    assert "--nthreads 1" in script  # one submission at a time per job
    # Importing dask-jobqueue did not take Ctrl-C away (its runner sets a silent exit).
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_command_offers_every_kind_the_runner_knows() -> None:
    # grader/cli/grade.py keeps its own list so that --help imports no Dask.
    option = next(a for a in grade_cli.build_parser()._actions if a.dest == "cluster")
    assert tuple(option.choices) == tuple(cluster.KINDS)


def test_dry_run_without_cluster_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert cli.main([str(SUBMISSIONS), "--dry-run"]) == ExitCode.USAGE
    assert "--dry-run plans a --cluster batch" in capsys.readouterr().err


# --- a real SLURM ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_batch_through_slurm_jobs_equals_the_local_run(tmp_path: Path, slurm: Slurm) -> None:
    folder, cache = _class(tmp_path), tmp_path / "cache"
    local = grade(
        [folder],
        _settings(cache),
        BatchOptions(out=tmp_path / "local", jobs=1, progress="plain"),
    )
    lines: list[str] = []
    course, memory = _fitting(tmp_path, slurm)
    started = time.monotonic()
    remote = grade(
        [folder],
        _settings(cache),
        BatchOptions(
            out=tmp_path / "slurm",
            cluster="slurm",
            cluster_config=course,
            echo=lines.append,
            progress="plain",
        ),
    )
    print(f"SLURM batch of {len(CLASS)}: {time.monotonic() - started:.1f} s")
    assert local == remote == ExitCode.OK
    # The command says what it asked for.
    assert f"on SLURM jobs (at most 3, each 2 cores, {memory} MB, walltime 0:" in lines[0]
    for sid in _ids():
        a = report.read_result(tmp_path / "local" / sid / "result.json")
        b = report.read_result(tmp_path / "slurm" / sid / "result.json")
        assert (a.status, a.score, a.test_accuracy, a.test_loss) == (
            b.status, b.score, b.test_accuracy, b.test_loss,
        )  # fmt: skip
        assert [t.val_accuracy for t in a.trials] == [t.val_accuracy for t in b.trials]
        assert [(c.id, c.status, c.points) for c in a.checks] == [
            (c.id, c.status, c.points) for c in b.checks
        ]
    assert (tmp_path / "slurm" / "grades.csv").read_text() == (
        tmp_path / "local" / "grades.csv"
    ).read_text()
    # The workers ran as SLURM jobs (their logs) and every job was released.
    assert list((tmp_path / "slurm" / "cluster-logs").glob("dask-worker-*.err"))
    assert slurm.jobs() == []


@pytest.mark.slow
def test_a_job_killed_mid_batch_costs_nothing(tmp_path: Path, slurm: Slurm) -> None:
    folder, out = _class(tmp_path), tmp_path / "slurm"
    killed: list[str] = []

    def kill_once_one_is_graded() -> None:
        # scancel, as the cluster's scheduler would end a job: the running one, once the
        # first submission's result is written and the next one is being graded.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            running = slurm.jobs("R")
            if running and any((out / sid / "result.json").exists() for sid in _ids()):
                slurm.run("scancel", running[0])
                killed.append(running[0])
                return
            time.sleep(0.5)

    killer = threading.Thread(target=kill_once_one_is_graded, daemon=True)
    killer.start()
    lines: list[str] = []
    code = grade(
        [folder],
        _settings(tmp_path / "cache"),
        BatchOptions(
            out=out,
            cluster="slurm",
            cluster_config=_fitting(tmp_path, slurm)[0],
            echo=lines.append,
            progress="plain",
        ),
    )
    killer.join(timeout=5)
    assert killed, "no job was running once a result was written"
    assert code == ExitCode.OK
    finished = [line for line in lines if line.startswith("[") and "/3] " in line]
    assert sorted(line.split("] ")[1].split(":")[0] for line in finished) == sorted(_ids())
    for sid in _ids():
        assert report.read_result(out / sid / "result.json").status.value == "graded"
    # The killed job's submission went to a job submitted after it.
    logs = {p.stem.rsplit("-", 1)[1] for p in (out / "cluster-logs").glob("*.err")}
    assert any(int(job) > int(killed[0]) for job in logs)
    assert slurm.jobs() == []


@pytest.mark.slow
def test_a_job_refused_mid_batch_costs_only_the_submissions_left(
    tmp_path: Path, slurm: Slurm
) -> None:
    # One job at a time; once the first result is in, the partition stops accepting jobs
    # and the running job is killed: the job dask-jobqueue submits in its place is refused.
    folder, out = _class(tmp_path), tmp_path / "slurm"
    course = _course_file(
        tmp_path, max_jobs=1, memory_mb=min(slurm.memory_mb, cluster.job_memory_mb(Limits()))
    )
    stopped = threading.Event()

    def refuse_once_one_is_graded() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            running = slurm.jobs("R")
            if running and any((out / sid / "result.json").exists() for sid in _ids()):
                slurm.run("scontrol", "update", "PartitionName=batch", "State=INACTIVE")
                slurm.run("scancel", running[0])
                stopped.set()
                return
            time.sleep(0.5)

    killer = threading.Thread(target=refuse_once_one_is_graded, daemon=True)
    killer.start()
    try:
        code = grade(
            [folder],
            _settings(tmp_path / "cache"),
            BatchOptions(
                out=out,
                cluster="slurm",
                cluster_config=course,
                echo=lambda _: None,
                progress="plain",
            ),
        )
    finally:
        killer.join(timeout=5)
        slurm.run("scontrol", "update", "PartitionName=batch", "State=UP")
    assert stopped.is_set()
    assert code == ExitCode.NOT_ALL_GRADED
    statuses = {sid: report.read_result(out / sid / "result.json") for sid in _ids()}
    graded = [sid for sid, r in statuses.items() if r.status.value == "graded"]
    refused = [sid for sid, r in statuses.items() if r.status.value == "error"]
    assert graded and refused and len(graded) + len(refused) == len(CLASS)
    for sid in refused:
        assert "SLURM refused a job" in statuses[sid].message
    assert slurm.jobs() == []
    # The refused ones were not stored: the next run grades just them.
    lines: list[str] = []
    again = grade(
        [folder],
        _settings(tmp_path / "cache"),
        BatchOptions(
            out=out, cluster="slurm", cluster_config=course, echo=lines.append, progress="plain"
        ),
    )
    messages = [report.read_result(out / sid / "result.json").message for sid in refused]
    assert again == ExitCode.OK, (lines, messages)
    assert any(f"reused {len(graded)} stored result(s)" in line for line in lines)
    assert any(f"grading {len(refused)}" in line for line in lines)


def test_a_refused_job_names_slurms_cause_and_grades_nothing(tmp_path: Path, slurm: Slurm) -> None:
    folder = _class(tmp_path)
    for table, cause in (
        ({"queue": "nosuch"}, "Invalid partition name specified"),
        # The `tiny` partition's MaxTime is 1 min: the smoke budget's walltime is over it.
        ({"queue": "tiny"}, "Requested time limit is invalid"),
    ):
        out = tmp_path / f"out-{table['queue']}"
        with pytest.raises(cluster.ClusterError, match=cause) as caught:
            grade(
                [folder],
                _settings(tmp_path / "cache"),
                BatchOptions(
                    out=out,
                    cluster="slurm",
                    cluster_config=_course_file(tmp_path, **table),
                    echo=lambda _: None,
                    progress="plain",
                ),
            )
        assert caught.value.exit_code == ExitCode.USAGE
        assert "SLURM refused a job" in caught.value.message
        assert not any((out / sid / "result.json").exists() for sid in _ids())
        assert slurm.jobs() == []


@pytest.mark.slow
def test_ctrl_c_releases_the_jobs_and_exits_130(tmp_path: Path, slurm: Slurm) -> None:
    # The `grade` command itself, interrupted as an instructor would: SIGINT once the first
    # result is in and the other submissions are out on SLURM jobs.
    course, _ = _fitting(tmp_path, slurm)
    command = [
        sys.executable, "-m", "grader", str(_class(tmp_path)), "--out", str(tmp_path / "out"),
        "--cache-dir", str(tmp_path / "cache"), "--cluster", "slurm",
        *(["--cluster-config", str(course)] if course else []),
        *(f"--{key}={value}" for key, value in OPTIONS.items()),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    grading = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert grading.stdout is not None
    for line in grading.stdout:
        if line.startswith("[1/3]"):
            assert slurm.jobs(), "no job was out when interrupted"
            grading.send_signal(signal.SIGINT)
            break
    _, err = grading.communicate(timeout=120)
    assert grading.returncode == ExitCode.INTERRUPTED, err
    assert "interrupted" in err
    assert slurm.jobs() == []
