"""`grade(...)`: the pipeline over a batch of submissions, durable and resumable.

discover -> results store (reuse what was graded under the same key) -> grade the rest
(in this process, a local pool or a Dask cluster: grader.executor) -> per submission:
result.json, reports, Gradescope results.json, then the store row -> grades.csv after every
submission -> summary.html at the end.

Write order makes a crash harmless: a submission's files are written (each atomically)
before its row; a row therefore means "its files were complete", and a re-run rewrites the
files of a stored result whose files are missing or differ. A result without a row is
graded again. Only a `FatalError` (bad spec, missing data, bad usage) stops the batch; every
submission, whatever it does, ends as exactly one result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import (
    __version__,
    calibrate,
    data,
    discover,
    executor,
    gradescope,
    i18n,
    report,
    submission,
)
from grader import cluster as cluster_module
from grader import progress as progress_module
from grader import store as store_module
from grader import summary as summary_module
from grader.discover import SubmissionRef
from grader.errors import ExitCode, FatalError
from grader.printable import printable
from grader.results import GradeResult, Status, to_jsonable
from grader.settings import Reuse, RunSettings, load_test

Echo = Callable[[str], None]
LOG_FILE = "grader.log"  # under the output folder: grader faults, with their tracebacks
# Every name the batch writes directly in the output folder, beside the students' folders
# `<out>/<id>/`: discovery never makes one of them an id (a folder `grades.csv/` is graded
# as `grades.csv-student`), so no submission can take the gradebook's or the summary's place.
OUTPUT_NAMES = frozenset(
    {report.GRADEBOOK_FILE, summary_module.SUMMARY_FILE, LOG_FILE, *store_module.OUTPUT_NAMES}
)


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs and where it writes, besides the settings each submission is graded
    under (`RunSettings`): none of these changes a grade, only where, how fast and what is
    said about it."""

    out: Path = Path("reports")
    templates: Path | None = None  # the instructor's report templates (None: the shipped)
    echo: Echo = print
    jobs: int | None = None  # grading processes at once (None: from cores and memory)
    force: bool = False  # grade again what the store holds, and share no training
    calibrate_now: bool = False  # compute a missing calibration however long it takes
    scheduler: str | None = None  # a Dask scheduler's address or file
    dask_config: Path | None = None
    progress: str = "auto"  # "auto", "rich" or "plain"
    cluster: str | None = None  # "slurm", ...: workers started as batch jobs
    cluster_config: Path | None = None  # the course file with its [cluster] table
    dry_run: bool = False  # only print the cluster's plan


