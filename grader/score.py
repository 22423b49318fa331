"""Turn what the stages found into one `GradeResult`: checks, score, status, notes.

The inputs are data only: the loaded submission (parent), the child's answer (checked
once at the boundary: `grader.boundary.ChildAnswer`),
the parent's own evaluation and the spec. The child's claims about accuracy are never
used; the test accuracy comes from `grader.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader import __version__, checks, excerpts, i18n
from grader.artifacts import NO_ARTIFACTS, ModelArtifacts
from grader.boundary import AnswerStatus, ChildAnswer, ProbeRecord
from grader.evaluate import Evaluation
from grader.limits import TrialOverrun
from grader.results import (
    GradeResult,
    ReferenceCalibration,
    Status,
    TrialResult,
    TrialStatus,
)
from grader.runner import ChildEnd, ChildOutcome
from grader.settings import RunSettings
from grader.spec import Budget, Spec
from grader.submission import LoadedSubmission

# The texts are in the catalogs' [notes], [stages] and [status_messages] tables
# (grader/i18n/<lang>.toml); these are the `{key: {lang: text}}` views of them.
NOTES = i18n.messages("notes")
# The child's stages, as a student would name them.
STAGES = i18n.messages("stages")
STATUS_MESSAGES = i18n.messages("status_messages")


# What the child seeds with the run's seed (grader/worker.py, grader/runner.py).
SEEDED = ("python", "numpy", "backend", "oracle", "PYTHONHASHSEED")


def overrun_message(run: TrialOverrun, lang: str) -> str:
    """Which trial the parent's own clock stopped, and by how much it overran."""
    key = "wrapup_timeout" if run.after_last else "trial_timeout"
    return STATUS_MESSAGES[key][lang].format(
        trial=run.trial, trials=run.trials, seconds=run.seconds, limit=run.limit,
        grace=run.grace, over=run.over,
    )  # fmt: skip


def note(key: str, lang: str, **values: Any) -> str:
    return NOTES[key][lang].format(**values)


def _error_text(answer: ChildAnswer, lang: str) -> str:
    error = answer.error
    if error is None:
        text = f"Error: {answer.message}"
    else:
        text = f"{error.type}: {error.message}"
        if error.location is not None:
            # In the report's language: `str(Location)` is English ("line 4").
            text += f" ({i18n.location(error.location.cell, error.location.line, lang)})"
    failed = [t for t in answer.trials if t.status in (TrialStatus.FAILED, TrialStatus.INVALID)]
    if failed and failed[0].message:
        text += "\n" + failed[0].message
    return text


