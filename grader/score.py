"""Turn what the stages found into one `GradeResult`: checks, score, status, notes.

The inputs are data only: the loaded submission (parent), the child's answer (JSON),
the parent's own evaluation and the spec. The child's claims about accuracy are never
used; the test accuracy comes from `grader.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader import __version__, checks, excerpts
from grader.evaluate import Evaluation
from grader.results import (
    GradeResult,
    Location,
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
    "predict": {"es": "la predicción del conjunto de test", "en": "the test-set prediction"},
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


def note(key: str, lang: str, **values: Any) -> str:
    return NOTES[key][lang].format(**values)


def _error_text(answer: dict[str, Any]) -> str:
    error = answer.get("error") or {}
    text = f"{error.get('type', 'Error')}: {error.get('message', answer.get('message', ''))}"
    loc = error.get("location")
    if loc:
        text += f" ({Location(loc.get('cell'), loc.get('line'))})"
    failed = [t for t in answer.get("trials", []) if t.get("status") in ("failed", "invalid")]
    if failed and failed[0].get("message"):
        text += "\n" + failed[0]["message"]
    return text


def _first_trial_error(answer: dict[str, Any]) -> str:
    """The exception line of the first failed trial's traceback."""
    for trial in answer.get("trials", []):
        lines = [line for line in str(trial.get("message", "")).splitlines() if line.strip()]
        if lines:
            return lines[-1].strip()
    return "?"


def _search_without_result(answer: dict[str, Any], objective: str) -> bool:
    """The search ran trials, and none produced a score (each failed or was invalid)."""
    trials = answer.get("trials") or []
    return bool(trials) and all(t.get(objective) is None for t in trials)


def _trials(answer: dict[str, Any], objective: str) -> tuple[TrialResult, ...]:
    return tuple(
        TrialResult(
            id=str(t["id"]),
            hyperparameters=dict(t.get("hyperparameters", {})),
            val_accuracy=t.get(objective),
            epochs=int(t.get("epochs", 0)),
            seconds=float(t.get("seconds", 0.0)),
            status=TrialStatus(t.get("status", "invalid")),
            history={k: list(v) for k, v in (t.get("history") or {}).items()},
            message=str(t.get("message", ""))[:4000],
        )
        for t in answer.get("trials", [])
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
    sandboxed: bool = True,
) -> GradeResult:
    answer = outcome.answer or {}
    best = answer.get("best") or {}
    seed = spec.seed if seed is None else seed
    # A subset's accuracy is not comparable with the full-data reference.
    calibration = calibration if subset is None else None
    reference = calibration.test_mean if calibration else None
    context = checks.CheckContext(
        record=answer.get("probe") or {},
        lang=lang,
        loaded=loaded,
        test_accuracy=evaluation.test_accuracy if evaluation else None,
        reference_test_accuracy=reference,
        reference_sd=calibration.test_sd if calibration else None,
        budget=budget.name,
        baselines=spec.baselines,
        saved_optimizer=saved_optimizer,
    )
    results = checks.run_checks(spec, context, include_hidden=include_hidden)
    results = excerpts.with_snippets(results, loaded.cells)  # reports quote the code

    stage_code = answer.get("stage", "start")
    stage = STAGES.get(stage_code, {}).get(lang, stage_code)
    if outcome.end is ChildEnd.RESOURCE_LIMIT and outcome.breach is not None:
        status = Status.RESOURCE_LIMIT
        message = STATUS_MESSAGES["resource_limit"][lang].format(
            what=outcome.breach.describe(), stage=stage
        )
    elif outcome.end is ChildEnd.TIMEOUT:
        status = Status.TIMEOUT
        message = STATUS_MESSAGES["timeout"][lang].format(seconds=outcome.seconds, stage=stage)
    elif outcome.end is ChildEnd.CRASHED:
        status = Status.ERROR
        message = STATUS_MESSAGES["crashed"][lang].format(code=outcome.returncode, stage=stage)
    elif answer.get("status") == "error":
        status = Status.ERROR
        message = STATUS_MESSAGES["error"][lang].format(stage=stage, error=_error_text(answer))
    elif _search_without_result(answer, spec.objective):
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
        for code in answer.get("notes", [])
        if code in NOTES
    ]
    for failure in answer.get("import_failures", []):
        where = Location(failure.get("cell"), int(failure.get("line", 0)))
        notes.append(note("import_failed", lang, where=where, message=failure.get("message")))
    if subset is not None:
        notes.append(note("subset", lang, subset=subset))
    if not sandboxed:
        notes.append(note("no_sandbox", lang))
    if outcome.output_bytes > len(outcome.log_tail.encode("utf-8", "replace")):
        notes.append(note("output_truncated", lang, size=outcome.output_bytes))
    notes.extend(_calibration_notes(calibration, seed, lang))

    versions = {"grader": __version__, **{k: str(v) for k, v in answer.get("versions", {}).items()}}
    child_timings = {f"child_{k}": float(v) for k, v in answer.get("timings", {}).items()}
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
        val_accuracy=best.get(spec.objective),
        best_hyperparameters=dict(best.get("hyperparameters", {})),
        trials=_trials(answer, spec.objective),
        learning_rate=excerpts.learning_rate_curves(answer.get("probe") or {}, spec),
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


def _calibration_notes(calibration: ReferenceCalibration | None, seed: int, lang: str) -> list[str]:
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
    if calibration.computed_now:
        out.append(note("calibration_computed", lang, reason=calibration.computed_now))
    return out