def grade(
    paths: Sequence[Path], settings: RunSettings, options: BatchOptions = BatchOptions()
) -> ExitCode:
    """Grade every submission under `paths`; write reports, grades.csv and summary.html.

    `settings` comes from `grader.settings.prepare` (spec, budget, language, the dataset's
    cache, sandbox, subset, limits); its `threads` are set here, from the executor's plan.
    Results already in `<out>/results.sqlite` under the same key are reused unless `force`,
    and so is the training of a program already graded under another file (grader.reuse).
    A missing or stale calibration is computed first if that should take at most
    `calibrate.ASK_ABOVE_SECONDS`, or whatever it takes with `calibrate_now`; else
    `CalibrationNeeded` (exit code 2) says how long and which command to run ahead.
    `jobs` worker processes grade at once (default: from cores and memory); `scheduler`
    (a Dask address or scheduler file) sends the submissions to a Dask cluster instead.
    `progress` is "auto", "rich" or "plain". `cluster` ("slurm", ...) grades on workers
    started as batch jobs (grader.cluster; `cluster_config`: the course file with its
    `[cluster]` table); with `dry_run` it only prints the jobs' plan and returns.
    """
    spec, chosen, lang = settings.spec, settings.budget, settings.lang
    out, echo, force = options.out, options.echo, options.force
    found = discover.discover(paths, reserved=OUTPUT_NAMES)
    test = load_test(settings)
    plan = executor.plan(options.jobs, lang=lang)
    jobs_config = (
        cluster_module.read_config(options.cluster, options.cluster_config)
        if options.cluster
        else None
    )
    if jobs_config is not None:  # the child trains with the job's cores, not this machine's
        plan = dataclasses.replace(plan, threads=jobs_config.cores)
    settings = dataclasses.replace(settings, threads=plan.threads)
    if jobs_config is not None and options.dry_run:
        jobs_plan = _cluster_plan(jobs_config, settings, len(found.submissions))
        echo(jobs_plan.describe())
        return ExitCode.OK
    if (
        settings.subset is None and found.submissions
    ):  # a subset is never compared with the reference
        ask = None if options.calibrate_now else calibrate.ASK_ABOVE_SECONDS
        calibrated = calibrate.ensure(
            settings, test, calibrate.Computation(max_seconds=ask), echo=echo
        )
        settings = dataclasses.replace(settings, calibration=calibrated.summary())
    # Set after calibrating: the reference's runs must train, never reuse a student's copy.
    shared = Reuse(store=(out / store_module.STORE_FILE).absolute(), read=not force)
    settings = dataclasses.replace(settings, reuse=shared)
    scheduler = options.scheduler
    where = (
        i18n.say("batch.on_dask", lang, scheduler=scheduler)
        if scheduler
        else i18n.say("batch.on_jobs", lang, jobs=plan.jobs, reason=plan.reason)
    )
    jobs_plan = None
    if jobs_config is not None:
        jobs_plan = _cluster_plan(jobs_config, settings, len(found.submissions))
        where = _on_cluster(jobs_plan, lang)
    echo(
        i18n.say(
            "batch.start",
            lang,
            count=len(found.submissions),
            assignment=spec.id,
            budget=chosen.name,
            out=out,
            where=where,
        )
    )
    shown = progress_module.choose(
        options.progress,
        echo=echo,
        max_trials=chosen.max_trials,
        budget_seconds=chosen.submission_seconds,
        lang=lang,
    )
    with store_module.open_store(out) as db, _log_faults(out / LOG_FILE):
        batch = _Batch(settings, out, options.templates, db, shown)
        shown.begin(len(found.submissions) + len(found.rejected))
        try:
            batch.add_rejected(found.rejected)
            todo = batch.reuse(found.submissions, force=force)
            shown.say(
                i18n.say("batch.reused", lang, count=batch.reused, path=db.path)
                + (i18n.text("batch.force_hint", lang) if not force else "")
                + i18n.say("batch.grading", lang, count=len(todo))
            )
            if todo:
                if jobs_config is not None and len(todo) < len(found.submissions):
                    # Sized to what is left, not to the whole class: said again.
                    jobs_plan = _cluster_plan(jobs_config, settings, len(todo))
                    shown.say(_on_cluster(jobs_plan, lang))
                batch.grade(
                    todo,
                    plan,
                    test,
                    scheduler=scheduler,
                    dask_config=options.dask_config,
                    jobs_plan=jobs_plan,
                )
        finally:
            shown.close()
        written, failed = batch.finish(found.submissions)
    results = list(batch.results.values())
    graded = sum(r.status is Status.GRADED for r in results)
    # Only what was written is said to be: a file that failed is named as such.
    shown = ", ".join(str(path) for path in written) or "—"
    echo(i18n.say("batch.wrote", lang, files=shown, graded=graded, total=len(results)))
    if failed:
        files = ", ".join(str(path) for path in failed)
        echo(i18n.say("batch.not_written", lang, files=files, log=out / LOG_FILE))
    if batch.faults:
        echo(i18n.say("batch.faults", lang, count=batch.faults, log=out / LOG_FILE))
    everything = graded == len(results) and not batch.faults
    return ExitCode.OK if everything else ExitCode.NOT_ALL_GRADED


def _cluster_plan(
    config: cluster_module.ClusterConfig, settings: RunSettings, count: int
) -> cluster_module.JobPlan:
    return cluster_module.plan(
        config,
        settings.budget,
        settings.effective_limits,
        count,
        seconds_per_grade=cluster_module.measured_seconds(settings),
    )


def _on_cluster(jobs: cluster_module.JobPlan, lang: str) -> str:
    """What the batch asks the batch system for, in the terminal's language."""
    return i18n.say(
        "batch.on_cluster",
        lang,
        kind=jobs.config.label,
        jobs=jobs.jobs,
        cores=jobs.cores,
        memory=jobs.memory_mb,
        walltime=jobs.walltime,
    )


@contextlib.contextmanager
def _log_faults(path: Path) -> Iterator[None]:
    """Send the batch's log (`executor.LOG`: grader faults with tracebacks) to `path`.

    Opened on the first record only, so the file exists only when something went wrong;
    appended to, so a re-run keeps the earlier faults' tracebacks.
    """
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(_PrintableFormatter("%(asctime)s %(levelname)s %(message)s"))
    executor.LOG.addHandler(handler)
    try:
        yield
    finally:
        executor.LOG.removeHandler(handler)
        handler.close()


