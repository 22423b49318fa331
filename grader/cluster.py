"""`grade --cluster slurm`: Dask workers started as batch jobs through dask-jobqueue.

The course's `[cluster]` table (in `grade.toml`, or `--cluster-config FILE`) says where jobs
go (queue, account, extra directives) and how many may run at once; the assignment's budget
and `[limits]` say what each job needs (`plan`). `JobQueueRunner` starts a dask-jobqueue
cluster (`SLURMCluster`, or the PBS/SGE/LSF classes through the same table, untested),
scales it adaptively up to that bound, and grades through `executor.DaskRunner`, so the
store, resume, reuse, spares, sandbox and limits work as they do locally. Jobs are released
(dask-jobqueue's `scancel`/`qdel`/`bkill`) when the batch ends, fails or is interrupted.

Nothing here writes a job script or asks the batch system for a job's state: dask-jobqueue
writes and submits the scripts, SLURM runs and kills them, and Dask notices a worker that is
gone and gives its submission to another one. What this module adds is the arithmetic of a
job's resources, the refusal of a job turned into a message naming its cause, and, while the
batch runs, asking the cluster object to bring its jobs back to what it planned (a job that
SLURM killed is submitted again by dask-jobqueue itself).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import sys
import threading
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grader
from grader import calibrate, i18n
from grader.discover import SubmissionRef
from grader.errors import FatalError, UsageError
from grader.executor import CORES_PER_JOB, DaskRunner, ScratchDirs, Started, crashed
from grader.limits import Limits
from grader.results import GradeResult
from grader.settings import RunSettings
from grader.spec import Budget

# dask-jobqueue's cluster class per batch system. Only SLURM is tested (tests/test_slurm.py,
# a real one-node SLURM); the others take the same table and are documented as untested.
KINDS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}

# Besides the child (`limits.memory_mb`) and the trainer (`max(eval_memory_mb, memory_mb)`),
# a job holds the Dask nanny and worker processes (together 0.34 GB at their peak in the
# one-node `default` batch of docs/cluster.md) and a spare child importing TensorFlow for
# the next submission (~0.6 GB, grader/limits.py): 0.94 GB, rounded up to 1.5 GB.
WORKER_OVERHEAD_MB = 1536

# Added once to each job's walltime for the worker's start before its first submission.
# On the one-node SLURM here the worker registered 2 s after its job started (the
# dataset cache already decoded); a chosen margin, not a measurement, for a real cluster's
# slower shared filesystem and a first decode of the dataset.
START_SECONDS = 300

# How often the runner asks the cluster object to match its plan while submissions are out
# (resubmitting a job that is gone, surfacing a refused one). Not a poll of the batch
# system: dask-jobqueue only calls sbatch when a planned job is missing.
CHECK_SECONDS = 10.0


class ClusterError(FatalError):
    """The batch system refused a job before anything was graded (exit code 2)."""


@dataclass(frozen=True)
class ClusterConfig:
    """The course's `[cluster]` table: where jobs go and how many at most.

    Resources left out (`cores`, `memory_mb`, `walltime`) are computed from the budget and
    `[limits]` (`plan`); given, they replace the computed ones as they are.
    """

    kind: str = "slurm"
    queue: str | None = None  # partition (SLURM -p), queue (PBS/SGE -q, LSF -q)
    account: str | None = None  # SLURM -A, PBS -A, SGE -P, LSF -P
    max_jobs: int = 10  # jobs at once, each one Dask worker grading one submission at a time
    cores: int = CORES_PER_JOB  # cores per job; the child trains with as many threads
    memory_mb: int | None = None
    walltime: str | None = None  # HH:MM:SS
    directives: tuple[str, ...] = ()  # extra lines for the job's header, e.g. "--qos=short"
    prologue: tuple[str, ...] = ()  # shell lines before the worker starts (module load ...)
    python: str | None = None  # the workers' Python; default: this one (same venv)
    interface: str | None = None  # network interface the workers reach the scheduler on
    log_directory: str | None = None  # the jobs' stdout/stderr; default <out>/cluster-logs

    @property
    def label(self) -> str:
        return self.kind.upper()


_KEYS = {
    "queue": str,
    "account": str,
    "max_jobs": int,
    "cores": int,
    "memory_mb": int,
    "walltime": str,
    "directives": list,
    "prologue": list,
    "python": str,
    "interface": str,
    "log_directory": str,
}

COURSE_FILE = "grade.toml"  # the course-level file, looked up in the current folder


def read_config(kind: str, path: Path | None = None) -> ClusterConfig:
    """The `[cluster]` table of `path` (or ./grade.toml when it exists) for `kind`.

    Every problem is a `UsageError` naming the file and the dotted key.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown --cluster {kind!r}", hint=f"one of {', '.join(sorted(KINDS))}")
    if path is None:
        path = Path(COURSE_FILE) if Path(COURSE_FILE).is_file() else None
    if path is None:
        return ClusterConfig(kind=kind)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("cluster", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the course file {path}: {exc}") from exc
    if not isinstance(table, dict):
        raise UsageError(f"{path}: cluster must be a table ([cluster])")
    values: dict[str, Any] = {"kind": kind}
    for key, value in table.items():
        want = _KEYS.get(key)
        if want is None:
            raise UsageError(
                f"{path}: unknown key cluster.{key}", hint=f"known: {', '.join(sorted(_KEYS))}"
            )
        if want is int and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise UsageError(f"{path}: cluster.{key} must be a positive integer, not {value!r}")
        if want is str and not isinstance(value, str):
            raise UsageError(f"{path}: cluster.{key} must be a string, not {value!r}")
        if want is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise UsageError(f"{path}: cluster.{key} must be a list of strings")
            value = tuple(value)
        values[key] = value
    if "walltime" in values and not re.fullmatch(r"\d+:[0-5]\d:[0-5]\d", values["walltime"]):
        raise UsageError(f"{path}: cluster.walltime must be HH:MM:SS, not {values['walltime']!r}")
    return ClusterConfig(**values)


@dataclass(frozen=True)
class JobPlan:
    """What the batch asks the batch system for, and what it should cost."""

    config: ClusterConfig
    submissions: int  # to grade (not counting stored results)
    jobs: int  # at most at once
    per_job: int  # submissions one job takes if all jobs run side by side
    cores: int
    memory_mb: int
    walltime_seconds: int
    # The reference's measured seconds per grade under this budget (its calibration), and
    # where that figure comes from; None when there is no calibration to read it from.
    seconds_per_grade: float | None = None
    basis: str = ""
    memory_basis: str = field(default="", compare=False)
    walltime_basis: str = field(default="", compare=False)

    @property
    def walltime(self) -> str:
        if self.config.walltime:
            return self.config.walltime
        return hms(self.walltime_seconds)

    @property
    def expected_seconds(self) -> float | None:
        """Wall time of the batch once the jobs run: rounds of `jobs` grades at once."""
        if self.seconds_per_grade is None:
            return None
        return self.per_job * self.seconds_per_grade

    @property
    def core_hours(self) -> float | None:
        """Cores held while grading: each submission holds a job's cores for one grade."""
        if self.seconds_per_grade is None:
            return None
        return self.submissions * self.cores * self.seconds_per_grade / 3600

    @property
    def booked_core_hours(self) -> float:
        """The most the batch can be charged: every job for its whole walltime."""
        return self.jobs * self.cores * walltime_seconds(self.walltime) / 3600

    def describe(self) -> str:
        """The lines `grade --cluster ... --dry-run` prints (instructor-facing, English)."""
        lines = [
            f"{self.config.label}: {self.submissions} submission(s) to grade in at most "
            f"{self.jobs} job(s) at once, about {self.per_job} each",
            f"  each job: {self.cores} cores, {self.memory_mb} MB ({self.memory_basis}), "
            f"walltime {self.walltime} ({self.walltime_basis})",
        ]
        where = [f"queue {self.config.queue}"] if self.config.queue else []
        where += [f"account {self.config.account}"] if self.config.account else []
        where += [f"directives {' '.join(self.config.directives)}"] * bool(self.config.directives)
        if where:
            lines.append("  " + ", ".join(where))
        expected = self.expected_seconds
        if expected is None:
            lines.append("  expected wall time: unknown (no calibration under this budget)")
        else:
            lines.append(
                f"  expected wall time once the jobs run: {self.per_job} x "
                f"{self.seconds_per_grade:.0f} s = {calibrate.duration(expected)} "
                f"({self.basis})"
            )
            lines.append(
                f"  cost: {self.core_hours:.1f} core-hours grading "
                f"({self.submissions} x {self.cores} cores x {self.seconds_per_grade:.0f} s); "
                f"at most {self.booked_core_hours:.1f} booked ({self.jobs} jobs x "
                f"{self.cores} cores x {self.walltime})"
            )
        return "\n".join(lines)


def hms(seconds: float) -> str:
    seconds = math.ceil(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def walltime_seconds(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def job_memory_mb(limits: Limits) -> int:
    """The child's limit, the trainer's, and the worker's own process with a spare child."""
    return limits.memory_mb + max(limits.eval_memory_mb, limits.memory_mb) + WORKER_OVERHEAD_MB


def plan(
    config: ClusterConfig,
    budget: Budget,
    limits: Limits,
    submissions: int,
    *,
    seconds_per_grade: tuple[float, str] | None = None,
) -> JobPlan:
    """Jobs and their resources for `submissions` grades under `budget` and `limits`.

    A job's walltime covers the submissions it will take, each at its worst: the child's
    hard wall-clock limit (the budget plus its grace) and the evaluation's limit, plus the
    worker's start once. A job that gets more (another was late) is cut by SLURM at its
    walltime and its submission goes to another job, graded once: nothing is lost.
    """
    jobs = max(1, min(config.max_jobs, submissions))
    per_job = math.ceil(submissions / jobs) if submissions else 0
    each = budget.hard_seconds + limits.eval_seconds
    walltime = START_SECONDS + max(1, per_job) * each
    memory = config.memory_mb or job_memory_mb(limits)
    if config.memory_mb:
        memory_basis = "cluster.memory_mb"
    else:
        trainer = max(limits.eval_memory_mb, limits.memory_mb)
        memory_basis = f"child {limits.memory_mb} + trainer {trainer} + worker {WORKER_OVERHEAD_MB}"
    if config.walltime:
        walltime_basis = "cluster.walltime"
    else:
        walltime_basis = (
            f"{max(1, per_job)} x (hard limit {budget.hard_seconds:.0f} s + evaluation "
            f"{limits.eval_seconds} s) + start {START_SECONDS} s"
        )
    measured, basis = seconds_per_grade if seconds_per_grade else (None, "")
    return JobPlan(
        config=config,
        submissions=submissions,
        jobs=jobs,
        per_job=per_job,
        cores=config.cores,
        memory_mb=memory,
        walltime_seconds=math.ceil(walltime),
        seconds_per_grade=measured,
        basis=basis,
        memory_basis=memory_basis,
        walltime_basis=walltime_basis,
    )


def measured_seconds(settings: RunSettings) -> tuple[float, str] | None:
    """The reference's mean seconds per grade under the budget, from its calibration.

    This machine's own calibration if there is one, else another machine's (its CPU is
    named), else a stale one (said so): a time, unlike an accuracy, is still a fair
    estimate after a library upgrade. None when the budget was never calibrated.
    """
    path, found = calibrate.locate(settings)
    how = "this machine"
    if found is None:
        found = calibrate.borrowed(settings)
        how = f"measured on {found.measured_on}" if found else how
    if found is None:
        path = calibrate.path_for(settings.spec, settings.budget, settings.subset)
        found = calibrate.load(path)
        how = "stale"
    if found is None or not found.runs:
        return None
    seconds = sum(run.seconds for run in found.runs) / len(found.runs)
    return seconds, f"the reference's calibration {path.name}: {len(found.runs)} run(s), {how}"


def _worker_environment() -> list[str]:
    """Shell lines that give a job's worker this process's grader and settings.

    The worker imports `grader` from the folder this process imported it from (an editable
    install elsewhere must not win), and sees the same cache and language folders.
    """
    package_root = str(Path(grader.__file__).resolve().parent.parent)
    paths = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    lines = [f"export PYTHONPATH={shlex.quote(os.pathsep.join(dict.fromkeys(paths)))}"]
    for name in ("GRADER_CACHE", "GRADER_LANG_DIR", "FASHION_MNIST_DIR", "TF_CPP_MIN_LOG_LEVEL"):
        if name in os.environ:
            lines.append(f"export {name}={shlex.quote(os.environ[name])}")
    return lines


def cluster_options(jobs: JobPlan, out: Path) -> dict[str, Any]:
    """dask-jobqueue's keyword arguments for `jobs` (the cluster class is `KINDS[kind]`)."""
    config = jobs.config
    options: dict[str, Any] = {
        "queue": config.queue,
        "account": config.account,
        # One Dask thread: a worker grades one submission at a time; its child trains
        # with the job's cores (RunSettings.threads).
        "cores": 1,
        "processes": 1,
        "memory": f"{jobs.memory_mb}MiB",
        "walltime": jobs.walltime,
        "job_extra_directives": list(config.directives),
        "job_script_prologue": [*_worker_environment(), *config.prologue],
        "python": config.python or sys.executable,
        "log_directory": str(Path(config.log_directory or out.absolute() / "cluster-logs")),
        "interface": config.interface,
        # The dashboard on any free port: its fixed one (8787) may be taken on a shared host.
        "scheduler_options": {"dashboard_address": ":0"},
    }
    if config.kind == "slurm":
        # SLURM books the cores and exactly the memory planned (dask-jobqueue would round
        # it up to whole GiB); Dask uses one thread.
        options["job_cpu"] = jobs.cores
        options["job_mem"] = f"{jobs.memory_mb}M"
    else:  # PBS/SGE/LSF: cores booked through dask-jobqueue's own `cores` (untested)
        options["cores"] = jobs.cores
        options["worker_extra_args"] = ["--nthreads", "1"]
    return options


def _refusal(exc: BaseException) -> str:
    """The batch system's own words from dask-jobqueue's error (its stderr), one line."""
    text = str(exc)
    stderr = text.split("stderr:", 1)[1] if "stderr:" in text else text
    words = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "; ".join(words)[:500] or type(exc).__name__


def _import_jobqueue() -> Any:
    """dask_jobqueue, imported without its Ctrl-C handler.

    Importing it (its `runner` module) replaces SIGINT's handler with `sys.exit()`, so
    Ctrl-C would end `grade` with exit code 0 and no word; Python's own handler is put
    back, and Ctrl-C stays a KeyboardInterrupt: jobs released, exit code 130.
    """
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    try:
        import dask_jobqueue
    except ImportError as exc:  # pragma: no cover - dask-jobqueue is a pinned dependency
        raise UsageError(
            "--cluster needs dask-jobqueue", hint="pip install -c constraints.txt -e ."
        ) from exc
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGINT, previous)
    return dask_jobqueue


def _recording(base: type) -> type:
    """`base` (dask-jobqueue's job class) whose instances keep the error of a refused
    submission as `refused`, so that the runner can name its cause."""

    async def start(self: Any) -> None:
        try:
            await base.start(self)
        except RuntimeError as exc:  # the submit command's exit code and stderr
            from distributed.core import Status

            self.refused = exc
            self.status = Status.failed  # a cluster closes only jobs that started or failed
            raise

    return type(base.__name__, (base,), {"start": start, "refused": None})


class JobQueueRunner:
    """Grades through Dask workers that dask-jobqueue starts as batch jobs."""

    def __init__(
        self,
        settings: RunSettings,
        jobs: JobPlan,
        *,
        out: Path,
        scratch: ScratchDirs | None = None,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        import dask

        dask_jobqueue = _import_jobqueue()
        self.settings, self.jobs = settings, jobs
        # Ids of the results the batch must not store (grader.batch reads it).
        self.unstored: set[str] = set()
        config = jobs.config
        options = cluster_options(jobs, out)
        Path(options["log_directory"]).mkdir(parents=True, exist_ok=True)
        cls = getattr(dask_jobqueue, KINDS[config.kind])
        job_cls = _recording(cls.job_cls)
        # Adaptive scaling sizes the cluster from the tasks' expected durations: telling
        # the scheduler how long a grade takes makes it ask for enough jobs at once.
        seconds = jobs.seconds_per_grade or jobs.walltime_seconds / max(1, jobs.per_job)
        self._config = dask.config.set(
            {"distributed.scheduler.default-task-durations": {"grade_task": f"{seconds:.0f}s"}}
        )
        self._config.__enter__()
        self.cluster: Any = None
        self.inner: DaskRunner | None = None
        try:
            self.cluster = cls(job_cls=job_cls, **options)
            self._check()  # the first job now: a refusal stops the batch before it begins
            self.cluster.adapt(minimum_jobs=0, maximum_jobs=jobs.jobs)
            self.inner = DaskRunner(
                settings,
                self.cluster.scheduler_address,
                scratch=scratch,
                watch=self._check,
                check_seconds=check_seconds,
            )
        except BaseException:
            self.close()
            raise

    @property
    def job_script(self) -> str:
        """dask-jobqueue's job script, as each job is submitted (shown by the tests)."""
        return str(self.cluster.job_script())

    def _check(self) -> None:
        """Bring the cluster's jobs to its plan now; `ClusterError` if a job was refused.

        A job the scheduler killed leaves its name in the cluster's plan once Dask has
        seen its worker go; this submits it again. A refusal (sbatch's exit code) is
        recorded by the job itself, wherever it was submitted from: adaptive scaling's
        submissions run on the event loop, which only logs their errors.
        The one private call here: dask-jobqueue offers no public way to wait for its
        submissions' outcome.
        """
        if not self.cluster.worker_spec:
            # What `scale(jobs=1)` does, minus its hand-off to the event loop, which would
            # only log a refusal: the sync below raises it here.
            self.cluster.worker_spec.update(self.cluster.new_worker_spec())
        with contextlib.suppress(RuntimeError):  # recorded by the job, read below
            self.cluster.sync(self.cluster._correct_state)
        for name, job in list(self.cluster.workers.items()):
            refused = getattr(job, "refused", None)
            if refused is not None:
                # Never submitted, so nothing to cancel; out of the plan, so that closing
                # the cluster does not wait for a job that will never start.
                del self.cluster.workers[name]
                self.cluster.worker_spec.pop(name, None)
                raise ClusterError(
                    f"{self.jobs.config.label} refused a job: {_refusal(refused)}",
                    hint="check the [cluster] table (queue, account, cores, memory_mb, walltime)",
                )

    def run(
        self, refs: Sequence[SubmissionRef], started: Started
    ) -> Iterator[tuple[SubmissionRef, GradeResult]]:
        assert self.inner is not None
        done: set[str] = set()
        self.unstored.clear()
        try:
            for ref, result in self.inner.run(refs, started):
                done.add(ref.id)
                yield ref, result
        except ClusterError as exc:
            # Refused mid-batch: what was graded stays graded (and stored); the rest become
            # `error` results that say why, never stored, so a re-run grades them.
            text = i18n.say("crash.cluster_refused", self.settings.lang, cause=exc.message)
            for ref in refs:
                if ref.id not in done:
                    self.unstored.add(ref.id)
                    yield ref, crashed(ref, self.settings, text)

    def close(self) -> None:
        """Release every job (dask-jobqueue cancels them), then the local scheduler."""
        try:
            if self.inner is not None:
                self.inner.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            self._config.__exit__(None, None, None)
