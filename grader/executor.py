"""Where `grade_one` runs: in this process, in a pool of local worker processes, or on Dask.

All three yield `(ref, GradeResult)` pairs as submissions finish, in any order; the batch
(`grader.batch`) stores and publishes them. Whatever happens to a worker, every submission
sent out comes back as exactly one result:

- `InProcess` (`--jobs 1`): `grade_one` in the calling process, one after the other.
- `LocalPool` (`--jobs N`): N worker processes, each a one-process `ProcessPoolExecutor`
  that holds one submission at a time, so when a worker dies (out of memory, killed) the
  pool that breaks names exactly the submission it was grading: that one becomes an
  `error` result and the worker is replaced; the rest of the batch goes on.
- `DaskRunner` (`--scheduler ADDRESS`): each submission is a task on an existing Dask
  cluster (`distributed.Client`); a task whose workers keep dying (`KilledWorker`) becomes
  an `error` result. Dask is imported only here, so local grading needs no Dask process.
  `grade --cluster slurm` (grader.cluster) grades through it on workers started as jobs.

Tasks carry the submission's bytes and the settings (spec included) by value, so a remote
worker needs the grader installed and the dataset findable (`grader.data.prepare`), nothing
shared with this machine.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copyreg
import functools
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from grader import data, datasets, i18n, sandbox, submission, terminal
from grader.dataspec import DataSpec
from grader.discover import SubmissionRef
from grader.errors import SubmissionError, UsageError
from grader.pipeline import grade_one
from grader.results import GradeResult, Status
from grader.runner import SPARES
from grader.settings import RunSettings

# Called when a submission is handed to a worker, with the folder its scratch will be in.
Started = Callable[[SubmissionRef, Path | None], None]

# Peak memory of one job, measured on the grading machine: the process running grade_one
# (TensorFlow for the evaluation, the test set) peaked at 0.78 GB and the child training the
# reference under the default budget on the whole training set at 0.58 GB (ru_maxrss);
# 1.36 GB plus a margin. Used only to cap the default number of jobs.
JOB_MEMORY_BYTES = int(1.5 * 1024**3)
CORES_PER_JOB = 2  # a job's child trains with intra-op threads; one job per 2 cores


def _mapping_proxy(items: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(items)


def _reduce_mapping_proxy(proxy: MappingProxyType[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _mapping_proxy, (dict(proxy),)


# The spec keeps its tables read-only in MappingProxyType, which pickle cannot store by
# itself; tasks carry the spec by value (pickle and Dask's cloudpickle both honour copyreg).
copyreg.pickle(MappingProxyType, _reduce_mapping_proxy)


@dataclass(frozen=True)
class Plan:
    """How many submissions run at once and how many threads each child trains with."""

    jobs: int
    threads: int
    reason: str


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def plan(
    jobs: int | None, *, cores: int | None = None, memory: int | None = None, lang: str = "en"
) -> Plan:
    """`--jobs` as given, or one job per 2 cores capped by memory; threads share the cores.
    The reason is said in `lang` (the batch's terminal line)."""
    cores = cores or cpu_count()
    memory = available_memory() if memory is None else memory
    if jobs is not None:
        if jobs < 1:
            raise UsageError("--jobs must be at least 1", hint="or leave it out for the default")
        reason = i18n.text("batch.reason_asked", lang)
    else:
        by_cores = max(1, cores // CORES_PER_JOB)
        by_memory = max(1, memory // JOB_MEMORY_BYTES) if memory else by_cores
        jobs = min(by_cores, by_memory)
        gib = (
            i18n.say("batch.memory", lang, gib=i18n.number(memory / 1024**3, lang, 1))
            if memory
            else i18n.text("batch.unknown_memory", lang)
        )
        reason = i18n.say("batch.reason_machine", lang, cores=cores, memory=gib)
    return Plan(jobs=jobs, threads=max(1, cores // jobs), reason=reason)


@dataclass(frozen=True)
class Task:
    """One submission as data: what a worker anywhere needs to grade it."""

    ref: SubmissionRef
    content: bytes
    settings: RunSettings
    scratch_root: str | None = None  # where scratch folders go if it exists there (progress)
    # Children this worker will probably start after this task's: it keeps a spare child
    # importing TensorFlow for the next one while this one trains (grader.runner.Spares).
    more: int = 0


class ScratchDirs:
    """One numbered folder per submission under the batch's work folder (or none at all).

    `grade_one` makes its scratch folder inside it, so the progress display knows whose
    response.json it is reading without guessing from names.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.count = 0

    def next(self) -> Path | None:
        if self.root is None:
            return None
        self.count += 1
        folder = self.root / f"{self.count:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class Runner(Protocol):
    def run(
        self, refs: Sequence[SubmissionRef], started: Started
    ) -> Iterator[tuple[SubmissionRef, GradeResult]]: ...

    def close(self) -> None: ...


# Where a grader fault's traceback goes: `grader.batch` writes this logger to
# <out>/grader.log; the student's report only says that it was the grader's fault.
LOG = logging.getLogger("grader.batch")

# What a student reads when the grader itself failed on their submission.
# The [fault] table of grader/i18n/<lang>.toml.
MESSAGES = {"fault": i18n.Texts("fault.message")}
STAGES = i18n.messages("fault.stages")


def fault(
    ref: SubmissionRef | None,
    settings: RunSettings,
    exc: BaseException,
    *,
    stage: str,
    sid: str | None = None,
    source_path: str | None = None,
) -> GradeResult:
    """An `error` result for a grader bug hit while grading one submission; logs the traceback.

    The message says it is the grader's fault, in the report's language, and names the
    exception but never the traceback (it can quote internals and paths): that goes to the
    batch's log. `sid`/`source_path` name a submission known only by its id (rejected ones).
    """
    sid = sid or (ref.id if ref is not None else "?")
    LOG.error("grader fault on %s while %s", sid, STAGES[stage]["en"], exc_info=exc)
    lang = settings.lang if settings.lang in MESSAGES["fault"] else "en"
    error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return crashed(
        SubmissionRef(sid, Path(source_path or (ref.path if ref else "")), "py"),
        settings,
        MESSAGES["fault"][lang].format(stage=STAGES[stage][lang], error=error),
    )


def _say(settings: RunSettings, key: str, **fields: object) -> str:
    """A crash's text from the [crash] table, in the report's language."""
    return i18n.say(f"crash.{key}", settings.lang, **fields)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def crashed(ref: SubmissionRef, settings: RunSettings, message: str) -> GradeResult:
    """The result of a submission whose worker died or failed: an `error`, never a grade."""
    return GradeResult.without_results(
        settings.assessment,
        id=ref.id,
        sha256="",
        status=Status.ERROR,
        message=message,
        source_path=str(ref.path),
    )


@contextlib.contextmanager
def scratch_in(root: str | None) -> Iterator[None]:
    """Make `grade_one`'s scratch folders (tempfile.mkdtemp) land under `root`.

    The batch watches `<root>/grader-*/response.json` to show the trial being trained.
    """
    if root is None or not os.path.isdir(root):
        yield
        return
    previous = tempfile.tempdir
    tempfile.tempdir = root
    try:
        yield
    finally:
        tempfile.tempdir = previous


@functools.lru_cache(maxsize=2)
def _worker_data(cache_root: Path, spec: DataSpec) -> tuple[Path, data.TestSet]:
    # Once per worker process: the decoded cache is found (or built) on this machine.
    cache = datasets.prepare(spec, cache_dir=cache_root)
    return cache, datasets.load_test(cache, spec)


def grade_task(task: Task) -> GradeResult:
    """Grade one `Task` in a worker process (local pool or Dask); never raises for the student."""
    cache, test = _worker_data(task.settings.cache.parent, task.settings.spec.data)
    settings = replace(task.settings, cache=cache)
    if settings.sandbox.enabled:
        # bubblewrap's path is this machine's; a worker without it refuses, never runs bare.
        settings = replace(settings, sandbox=sandbox.resolve(no_sandbox=False))
    with tempfile.TemporaryDirectory(prefix="grader-task-") as folder:
        # The bytes go to a private copy under the same name: what is graded is what was
        # hashed, and a remote worker needs no access to the instructor's folder.
        local = Path(folder) / task.ref.path.name
        local.write_bytes(task.content)
        SPARES.expect(task.more)
        try:
            with scratch_in(task.scratch_root):
                result = grade_one(replace(task.ref, path=local), settings, test)
        finally:
            if task.more == 0:
                SPARES.close()
    return replace(result, source_path=str(task.ref.path))


class InProcess:
    """`grade_one` in this process, one submission after the other (`--jobs 1`)."""

    def __init__(self, settings: RunSettings, test: data.TestSet, scratch: ScratchDirs) -> None:
        self.settings, self.test, self.scratch = settings, test, scratch

    def run(
        self, refs: Sequence[SubmissionRef], started: Started
    ) -> Iterator[tuple[SubmissionRef, GradeResult]]:
        for index, ref in enumerate(refs):
            folder = self.scratch.next()
            started(ref, folder)
            # The next submission's child imports TensorFlow while this one trains.
            SPARES.expect(len(refs) - index - 1)
            try:
                with scratch_in(None if folder is None else str(folder)):
                    result = grade_one(ref, self.settings, self.test)
            except Exception as exc:  # a grader bug on this submission: one result, not the batch
                result = fault(ref, self.settings, exc, stage="grade")
            yield ref, result

    def close(self) -> None:
        SPARES.close()


class LocalPool:
    """`jobs` worker processes, one submission each at a time; a dead worker costs one result."""

    def __init__(
        self,
        settings: RunSettings,
        jobs: int,
        scratch: ScratchDirs,
        task: Callable[[Task], GradeResult] = grade_task,  # tests swap in a cheap one
    ) -> None:
        self.settings, self.jobs, self.scratch, self.task = settings, jobs, scratch, task
        # spawn, not fork: the parent may have TensorFlow loaded, and forking it can hang.
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[cf.ProcessPoolExecutor] = []

    def _new_slot(self) -> cf.ProcessPoolExecutor:
        # Each worker filters TensorFlow's start-up lines from its stderr before it imports
        # anything (grader.terminal): they would otherwise land on the instructor's terminal.
        return cf.ProcessPoolExecutor(
            max_workers=1, mp_context=self._context, initializer=terminal.quiet_native_logs
        )

    def run(
        self, refs: Sequence[SubmissionRef], started: Started
    ) -> Iterator[tuple[SubmissionRef, GradeResult]]:
        queue = list(reversed(refs))
        self._slots = [self._new_slot() for _ in range(min(self.jobs, len(refs)))]
        busy: dict[cf.Future[GradeResult], tuple[int, SubmissionRef]] = {}
        free = list(range(len(self._slots)))
        while queue or busy:
            while queue and free:
                slot, ref = free.pop(), queue.pop()
                folder = self.scratch.next()
                try:
                    # A spare for this worker's next task only if some task is left for
                    # each worker after this one (an unused spare's import is wasted CPU).
                    task = _task(ref, self.settings, folder, more=len(queue) // self.jobs)
                except SubmissionError as exc:
                    free.append(slot)
                    yield ref, _unreadable(ref, self.settings, exc)
                    continue
                started(ref, folder)
                busy[self._slots[slot].submit(self.task, task)] = (slot, ref)
            done, _ = cf.wait(busy, return_when=cf.FIRST_COMPLETED)
            for future in done:
                slot, ref = busy.pop(future)
                yield ref, self._outcome(future, slot, ref)
                free.append(slot)

    def _outcome(
        self, future: cf.Future[GradeResult], slot: int, ref: SubmissionRef
    ) -> GradeResult:
        try:
            return future.result()
        except BrokenProcessPool:
            # This slot held only this submission: it is the one that died with it.
            self._slots[slot].shutdown(wait=False, cancel_futures=True)
            self._slots[slot] = self._new_slot()
            return crashed(
                ref,
                self.settings,
                _say(self.settings, "worker_died"),
            )
        except Exception as exc:  # a grader bug in the worker: one result, not the batch
            return fault(ref, self.settings, exc, stage="grade")

    def close(self) -> None:
        for slot in self._slots:
            slot.shutdown(wait=False, cancel_futures=True)


class DaskRunner:
    """Each submission is a task on a Dask cluster; results come back here, as they finish."""

    def __init__(
        self,
        settings: RunSettings,
        scheduler: str,
        *,
        config: Path | None = None,
        scratch: ScratchDirs | None = None,
        watch: Callable[[], None] | None = None,
        check_seconds: float = 10.0,
    ) -> None:
        # `watch` is called every `check_seconds` while submissions are out (grader.cluster:
        # resubmit a job the batch system killed; raise if it refuses one).
        self.watch, self.check_seconds = watch, check_seconds
        try:
            import dask
            import distributed
        except ImportError as exc:  # pragma: no cover - dask is a pinned dependency
            raise UsageError(
                "--scheduler needs dask[distributed]", hint="pip install -c constraints.txt -e ."
            ) from exc
        if config is not None:
            dask.config.update(dask.config.config, _read_config(config), priority="new")
        self.settings, self.scratch = settings, scratch or ScratchDirs(None)
        self._distributed = distributed
        try:
            if Path(scheduler).is_file():  # `dask scheduler --scheduler-file F` (SLURM jobs)
                self.client = distributed.Client(scheduler_file=scheduler, timeout="30s")
            else:
                self.client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(
                f"cannot connect to the Dask scheduler {scheduler}: {exc}",
                hint="give its address (tcp://HOST:PORT) or its scheduler file",
            ) from exc

    def run(
        self, refs: Sequence[SubmissionRef], started: Started
    ) -> Iterator[tuple[SubmissionRef, GradeResult]]:
        futures = {}
        for ref in refs:
            # Only a worker on this machine finds the folder; elsewhere there is no display.
            folder = self.scratch.next()
            try:
                task = _task(ref, self.settings, folder)
            except SubmissionError as exc:
                yield ref, _unreadable(ref, self.settings, exc)
                continue
            # pure=False: the same bytes graded twice (two ids) are two tasks, not one.
            future = self.client.submit(grade_task, task, pure=False, retries=0)
            futures[future] = ref
            started(ref, folder)
        while futures:
            for future in self._finished(list(futures)):
                ref = futures.pop(future)
                try:
                    result = future.result()
                except self._distributed.KilledWorker:
                    result = crashed(
                        ref,
                        self.settings,
                        _say(self.settings, "dask_died"),
                    )
                except Exception as exc:  # e.g. a worker without the dataset
                    result = crashed(
                        ref, self.settings, _say(self.settings, "dask_failed", error=_error(exc))
                    )
                future.release()
                yield ref, result
            if futures and self.watch is not None:
                self.watch()

    def _finished(self, futures: list[Any]) -> set[Any]:
        """The futures done now, waiting at most `check_seconds` when a `watch` is set."""
        timeout = None if self.watch is None else self.check_seconds
        try:
            done, _ = self._distributed.wait(
                futures, timeout=timeout, return_when="FIRST_COMPLETED"
            )
        except TimeoutError:
            return set()
        return set(done)

    def close(self) -> None:
        self.client.close()


def _task(
    ref: SubmissionRef, settings: RunSettings, scratch: Path | None, *, more: int = 0
) -> Task:
    """The task for `ref`; `SubmissionError` when its file cannot be read as a submission.

    Read as `load` reads it (no link followed, a pipe never blocks, at most
    `submission.MAX_FILE_BYTES`): these bytes are what the worker grades.
    """
    folder = None if scratch is None else str(scratch)
    content = submission.read_file(ref.path, lang=settings.lang)
    return Task(ref, content, settings, folder, more)


def _unreadable(ref: SubmissionRef, settings: RunSettings, exc: SubmissionError) -> GradeResult:
    """The result of a submission whose file could not be read into a task."""
    return GradeResult.without_results(
        settings.assessment,
        id=ref.id,
        sha256="",
        status=Status(exc.status),
        message=exc.message,
        source_path=str(ref.path),
    )


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the Dask config {path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise UsageError(f"{path} is not a Dask config: expected a YAML mapping at the top")
    return loaded