class _PrintableFormatter(logging.Formatter):
    """grader.log is read in a terminal: ids and exception texts are the student's."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def store_key(ref_id: str, sha256: str, settings: RunSettings) -> store_module.Key:
    """The key a result is stored under: everything that could change it."""
    calibration = None
    if settings.calibration is not None:
        # When it was computed, and whether just now, does not change a grade.
        calibration = {
            k: v
            for k, v in to_jsonable(settings.calibration).items()
            if k not in ("computed_now", "created")
        }
    others = {
        "lang": settings.lang,
        "seed": settings.effective_seed,
        "include_hidden": settings.include_hidden,
        "calibration": calibration,
        "limits": to_jsonable(settings.effective_limits),
        "sandbox": settings.sandbox.enabled,
    }
    return store_module.Key(
        assignment=settings.spec.id,
        submission_id=ref_id,
        sha256=sha256,
        budget=settings.budget.name,
        subset=settings.subset,
        settings=store_module.settings_hash(others),
        spec_sha256=settings.spec.sha256,
        grader_version=__version__,
    )


class _Batch:
    """The results of this run, by id, and how each reaches the disk and the store."""

    def __init__(
        self,
        settings: RunSettings,
        out: Path,
        templates: Path | None,
        db: store_module.Store,
        shown: progress_module.BatchProgress,
    ) -> None:
        self.settings, self.out, self.templates, self.db, self.shown = (
            settings,
            out,
            templates,
            db,
            shown,
        )
        self.check_ids = [item.id for item in settings.spec.rubric]
        self.results: dict[str, GradeResult] = {}
        self.reused = 0
        self.faults = 0  # grader faults logged to grader.log (each costs one result at most)

    def add_rejected(self, rejected: Sequence[discover.Rejected]) -> None:
        # Not stored: discovery decides them again on every run, instantly.
        for item in rejected:
            result = GradeResult.without_results(
                self.settings.assessment,
                id=item.id,
                sha256="",
                status=Status.REJECTED,
                message=item.text(self.settings.lang),
                source_path=str(item.path),
            )
            try:
                self._write_files(result, report.result_json(result), only_if_changed=True)
            except FatalError:
                raise
            except Exception as exc:  # one bad name or message must not stop the batch
                result = executor.fault(
                    None,
                    self.settings,
                    exc,
                    stage="report",
                    sid=item.id,
                    source_path=str(item.path),
                )
                self._write_fault(result)
            self.results[result.id] = result
            self.shown.finished(result, how="rejected")

    def reuse(self, refs: Sequence[SubmissionRef], *, force: bool) -> list[SubmissionRef]:
        """Take every stored result whose key matches; return the submissions left to grade."""
        todo = []
        for ref in refs:
            key = store_key(ref.id, submission.file_sha256(ref.path), self.settings)
            stored = None if force else self.db.get(key)
            if stored is None:
                todo.append(ref)
                continue
            try:
                self._write_files(
                    stored.result, stored.text, only_if_changed=self.templates is None
                )
            except FatalError:
                raise
            except Exception:  # e.g. a row the schema no longer accepts: grade it again
                executor.LOG.exception("stored result of %s not reusable; graded again", ref.id)
                todo.append(ref)
                continue
            self.results[ref.id] = stored.result
            self.reused += 1
            self.shown.finished(stored.result, how="reused")
        self.shown.expect(len(todo))
        return todo

    def grade(
        self,
        refs: Sequence[SubmissionRef],
        plan: executor.Plan,
        test: data.TestSet,
        *,
        scheduler: str | None,
        dask_config: Path | None,
        jobs_plan: cluster_module.JobPlan | None = None,
    ) -> None:
        work = Path(tempfile.mkdtemp(prefix="grader-batch-"))
        scratch = executor.ScratchDirs(work)
        runner: executor.Runner
        if jobs_plan is not None:
            runner = cluster_module.JobQueueRunner(
                self.settings, jobs_plan, out=self.out, scratch=scratch
            )
        elif scheduler:
            runner = executor.DaskRunner(
                self.settings, scheduler, config=dask_config, scratch=scratch
            )
        elif plan.jobs > 1 and len(refs) > 1:
            runner = executor.LocalPool(self.settings, plan.jobs, scratch)
        else:
            runner = executor.InProcess(self.settings, test, scratch)
        try:
            for ref, result in runner.run(refs, lambda r, folder: self.shown.started(r.id, folder)):
                # A runner may name results that must not be reused (grader.cluster: the
                # submissions a refused job could not grade); a re-run grades them.
                self.add(ref, result, store=ref.id not in getattr(runner, "unstored", ()))
        finally:
            runner.close()
            if not self.settings.keep_scratch:
                shutil.rmtree(work, ignore_errors=True)

    def add(self, ref: SubmissionRef, result: GradeResult, *, store: bool = True) -> None:
        """Files first, then the store row, then the gradebook (see the module docstring).

        The per-submission guard: a grader fault while validating, rendering or storing
        this result (a `ResultSchemaError`, a template error on odd data, a full disk)
        turns it into an `error` result that says so (traceback in grader.log), which is
        never stored, so a re-run grades it again. Only a `FatalError` (say, the
        instructor's own template is broken) stops the batch. `store=False`: files and
        gradebook only, so a re-run grades it again.
        """
        try:
            text = report.result_json(result)
            self._write_files(result, text, only_if_changed=False)
        except FatalError:
            raise
        except Exception as exc:
            result = executor.fault(ref, self.settings, exc, stage="report")
            self._write_fault(result)
        else:
            try:
                if store:
                    sha = result.sha256 or submission.file_sha256(ref.path)
                    self.db.put(store_key(ref.id, sha, self.settings), result, text)
            except FatalError:
                raise
            except Exception:  # its files are written; without a row it is graded again
                self.faults += 1
                executor.LOG.exception("result of %s not stored", ref.id)
        self.results[result.id] = result
        # Rewritten after every submission so an interrupted batch leaves a true gradebook.
        self._guarded(
            "grades.csv", report.write_gradebook, self._results(), self.out, self.check_ids
        )
        self.shown.finished(result)

    def finish(self, refs: Sequence[SubmissionRef]) -> tuple[list[Path], list[Path]]:
        """grades.csv, then summary.html: each written even if the other fails.

        Returns the paths written and those that could not be (traceback in grader.log).
        """
        results = self._results()
        written: list[Path] = []
        failed: list[Path] = []
        gradebook = self.out / report.GRADEBOOK_FILE
        summary = self.out / summary_module.SUMMARY_FILE
        ok = self._guarded("grades.csv", report.write_gradebook, results, self.out, self.check_ids)
        (written if ok else failed).append(gradebook)
        ok = self._guarded(
            "summary.html",
            summary_module.write,
            results,
            refs,
            self.settings.spec,
            self.out,
            lang=self.settings.lang,
        )
        (written if ok else failed).append(summary)
        return written, failed

    def _results(self) -> list[GradeResult]:
        return list(self.results.values())

    def _guarded(self, what: str, write: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
        """Whether `write` succeeded; a failure is a fault, logged with its traceback."""
        try:
            write(*args, **kwargs)
        except FatalError:
            raise
        except Exception:
            self.faults += 1
            executor.LOG.exception("%s could not be written", what)
            return False
        return True

    def _write_fault(self, result: GradeResult) -> None:
        """Write a grader-fault result's files, as many as can be written (never raises)."""
        self.faults += 1
        try:
            self._write_files(result, report.result_json(result), only_if_changed=False)
        except Exception:  # even the plain error result failed: result.json at least
            executor.LOG.exception("the error report of %s could not be written", result.id)
            try:
                text = json.dumps(report.result_dict(result), indent=2, ensure_ascii=False)
                report.atomic_write(self.out / result.id / report.RESULT_FILE, text.encode())
            except Exception:
                executor.LOG.exception("result.json of %s could not be written", result.id)

    def _write_files(self, result: GradeResult, text: str, *, only_if_changed: bool) -> None:
        folder = self.out / result.id
        if only_if_changed and _files_current(folder, text):
            return
        report.atomic_write(folder / report.RESULT_FILE, text.encode("utf-8"))
        report.render_reports(result, self.out, lang=self.settings.lang, templates=self.templates)
        gradescope.write(result, self.out, lang=self.settings.lang)


def _files_current(folder: Path, text: str) -> bool:
    """Whether result.json holds exactly `text` and every file derived from it exists."""
    try:
        if (folder / report.RESULT_FILE).read_text(encoding="utf-8") != text:
            return False
    except (OSError, UnicodeDecodeError):
        return False
    derived = [*report.REPORT_TEMPLATES, f"{gradescope.FOLDER}/{gradescope.RESULTS_FILE}"]
    return all((folder / name).is_file() for name in derived)
