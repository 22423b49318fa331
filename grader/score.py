"""Turn what the stages found into one `GradeResult`: checks, score, status, notes.

The inputs are data only: the loaded submission (parent), the child's answer (checked
once at the boundary: `grader.boundary.ChildAnswer`),
the parent's own evaluation and the spec. The child's claims about accuracy are never
used; the test accuracy comes from `grader.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader import __version__, checks, excerpts
from grader.artifacts import NO_ARTIFACTS, ModelArtifacts
from grader.boundary import AnswerStatus, ChildAnswer
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
from grader.spec import Budget, Spec
from grader.submission import LoadedSubmission

NOTES = {
    "no_sandbox": {
        "es": "Corregido SIN aislamiento (--no-sandbox): el código se ejecutó con acceso a "
        "la red y a los ficheros del corrector.",
        "en": "Graded WITHOUT isolation (--no-sandbox): the code ran with access to the "
        "network and to the grader's files.",
    },
    "output_truncated": {
        "es": "Tu código imprimió {size} bytes; el informe guarda solo el principio y el final.",
        "en": "Your code printed {size} bytes; the report keeps only the beginning and the end.",
    },
    "callbacks_restored": {
        "es": "Tu fit() no pasó a Model.fit los callbacks del tuner (kwargs['callbacks']); "
        "el corrector los volvió a añadir para poder recuperar el mejor modelo.",
        "en": "Your fit() did not pass the tuner's callbacks (kwargs['callbacks']) on to "
        "Model.fit; the grader added them back so the best model could be recovered.",
    },
    "epochs_clamped": {
        "es": "El presupuesto '{budget}' limita cada entrenamiento a {max_epochs} época(s).",
        "en": "The '{budget}' budget limits every training run to {max_epochs} epoch(s).",
    },
    "search_stopped_for_time": {
        "es": "La búsqueda se detuvo al agotarse el tiempo ({seconds:.0f} s); "
        "cuentan los trials terminados.",
        "en": "The search stopped when its time ran out ({seconds:.0f} s); "
        "the finished trials count.",
    },
    "subset": {
        "es": "Entrenado con un subconjunto de {subset} imágenes "
        "(no comparable con la referencia).",
        "en": "Trained on a subset of {subset} images (not comparable with the reference).",
    },
    "seeds": {
        "es": "Semilla {seed} para Python, NumPy, el backend, el oráculo del tuner y "
        "PYTHONHASHSEED: volver a corregir da los mismos números en esta máquina.",
        "en": "Seed {seed} for Python, NumPy, the backend, the tuner's oracle and "
        "PYTHONHASHSEED: grading again gives the same numbers on this machine.",
    },
    "calibration": {
        "es": "La referencia se calibró con este presupuesto y las semillas {seeds}: "
        "{mean} de media en test (desviación típica {sd} puntos porcentuales).",
        "en": "The reference was calibrated under this budget with seeds {seeds}: "
        "{mean} mean test accuracy (standard deviation {sd} percentage points).",
    },
    "calibration_computed": {
        "es": "La calibración de la referencia se calculó en esta ejecución ({reason}).",
        "en": "The reference's calibration was computed during this run ({reason}).",
    },
    "calibration_incomplete_floor": {
        "es": "La referencia se calibró con {done} de las {wanted} semillas que pide este "
        "presupuesto; la banda usa la dispersión mínima (sd_floor = {floor} puntos). "
        "Para completarla: `grade calibrate --budget {budget}`.",
        "en": "The reference was calibrated with {done} of the {wanted} seeds this budget "
        "asks for; the band uses the minimum spread (sd_floor = {floor} points). "
        "To complete it: `grade calibrate --budget {budget}`.",
    },
    "calibration_incomplete": {
        "es": "La referencia se calibró con {done} de las {wanted} semillas que pide este "
        "presupuesto; la banda usa la desviación típica de esas {done} ({sd} puntos), menos "
        "fiable. Para completarla: `grade calibrate --budget {budget}`.",
        "en": "The reference was calibrated with {done} of the {wanted} seeds this budget "
        "asks for; the band uses the standard deviation of those {done} ({sd} points), "
        "a rougher estimate. To complete it: `grade calibrate --budget {budget}`.",
    },
    "import_failed": {
        "es": "Import omitido en {where}: {message}",
        "en": "Import skipped at {where}: {message}",
    },
}

# The child's stages, as a student would name them.
STAGES = {
    "start": {"es": "el arranque", "en": "start-up"},
    "load": {
        "es": "la ejecución de tus imports y definiciones",
        "en": "the run of your imports and definitions",
    },
    "probe": {
        "es": "la inspección de MyHyperModel (build y fit, sin entrenar)",
        "en": "the inspection of MyHyperModel (build and fit, no training)",
    },
    "search": {"es": "la búsqueda (entrenamiento)", "en": "the search (training)"},
}

STATUS_MESSAGES = {
    "no_trial": {
        "es": "Ningún trial de la búsqueda terminó, así que no hay modelo que evaluar: {error}",
        "en": "No trial of the search finished, so there is no model to evaluate: {error}",
    },
    "resource_limit": {
        "es": "Tu código superó un límite de recursos durante {stage} y se detuvo ({what}).",
        "en": "Your code exceeded a resource limit during {stage} and was stopped ({what}).",
    },
    "timeout": {
        "es": "Se superó el tiempo máximo ({seconds:.0f} s) durante {stage} y el "
        "proceso se detuvo (¿un bucle sin fin o una espera?).",
        "en": "The time limit ({seconds:.0f} s) was exceeded during {stage} and "
        "the process was stopped (an endless loop or a wait?).",
    },
    "trial_timeout": {
        "es": "El trial {trial} de {trials} llevaba {seconds:.0f} s, {over:.0f} s más que su "
        "límite de {limit:.0f} s (el grader da {grace:.0f} s de margen), y el grader detuvo "
        "el proceso. Los trials terminados se muestran, pero no hay modelo que evaluar.",
        "en": "Trial {trial} of {trials} had run {seconds:.0f} s, {over:.0f} s over its "
        "limit of {limit:.0f} s (the grader allows {grace:.0f} s of grace), and the grader "
        "stopped the process. The finished trials are shown, but there is no model to evaluate.",
    },
    "wrapup_timeout": {
        "es": "Tras el último trial ({trials} de {trials}) la búsqueda no terminó en "
        "{seconds:.0f} s (límite {limit:.0f} s más {grace:.0f} s de margen) y el grader "
        "detuvo el proceso.",
        "en": "After the last trial ({trials} of {trials}) the search did not end within "
        "{seconds:.0f} s (limit {limit:.0f} s plus {grace:.0f} s of grace) and the grader "
        "stopped the process.",
    },
    "progress_refused": {
        "es": "El grader detuvo tu código durante {stage}: {reason}. Ese archivo es del "
        "grader; tu código no debe escribirlo.",
        "en": "The grader stopped your code during {stage}: {reason}. That file is the "
        "grader's; your code must not write it.",
    },
    "answer_refused": {
        "es": "El corrector no aceptó la respuesta del proceso que ejecutaba tu código "
        "(durante {stage}) y no la usa para calificar: {reason}.",
        "en": "The grader refused the answer of the process running your code "
        "(during {stage}) and does not grade from it: {reason}.",
    },
    "crashed": {
        "es": "El proceso que ejecutaba tu código terminó de forma inesperada "
        "(código {code}) durante {stage}.",
        "en": "The process running your code ended unexpectedly (exit code {code}) during {stage}.",
    },
    "error": {
        "es": "Tu código falló durante {stage}: {error}",
        "en": "Your code failed during {stage}: {error}",
    },
}


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


def _error_text(answer: ChildAnswer) -> str:
    error = answer.error
    if error is None:
        text = f"Error: {answer.message}"
    else:
        text = f"{error.type}: {error.message}"
        if error.location is not None:
            text += f" ({error.location})"
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


def assemble(
    *,
    spec: Spec,
    budget: Budget,
    loaded: LoadedSubmission,
    outcome: ChildOutcome,
    evaluation: Evaluation | None,
    lang: str,
    subset: int | None,
    timings: dict[str, float],
    include_hidden: bool = True,
    seed: int | None = None,
    calibration: ReferenceCalibration | None = None,
    saved_optimizer: Mapping[str, Any] | None = None,
    artifacts: ModelArtifacts = NO_ARTIFACTS,
    sandboxed: bool = True,
) -> GradeResult:
    answer = outcome.answer
    best = answer.best if answer else None
    record = answer.probe if answer and answer.probe is not None else {}
    seed = spec.seed if seed is None else seed
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
        saved_optimizer=saved_optimizer,
        artifacts=artifacts,
        evaluation=evaluation,
        val_accuracy=best.objective_value if best else None,
    )
    results = checks.run_checks(spec, context, include_hidden=include_hidden)
    results = excerpts.with_snippets(results, loaded.cells)  # reports quote the code

    stage_code = answer.stage if answer else "start"
    stage = STAGES.get(stage_code, {}).get(lang, stage_code)
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
        message = STATUS_MESSAGES["timeout"][lang].format(seconds=outcome.seconds, stage=stage)
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
        message = STATUS_MESSAGES["error"][lang].format(stage=stage, error=_error_text(answer))
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
        notes.append(note("import_failed", lang, where=failure.location, message=failure.message))
    if subset is not None:
        notes.append(note("subset", lang, subset=subset))
    if not sandboxed:
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
            mean=f"{100 * calibration.test_mean:.2f}%",
            sd=f"{100 * calibration.test_sd:.2f}",
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
                floor=f"{100 * floor:g}",
                sd=f"{100 * calibration.test_sd:.2f}",
                budget=budget.name,
            )
        )
    if calibration.computed_now:
        out.append(note("calibration_computed", lang, reason=calibration.computed_now))
    return out
