"""Turn what the stages found into one `GradeResult`: checks, score, status, notes.

The inputs are data only: the loaded submission (parent), the child's answer (JSON),
the parent's own evaluation and the spec. The child's claims about accuracy are never
used; the test accuracy comes from `grader.evaluate`.
"""

from __future__ import annotations

from typing import Any

from grader import __version__, checks
from grader.evaluate import Evaluation
from grader.results import GradeResult, Location, Status, TrialResult, TrialStatus
from grader.runner import ChildEnd, ChildOutcome
from grader.spec import Budget, Spec
from grader.submission import LoadedSubmission

NOTES = {
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
    "import_failed": {
        "es": "Import omitido en {where}: {message}",
        "en": "Import skipped at {where}: {message}",
    },
}

STATUS_MESSAGES = {
    "timeout": {
        "es": "Se superó el tiempo máximo ({seconds:.0f} s) y el proceso se detuvo.",
        "en": "The time limit ({seconds:.0f} s) was exceeded and the process was stopped.",
    },
    "crashed": {
        "es": "El proceso que ejecutaba tu código terminó de forma inesperada "
        "(código {code}) durante la etapa '{stage}'.",
        "en": "The process running your code ended unexpectedly (exit code {code}) "
        "during the '{stage}' stage.",
    },
    "error": {
        "es": "Tu código falló durante la etapa '{stage}': {error}",
        "en": "Your code failed during the '{stage}' stage: {error}",
    },
}


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
) -> GradeResult:
    answer = outcome.answer or {}
    best = answer.get("best") or {}
    reference = budget.reference_test_accuracy if subset is None else None
    context = checks.CheckContext(
        record=answer.get("probe") or {},
        lang=lang,
        loaded=loaded,
        test_accuracy=evaluation.test_accuracy if evaluation else None,
        reference_test_accuracy=reference,
        budget=budget.name,
        baselines=spec.baselines,
    )
    results = checks.run_checks(spec, context, include_hidden=include_hidden)

    stage = answer.get("stage", "start")
    if outcome.end is ChildEnd.TIMEOUT:
        status = Status.TIMEOUT
        message = STATUS_MESSAGES["timeout"][lang].format(seconds=outcome.seconds)
    elif outcome.end is ChildEnd.CRASHED:
        status = Status.ERROR
        message = STATUS_MESSAGES["crashed"][lang].format(code=outcome.returncode, stage=stage)
    elif answer.get("status") == "error":
        status = Status.ERROR
        message = STATUS_MESSAGES["error"][lang].format(stage=stage, error=_error_text(answer))
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
        baselines=spec.baselines,
        reference_test_accuracy=reference,
        skipped_statements=loaded.skipped,
        notes=tuple(notes),
        timings={**timings, **child_timings},
        versions=versions,
        source_path=str(loaded.ref.path),
    )