def _first_trial_error(answer: ChildAnswer) -> str:
    """The exception line of the first failed trial's traceback."""
    for trial in answer.trials:
        lines = [line for line in trial.message.splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return "?"


def _search_without_result(answer: ChildAnswer) -> bool:
    """The search ran trials, and none produced a score (each failed or was invalid)."""
    return bool(answer.trials) and all(t.objective_value is None for t in answer.trials)


def _trials(answer: ChildAnswer | None) -> tuple[TrialResult, ...]:
    # Every value was range-checked by grader.boundary, so result.json stays valid.
    return tuple(
        TrialResult(
            id=t.id,
            hyperparameters=dict(t.hyperparameters),
            val_accuracy=t.objective_value,
            epochs=t.epochs,
            seconds=t.seconds,
            status=t.status,
            history={k: list(v) for k, v in t.history.items()},
            message=t.message,
        )
        for t in (answer.trials if answer else ())
    )


@dataclass(frozen=True)
class Measured:
    """What the grader itself found of the best model, beside the child's word: its test
    evaluation (None: not evaluated), the optimizer state saved with it (the fallback's
    file), and its architecture and compile config read as data."""

    evaluation: Evaluation | None = None
    saved_optimizer: Mapping[str, Any] | None = None
    artifacts: ModelArtifacts = NO_ARTIFACTS


def assemble(
    settings: RunSettings,
    loaded: LoadedSubmission,
    outcome: ChildOutcome,
    measured: Measured = Measured(),
    *,
    timings: dict[str, float],
) -> GradeResult:
    """One submission's `GradeResult` under `settings`: its checks run on the child's
    outcome and what was `measured`, its status, message and notes."""
    spec, budget, lang, subset = settings.spec, settings.budget, settings.lang, settings.subset
    seed, calibration = settings.effective_seed, settings.calibration
    evaluation = measured.evaluation
    answer = outcome.answer
    best = answer.best if answer else None
    record = answer.probe if answer and answer.probe is not None else ProbeRecord()
    # A subset's accuracy is not comparable with the full-data reference.
    calibration = calibration if subset is None else None
    reference = calibration.test_mean if calibration else None
    context = checks.CheckContext(
        record=record,
        lang=lang,
        loaded=loaded,
        test_accuracy=evaluation.test_accuracy if evaluation else None,
        reference_test_accuracy=reference,
        reference_sd=calibration.test_sd if calibration else None,
        budget=budget.name,
        baselines=spec.baselines,
        saved_optimizer=measured.saved_optimizer,
        artifacts=measured.artifacts,
        evaluation=evaluation,
        val_accuracy=best.objective_value if best else None,
    )
    results = checks.run_checks(spec, context, include_hidden=settings.include_hidden)
    results = excerpts.with_snippets(results, loaded.cells)  # reports quote the code

    stage_code = answer.stage if answer else "start"
    stage = STAGES[stage_code][lang] if stage_code in STAGES else stage_code
    if outcome.end is ChildEnd.RESOURCE_LIMIT and outcome.breach is not None:
        status = Status.RESOURCE_LIMIT
        message = STATUS_MESSAGES["resource_limit"][lang].format(
            what=outcome.breach.describe(), stage=stage
        )
    elif outcome.end is ChildEnd.REFUSED and outcome.progress_refusal is not None:
        status = Status.ERROR
        message = STATUS_MESSAGES["progress_refused"][lang].format(
            stage=stage, reason=outcome.progress_refusal.text(lang)
        )
    elif outcome.end is ChildEnd.TIMEOUT and outcome.overrun is not None:
        status = Status.TIMEOUT
        message = overrun_message(outcome.overrun, lang)
    elif outcome.end is ChildEnd.TIMEOUT:
        status = Status.TIMEOUT
        # The limit the child passed (Budget.hard_seconds, as pipeline._run applies it), not
        # the measured time: the kill lands a little later on a loaded machine, and "(11 s)"
        # would misstate a 10 s rule.
        message = STATUS_MESSAGES["timeout"][lang].format(seconds=budget.hard_seconds, stage=stage)
    elif outcome.answer_refusal is not None:
        status = Status.ERROR
        message = STATUS_MESSAGES["answer_refused"][lang].format(
            stage=stage, reason=outcome.answer_refusal
        )
    elif outcome.end is ChildEnd.CRASHED:
        status = Status.ERROR
        message = STATUS_MESSAGES["crashed"][lang].format(code=outcome.returncode, stage=stage)
    elif answer is not None and answer.status is AnswerStatus.ERROR:
        status = Status.ERROR
        message = STATUS_MESSAGES["error"][lang].format(
            stage=stage, error=_error_text(answer, lang)
        )
    elif answer is not None and _search_without_result(answer):
        status = Status.ERROR
        message = STATUS_MESSAGES["no_trial"][lang].format(error=_first_trial_error(answer))
    else:
        status = Status.GRADED
        message = ""

    notes = [
        note(
            code,
            lang,
            budget=budget.name,
            max_epochs=budget.max_epochs,
            seconds=budget.submission_seconds,
        )
        for code in (answer.notes if answer else ())
        if code in NOTES
    ]
    for failure in answer.import_failures if answer else ():
        where = i18n.location(failure.location.cell, failure.location.line, lang)
        notes.append(note("import_failed", lang, where=where, message=failure.message))
    if subset is not None:
        notes.append(note("subset", lang, subset=subset))
    if not settings.sandbox.enabled:
        notes.append(note("no_sandbox", lang))
    if outcome.output_bytes > len(outcome.log_tail.encode("utf-8", "replace")):
        notes.append(note("output_truncated", lang, size=outcome.output_bytes))
    notes.extend(_calibration_notes(calibration, seed, lang, spec=spec, budget=budget))

    # The child may not claim to be another grader.
    child_versions = {k: v for k, v in (answer.versions if answer else {}).items() if k != "grader"}
    versions = {"grader": __version__, **child_versions}
    child_timings = {f"child_{k}": v for k, v in (answer.timings if answer else {}).items()}
    return GradeResult(
        id=loaded.ref.id,
        sha256=loaded.sha256,
        assignment=spec.id,
        budget=budget.name,
        status=status,
        message=message,
        score=round(sum(c.points for c in results), 4),
        max_score=round(sum(c.max_points for c in results), 4),
        checks=results,
        test_accuracy=evaluation.test_accuracy if evaluation else None,
        test_loss=evaluation.test_loss if evaluation else None,
        val_accuracy=best.objective_value if best else None,
        best_hyperparameters=dict(best.hyperparameters) if best else {},
        trials=_trials(answer),
        learning_rate=excerpts.learning_rate_curves(record, spec),
        baselines=spec.baselines,
        reference_test_accuracy=reference,
        calibration=calibration,
        seeds={name: seed for name in SEEDED},
        skipped_statements=loaded.skipped,
        notes=tuple(notes),
        timings={**timings, **child_timings},
        versions=versions,
        source_path=str(loaded.ref.path),
    )


def _calibration_notes(
    calibration: ReferenceCalibration | None,
    seed: int,
    lang: str,
    *,
    spec: Spec | None = None,
    budget: Budget | None = None,
) -> list[str]:
    out = [note("seeds", lang, seed=seed)]
    if calibration is None:
        return out
    out.append(
        note(
            "calibration",
            lang,
            seeds=", ".join(str(s) for s in calibration.seeds),
            mean=i18n.percent(calibration.test_mean, lang),
            sd=i18n.number(100 * calibration.test_sd, lang, 2),
        )
    )
    rubric = spec.rubric if spec is not None else ()
    accuracy = next((item for item in rubric if item.id == "accuracy"), None)
    done = len(calibration.seeds)
    if budget is not None and accuracy is not None and done < budget.calibration_seeds:
        # Fewer runs than asked (the exam's take half an hour each): the band stands on
        # the floor, or on a spread measured on too few seeds; the reader should know.
        floor = checks.accuracy.sd_floor(accuracy.params)
        on_floor = calibration.test_sd <= floor
        out.append(
            note(
                "calibration_incomplete_floor" if on_floor else "calibration_incomplete",
                lang,
                done=done,
                wanted=budget.calibration_seeds,
                floor=i18n.number(100 * floor, lang),
                sd=i18n.number(100 * calibration.test_sd, lang, 2),
                budget=budget.name,
            )
        )
    if calibration.computed_now:
        out.append(note("calibration_computed", lang, reason=calibration.computed_now))
    if calibration.measured_on:
        out.append(
            note(
                "calibration_other_machine",
                lang,
                cpu=calibration.measured_on,
                budget=budget.name if budget is not None else calibration.budget,
            )
        )
    return out
