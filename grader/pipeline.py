"""`grade_one`: one submission through load -> (child: probe, search) -> evaluate -> score.

A submission that fails in any way becomes a result (`GradeResult.without_results`,
or a result with status error/timeout); nothing it does raises out of here. The
batch around it (discover, report, gradebook) is `grader.batch`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from grader import data, datasets, i18n, resources, reuse, score, store, submission, training
from grader.artifacts import NO_ARTIFACTS, DeclaredEvidence, from_data, read_artifact_data
from grader.child.protocol import ChildRequest, DataRef, ProbePlan, SearchBudget, ServePlan
from grader.discover import SubmissionRef
from grader.errors import SubmissionError
from grader.evaluate import Bounds, Evaluation, evaluate_best, saved_optimizer, step_budget
from grader.evaluator import Evaluator
from grader.evaluator import shared as shared_evaluator
from grader.fingerprint import fingerprint
from grader.results import GradeResult, Status, to_jsonable
from grader.runner import Confinement, run_child, start_session
from grader.settings import RunSettings
from grader.trainer.wire import TRAINER_FORMAT, SearchRequest


def _request(loaded: submission.LoadedSubmission, settings: RunSettings) -> ChildRequest:
    spec, budget = settings.spec, settings.budget
    batch_size, epochs = settings.batch_size, settings.epochs
    split_dir = _split_dir(settings)
    rows = datasets.train_rows(split_dir)
    trained_steps = math.ceil(_trained(rows, settings.subset) / batch_size)
    calling = spec.calling
    return ChildRequest(
        submission_id=loaded.ref.id,
        chunks=tuple(loaded.chunks),
        cells=tuple(loaded.cells),
        class_name=spec.class_name,
        seed=settings.effective_seed,
        objective=spec.objective,
        executions_per_trial=spec.executions_per_trial,
        tuner=calling.tuner,
        objective_direction=calling.direction,
        validation=calling.validation,
        validation_split=calling.validation_split,
        budget=SearchBudget(**budget.search_limits()),
        data=DataRef(
            split_dir=str(split_dir),
            validation_size=spec.validation_size,
            num_classes=spec.num_classes,
            input_dim=spec.input_dim,
            input_shape=tuple(spec.data.input_shape),
            labels=spec.data.labels,
            subset=settings.subset,
        ),
        # The schedule is judged on the assignment's whole split, and the best trial's
        # callback dry-run on the batches training really had (fewer under --subset), so
        # the rate saved with the best model is compared with the simulation at the step
        # it was saved.
        probe=ProbePlan(math.ceil(rows / batch_size), trained_steps, epochs),
        threads=settings.threads,
        search=settings.training == "sandbox",
        # The child declares at the trainer's request (grader.training); the tables of
        # rates written as code cover the budget's epochs.
        serve=ServePlan(trained_steps, budget.max_epochs)
        if settings.training == "grader"
        else None,
    )


def grade_one(ref: SubmissionRef, settings: RunSettings, test: data.TestSet) -> GradeResult:
    """Grade one submission; never raises for anything the submission does."""
    timings: dict[str, float] = {}
    start = time.monotonic()
    try:
        loaded = submission.load_within(ref, settings.effective_limits, lang=settings.lang)
    except SubmissionError as exc:
        return GradeResult.without_results(
            settings.assessment,
            id=ref.id,
            sha256=submission.file_sha256(ref.path),
            status=Status(exc.status),
            # The hint (what to do) is the student's too, not only the terminal's.
            message=f"{exc.message} ({exc.hint})" if exc.hint else exc.message,
            source_path=str(ref.path),
        )
    timings["load"] = round(time.monotonic() - start, 3)
    scratch = Path(tempfile.mkdtemp(prefix=f"grader-{_safe(ref.id)}-"))
    try:
        request = _request(loaded, settings)
        t = time.monotonic()
        # The same program's training under the same settings, if one is stored: its
        # outcome and evaluation are reused, and only the scoring below runs for this file.
        shared = reuse.find(settings, loaded, request)
        trained: training.Trained | None = None
        if shared is not None:
            outcome = shared.outcome
        elif settings.training == "grader":
            trained = _train(request, scratch, settings, test)
            outcome = trained.outcome
        else:
            outcome = _run(request, scratch, settings)
        timings["child"] = round(time.monotonic() - t, 3)
        evaluation: Evaluation | None = None
        best = outcome.answer.best if outcome.answer else None
        message_override: SubmissionError | None = None
        optimizer = None
        artifacts = NO_ARTIFACTS
        model_json: str | None = None
        keras_config: dict[str, Any] | None = None
        declared: DeclaredEvidence | None = None  # what the grader's trainer trained
        who = shared.training if shared is not None else "sandbox" if best else ""
        if trained is not None and trained.training == "grader":
            # What the checks grade: the declaration the trainer built the best model from.
            who = "grader"
            model_json, keras_config = trained.model_json, trained.keras_config
            if best:
                artifacts, declared = from_data(model_json, keras_config), trained.evidence
            evaluation, optimizer = trained.evaluation, trained.saved_optimizer
            message_override = trained.failure
            if trained.shared:  # another submission's search: this one only declared
                timings["search_shared"] = timings["child"]
        elif best and shared is None:
            # What the checks grade: the trained model's files, read as capped data.
            problems: list[str] = []
            model_json, keras_config = read_artifact_data(scratch, best, problems)
            artifacts = from_data(model_json, keras_config, problems)
            t = time.monotonic()
            try:
                evaluation = _evaluate(scratch, settings, test)
            except SubmissionError as exc:
                message_override = exc
            timings["evaluate"] = round(time.monotonic() - t, 3)
            if best.model_file:
                optimizer = saved_optimizer(scratch)
        if shared is not None:
            evaluation, optimizer = shared.evaluation, shared.saved_optimizer
            if best:
                artifacts = from_data(shared.model_json, shared.keras_config)
                declared = shared.declared
            timings.update(shared.timings, reused=timings["child"])  # reused: the look-up
        else:
            cost = {k: timings[k] for k in ("child", "evaluate") if k in timings}
            stored = reuse.Training(
                outcome,
                evaluation,
                optimizer,
                cost,
                model_json=model_json,
                keras_config=keras_config,
                training=who,
                declared=declared,
            )
            reuse.record(
                settings, loaded, request, stored, evaluation_failed=bool(message_override)
            )
        if declared is not None:  # what the grader trained is what the checks judge
            artifacts = dataclasses.replace(artifacts, declared=declared)
        timings["total"] = round(time.monotonic() - start, 3)
        measured = score.Measured(evaluation, optimizer, artifacts)
        result = score.assemble(settings, loaded, outcome, measured, timings=timings)
        result = dataclasses.replace(
            result,
            training=who,
            notes=(*_training_notes(who, trained, settings.lang), *result.notes),
        )
        if message_override:
            result = dataclasses.replace(
                result, status=Status(message_override.status), message=message_override.message
            )
        return result
    except Exception as exc:  # a grader bug must cost one result, not the batch
        # The traceback goes to the batch's grader.log; the report says so in its language.
        logging.getLogger("grader.batch").exception("grader fault on %s while grading", ref.id)
        return GradeResult.without_results(
            settings.assessment,
            id=ref.id,
            sha256=loaded.sha256,
            status=Status.ERROR,
            message=i18n.say(
                "fault.message",
                settings.lang,
                stage=i18n.text("fault.stages.grade", settings.lang),
                error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
            ),
            source_path=str(ref.path),
        )
    finally:
        if not settings.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _training_notes(who: str, trained: training.Trained | None, lang: str) -> tuple[str, ...]:
    """What the report says of who trained the submission (result.json's `training`)."""
    if who == "grader":
        notes = [score.note("trained_by_grader", lang)]
        if trained is not None and trained.inconsistent:
            notes.append(score.note("declarations_differ", lang))
        return tuple(notes)
    if who == "sandbox" and trained is not None and trained.reasons:
        return (score.note("trained_in_sandbox", lang, reasons="; ".join(trained.reasons)),)
    return ()


def _split_dir(settings: RunSettings) -> Path:
    """The prepared training/validation arrays the child reads (built once per machine)."""
    return datasets.prepare_split(settings.cache, settings.spec.data)


def _run(request: ChildRequest, scratch: Path, settings: RunSettings) -> Any:
    budget = settings.budget
    # The evaluator is needed once the child is done: started now, its TensorFlow import
    # overlaps the child's (one core each) instead of following it.
    _evaluator(settings).warm()
    return run_child(
        request,
        scratch,
        _confinement(settings),
        hard_timeout=budget.hard_seconds,
        threads=settings.threads,
    )


def _train(
    request: ChildRequest, scratch: Path, settings: RunSettings, test: data.TestSet
) -> training.Trained:
    """The train stage (grader.training): the child declares, the trainer trains."""
    spec, budget = settings.spec, settings.budget
    split_dir = _split_dir(settings)
    trainer = _evaluator(settings)
    trainer.warm()  # its TensorFlow import overlaps the child's
    session = start_session(
        request,
        scratch,
        _confinement(settings),
        hard_timeout=budget.hard_seconds,
        threads=settings.threads,
    )
    limits = budget.search_limits()

    def search(folder: str) -> SearchRequest:
        return SearchRequest(
            folder=folder,
            split_dir=str(split_dir),
            subset=settings.subset,
            seed=settings.effective_seed,
            tuner=spec.calling.tuner,
            objective=spec.objective,
            direction=spec.calling.direction,
            executions_per_trial=spec.executions_per_trial,
            max_trials=int(limits["max_trials"]),
            max_epochs=int(limits["max_epochs"]),
            trial_seconds=float(limits["trial_seconds"]),
            submission_seconds=float(limits["submission_seconds"]),
            validation=request.validation,
            validation_split=request.validation_split,
            images=None,
        )

    plan = training.Plan(
        search=search,
        trainer=trainer,
        limits=settings.effective_limits,
        seconds=budget.hard_seconds,
        objective=spec.objective,
        test_images=test.x_test,
        test_labels=test.y_test,
        labels=test.labels,
        num_classes=test.num_classes,
        on_progress=training.progress_to(scratch),
        lang=settings.lang,
        store=None
        if settings.reuse is None
        else training.SearchStore(
            settings.reuse.store, _search_base(settings), read=settings.reuse.read
        ),
    )
    return training.train(session, plan)


def _search_base(settings: RunSettings) -> str:
    """Everything a trained search depends on besides the submission's declarations: the
    data, the budget, the seed, the tuner, the libraries and the machine (the calibration's
    fingerprint: the CPU changes the rounding, so a store never lends across CPUs)."""
    spec = settings.spec
    values = {
        "fingerprint": fingerprint(settings),
        "data": spec.data.arrays_key(),
        "subset": settings.subset,
        "seed": settings.effective_seed,
        "limits": settings.budget.search_limits(),
        "objective": spec.objective,
        "executions_per_trial": spec.executions_per_trial,
        "calling": spec.calling.request(),
        "limits_resources": to_jsonable(settings.effective_limits),
        "trainer": TRAINER_FORMAT,
    }
    return store.settings_hash(values)


def _evaluate(scratch: Path, settings: RunSettings, test: data.TestSet) -> Evaluation:
    """Test accuracy computed for the parent by its evaluator; no student code takes part.

    A best model that is not plain Keras is not evaluated on the test set at all: its
    accuracy goes to the instructor for review (grader/evaluate.py).
    """
    limits = settings.effective_limits
    evaluator = _evaluator(settings)
    bounds = Bounds(limits, _step_budget(settings))
    return evaluate_best(
        scratch, test, evaluator, bounds, seed=settings.effective_seed, lang=settings.lang
    )


def _evaluator(settings: RunSettings) -> Evaluator:
    """This process's evaluator for the batch's limits, threads and sandbox."""
    limits = settings.effective_limits
    return shared_evaluator(
        # It trains too (grader.training): the larger of the two memory limits.
        memory_mb=max(limits.eval_memory_mb, limits.memory_mb),
        threads=settings.threads,
        sandbox=settings.sandbox,
        hidden=_hidden(settings),
        readable=[_split_dir(settings)],
        seed=settings.effective_seed,
    )


def _step_budget(settings: RunSettings) -> int:
    """Optimizer steps one training may take: max_epochs x batches of the spec's batch_size."""
    rows = _trained(datasets.train_rows(_split_dir(settings)), settings.subset)
    return step_budget(settings.budget.max_epochs, rows, settings.batch_size)


def _trained(rows: int, subset: int | None) -> int:
    """Training images the child trains on: the split's `rows`, or the first N of them."""
    return rows if subset is None else min(rows, subset)


def _confinement(settings: RunSettings) -> Confinement:
    """The child's sandbox and limits; the split is all of the data it may read."""
    return Confinement(
        settings.sandbox,
        settings.effective_limits,
        readable=(_split_dir(settings),),
        # Every other copy of the dataset holds the test set: none may be visible.
        hidden=tuple(_hidden(settings)),
    )


def _hidden(settings: RunSettings) -> list[Path]:
    # Every copy of the dataset that holds the test set's labels; and the instructors'
    # material (reference solutions, examples, calibrations): in an installed wheel the
    # shipped assignments sit inside the venv the sandbox binds read-only, and an
    # --assignments-dir may lie under a bound folder too.
    return [
        *datasets.hidden(settings.cache, settings.spec.data),
        resources.ASSIGNMENTS,
        settings.spec.directory,
    ]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
