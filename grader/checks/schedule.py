"""schedule: the optimizer's learning rate follows params.family (PolynomialDecay), judged
by behaviour: the probe's samples of the rate over training are identified with
grader.schedules.identify within params.rtol, so a hand-written LearningRateSchedule
that computes the same curve passes and a class named PolynomialDecay that does not
fails. When it fails, the message names the curve found and the other ways the student
changed the rate (LearningRateScheduler, ReduceLROnPlateau, Keras 2 `lr=`/`decay=`).

The curve judged is the trained best model's: its schedule's config, read from
`best.keras`, computed by the parent exactly as Keras does (grader.keras_schedules.keras_curve).
The probe's samples (the child's word) are used only when that file holds no schedule the
parent can compute (none saved, or a student's own schedule class). A probe that saw
another schedule class than the one trained fails the check.

A callback family (`CALLBACK_FAMILIES`: StepDecay, TimeBasedDecay, EpochExponentialDecay,
ConstantLR, CyclicLR, ReduceLROnPlateau) is judged on the callbacks the student's fit passes:
a callback is not saved with the model, so its curve is the probe's dry run of the callback
protocol (the child's word; `evidence` = child, and the message says so). ReduceLROnPlateau
reacts to the real losses, so it is judged by its configuration. What the parent can check
itself: the rate saved with the trained best model (its optimizer config in `best.keras`)
must be the dry run's rate, with the best trial's hyperparameters, at the end of the epoch
whose step count the best weights hold.

A random family (`RANDOM_FAMILIES`: RandomUniform, seed 003's RandomScheduler) has no
formula to fit: params.bounds names the two hyperparameters the rate must stay within, and
the probe's samples (the child's word: a student's own class runs only there) are judged
by behaviour with grader.schedules.random_findings: within the default build's bounds,
changing from step to step, reaching both ends, and matching no Keras formula; each corner
build's extremes must cover that corner's own bounds, so bounds that ignore the
hyperparameters fail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grader import i18n, keras_schedules, schedules
from grader.checks.base import (
    CheckContext,
    Verdict,
    error_location,
    error_text,
    failed,
    fmt,
    join,
    passed,
    register,
)
from grader.checks.params import ParamError
from grader.results import Evidence, Location

# Texts: the [checks.schedule] table of grader/i18n/<lang>.toml.
MESSAGES = i18n.messages("checks.schedule")

CALLBACK_FAMILIES = schedules.CALLBACK_FAMILIES
# A saved learning rate and the dry run's agree to float32 rounding.
SAVED_RTOL = 1e-5


MAX_TOTAL_STEPS = 10**9  # a total the child claims beyond this is not a training run


def _total_steps(ctx: CheckContext) -> int:
    """The training length the curve is drawn over (the probe's, which the parent set)."""
    value = ctx.record.corners.get("total_steps")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_TOTAL_STEPS:
        samples = (ctx.record.build.get("learning_rate") or {}).get("samples") or {}
        steps = samples.get("steps") or [0]
        last = steps[-1] if isinstance(steps, list) and steps else 0
        value = last if isinstance(last, int) and 0 < last <= MAX_TOTAL_STEPS else 19600
    return value


def _kind(lr: Mapping[str, Any] | None) -> str:
    """A learning rate as the student wrote it: the schedule's class, or "constant"."""
    if not isinstance(lr, Mapping) or not lr:
        return "?"
    return "constant" if lr.get("kind") == "constant" else str(lr.get("class_name"))


def judged_lr(ctx: CheckContext) -> tuple[Mapping[str, Any], Evidence, str | None]:
    """The learning rate to judge, with samples; what it rests on; a disagreement message.

    The trained model's schedule when its file holds one the parent can compute (a constant
    or a standard Keras schedule: grader.keras_schedules.keras_curve over the probe's step grid);
    else the probe's samples. A probe that saw another kind of rate than the one trained
    gives the disagreement message (the rates' values may differ: the search sets them).
    """
    lr, evidence = ctx.judged("learning_rate")
    probed = ctx.record.build.get("learning_rate") or {}
    if evidence is Evidence.CHILD:
        return lr or {}, evidence, None
    disagreement = None
    if probed and _kind(probed) != _kind(lr):
        disagreement = ctx.disagreement(ctx.say("what"), probed=_kind(probed), trained=_kind(lr))
    total = _total_steps(ctx)
    out = dict(lr)
    if lr.get("kind") == "constant":
        value = float(lr["value"])
        out["samples"] = {"steps": [0, total], "lrs": [value, value]}
        return out, evidence, disagreement
    if lr.get("class_name") not in keras_schedules.KERAS_SCHEDULES:
        # A student's own schedule class: only its running code can say what it computes.
        # Trained from a declared table (grader.training), the probe's samples must be that
        # table where both exist (the same default values; a random family aside).
        return probed, Evidence.CHILD, disagreement or _table_disagreement(ctx, probed)
    from grader.child.protocol import sample_steps  # the probe's grid, so curves line up

    steps = sample_steps(total)
    try:
        values = keras_schedules.keras_curve(str(lr["class_name"]), lr.get("config") or {}, steps)
    except keras_schedules.ScheduleConfigError as exc:
        out["samples_error"] = exc.message
        return out, evidence, disagreement
    if not all(math.isfinite(v) for v in values):
        out["samples_error"] = "the learning rate takes a non-finite value (nan or inf)"
        return out, evidence, disagreement
    out["samples"] = {"steps": steps, "lrs": [float(v) for v in values]}
    return out, evidence, disagreement


TABLE_RTOL = 1e-4  # the probe's eager call and the traced training step, in float32


def _table_disagreement(ctx: CheckContext, probed: Mapping[str, Any]) -> str | None:
    """The first step where the probe's samples differ from the declared table, said."""
    table = ctx.artifacts.declared_rates
    family = getattr(ctx.params, "family", None)
    if table is None or family in schedules.RANDOM_FAMILIES:
        return None
    samples = probed.get("samples") or {}
    steps, lrs = samples.get("steps") or [], samples.get("lrs") or []
    for step, value in zip(steps, lrs, strict=False):
        if not isinstance(step, int) or not 0 <= step < len(table):
            continue
        if not math.isclose(value, table[step], rel_tol=TABLE_RTOL, abs_tol=1e-12):
            return ctx.disagreement(
                ctx.say("what"),
                probed=f"{fmt(value)} (step {step})",
                trained=f"{fmt(table[step])} (step {step})",
            )
    return None


def written(lr: Mapping[str, Any], fit: schedules.ScheduleFit | None, lang: str) -> str | None:
    """The schedule for a message: as the code wrote it (its class and config values) when
    it is a standard Keras class whose curve this is, else the curve's fit (a hand-written
    schedule: only its curve is known), None when there is neither.

    A fit is one equivalent form of a curve (an ExponentialDecay's decay_steps=1 with the
    per-step rate), so a student would not recognise their own call in it."""
    name, config = lr.get("class_name"), lr.get("config")
    ours = fit is None or fit.family == name
    if ours and name in keras_schedules.KERAS_SCHEDULES and isinstance(config, Mapping):
        return schedules.describe_written(str(name), config)
    return schedules.describe(fit, lang) if fit is not None else None


def identify_lr(lr: Mapping[str, Any], rtol: float) -> schedules.ScheduleFit | None:
    """The schedule family the recorded learning-rate samples match, if any."""
    samples = lr.get("samples") or {}
    steps, lrs = samples.get("steps") or [], samples.get("lrs") or []
    return schedules.identify(steps, lrs, rtol=rtol) if steps and len(steps) == len(lrs) else None


def _callbacks(ctx: CheckContext) -> list[Mapping[str, Any]]:
    calls = ctx.record.fit.get("calls") or []
    return [cb for call in calls for cb in call.get("callbacks") or [] if not cb.get("marker")]


def _epoch_schedule(ctx: CheckContext, callback: Mapping[str, Any], rtol: float) -> str:
    """A LearningRateScheduler's rates: the family they match, else their range."""
    samples = callback.get("samples") or {}
    lrs = samples.get("lrs") or []
    if not lrs:
        return error_text(callback.get("samples_error"))
    fit = schedules.identify_epoch_schedule(samples["epochs"], lrs, rtol=rtol)
    if fit is not None:
        return schedules.describe(fit, ctx.lang)
    return ctx.say("epoch_values", first=fmt(lrs[0]), last=fmt(lrs[-1]), epochs=len(lrs))


def other_mechanisms(ctx: CheckContext, rtol: float) -> list[str]:
    """Sentences about the ways the student changes the rate other than a schedule."""
    notes = []
    build_lr = ctx.record.build.get("learning_rate") or {}
    for cb in _callbacks(ctx):
        if (cb.get("dry_run") or {}).get("error") and build_lr.get("kind") == "schedule":
            # Who wins when both set the rate: neither; Keras 3 refuses the callback's set.
            name = cb.get("class_name")
            notes.append(ctx.say("cb_conflict", schedule=build_lr.get("class_name"), callback=name))
        elif cb.get("class_name") == "LearningRateScheduler":
            notes.append(ctx.say("lr_scheduler", found=_epoch_schedule(ctx, cb, rtol)))
        elif cb.get("class_name") == "ReduceLROnPlateau":
            c = cb.get("config") or {}
            notes.append(
                ctx.say(
                    "plateau",
                    monitor=repr(c.get("monitor")),
                    factor=c.get("factor"),
                    patience=c.get("patience"),
                )
            )
    b = ctx.record.build
    optimizer = (b.get("optimizer") or {}).get("class_name") or "SGD"
    warnings = " ".join(b.get("warnings") or [])
    if "`decay`" in warnings or ctx.keyword(optimizer, "decay"):
        notes.append(ctx.say("keras2_decay"))
    if ctx.keyword(optimizer, "lr"):
        notes.append(ctx.say("keras2_lr"))
    return notes


RANDOM_FAMILIES = schedules.RANDOM_FAMILIES


@dataclass(frozen=True)
class Params:
    family: str = "PolynomialDecay"  # a family of grader.schedules (Keras' class name)
    rtol: float = 1e-3  # how closely the sampled curve must follow it
    # RandomUniform only: the two hyperparameters (low, high) the random rate stays within.
    bounds: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if schedules.family_parameters(self.family) is None:
            known = [*schedules.FAMILIES, *CALLBACK_FAMILIES, *RANDOM_FAMILIES]
            raise ParamError(
                "family", f"is {self.family!r}, not a schedule family; known: {', '.join(known)}"
            )
        if self.family in RANDOM_FAMILIES:
            if self.bounds is None or len(self.bounds) != 2 or len(set(self.bounds)) != 2:
                raise ParamError(
                    "bounds",
                    f"must name the two hyperparameters [low, high] a {self.family} rate "
                    f"stays within, got {self.bounds!r}",
                )
        elif self.bounds is not None:
            raise ParamError("bounds", f"applies only to the families {', '.join(RANDOM_FAMILIES)}")


def setting_callbacks(ctx: CheckContext, stage: str = "fit") -> list[Mapping[str, Any]]:
    """The callbacks that set the rate (grader.schedules.rate_setters), in fit's order."""
    found = (
        _callbacks(ctx) if stage == "fit" else list(ctx.record.stage(stage).get("callbacks") or [])
    )
    return schedules.rate_setters(found)


def identify_callback(run: Mapping[str, Any], rtol: float) -> schedules.ScheduleFit | None:
    """The family of a dry run's rates (grader.schedules.identify_dry_run)."""
    return schedules.identify_dry_run(run, rtol)


def saved_rate_check(ctx: CheckContext, class_name: str) -> tuple[bool | None, str]:
    """(agrees?, sentence): the rate saved with the best model against the dry run with the
    best trial's hyperparameters at the best epoch; None when no comparison is possible.

    Trained by the grader (grader.training), nothing was saved by the child: what trained
    is the table the callback declared, compared instead with the probe's dry run at the
    same (default) values (`declared_rates_check`)."""
    declared = dict(ctx.artifacts.declared_callback_rates)
    if class_name in declared:
        return declared_rates_check(ctx, class_name, declared[class_name])
    if class_name == "ReduceLROnPlateau":
        return None, ctx.say("cb_saved_unknown", why=ctx.say("why_plateau"))
    saved = ctx.artifacts.learning_rate
    if not isinstance(saved, Mapping) or saved.get("kind") != "constant":
        return None, ctx.say("cb_saved_unknown", why=ctx.say("why_no_file"))
    runs = [
        cb.get("dry_run") or {}
        for cb in setting_callbacks(ctx, "best_callbacks")
        if cb.get("class_name") == class_name
    ]
    if not runs or not runs[-1].get("epoch_end_lrs"):
        return None, ctx.say("cb_saved_unknown", why=ctx.say("why_no_best_run"))
    run = runs[-1]
    steps = getattr(ctx.evaluation, "steps", None)
    if not isinstance(steps, int) or steps <= 0:
        return None, ctx.say("cb_saved_unknown", why=ctx.say("why_no_steps"))
    per_epoch = int(run.get("steps_per_epoch") or 1)
    if steps % per_epoch:
        why = ctx.say("why_uneven", steps=steps, per_epoch=per_epoch)
        return None, ctx.say("cb_saved_unknown", why=why)
    epoch = steps // per_epoch  # 1-based: the checkpoint is written at that epoch's end
    ends = run["epoch_end_lrs"]
    if epoch > len(ends):
        why = ctx.say("why_beyond", epoch=epoch, epochs=len(ends))
        return None, ctx.say("cb_saved_unknown", why=why)
    value, expected = float(saved["value"]), float(ends[epoch - 1])
    fields = {"saved": fmt(value), "epoch": epoch, "expected": fmt(expected)}
    if math.isclose(value, expected, rel_tol=SAVED_RTOL, abs_tol=1e-12):
        return True, ctx.say("cb_saved_ok", **fields)
    return False, ctx.say("cb_saved_mismatch", **fields)


def declared_rates_check(
    ctx: CheckContext, class_name: str, table: tuple[str, tuple[float, ...]]
) -> tuple[bool | None, str]:
    """The rates a callback declared (per step or per epoch, at the default values) against
    the probe's dry run of it at the same values, wherever both have a rate."""
    per, values = table
    runs = [
        cb.get("dry_run") or {}
        for cb in setting_callbacks(ctx)
        if cb.get("class_name") == class_name
    ]
    run = runs[0] if runs else {}
    if per == "epoch":
        pairs = list(enumerate(run.get("epoch_lrs") or []))
    else:
        pairs = list(zip(run.get("batches") or [], run.get("batch_lrs") or [], strict=False))
    compared = 0
    for index, probed in pairs:
        if not isinstance(index, int) or not 0 <= index < len(values):
            continue
        compared += 1
        if not math.isclose(probed, values[index], rel_tol=TABLE_RTOL, abs_tol=1e-12):
            where = ctx.say("at_epoch" if per == "epoch" else "at_batch", index=index)
            return False, ctx.say(
                "cb_table_mismatch", trained=fmt(values[index]), where=where, probed=fmt(probed)
            )
    if not compared:
        return None, ctx.say("cb_saved_unknown", why=ctx.say("why_no_best_run"))
    return True, ctx.say("cb_table_ok", count=compared)


def _plateau_config(cb: Mapping[str, Any]) -> str:
    c = cb.get("config") or {}
    return ", ".join(
        f"{k}={fmt(c.get(k))}" for k in ("monitor", "factor", "patience", "min_lr") if k in c
    )


def _check_callback(ctx: CheckContext, family: str, rtol: float) -> Verdict:
    """A callback schedule family (CALLBACK_FAMILIES), judged on the dry run."""
    accepted = CALLBACK_FAMILIES[family]
    setters = setting_callbacks(ctx)
    where = ctx.locate("fit")
    expected = ctx.say("cb_expected", family=family)
    if family == "ReduceLROnPlateau":
        plateaus = [cb for cb in setters if cb.get("class_name") == "ReduceLROnPlateau"]
        if plateaus:
            where = ctx.locate("ReduceLROnPlateau", anywhere=True) or where
            text = ctx.say("plateau_ok", config=_plateau_config(plateaus[-1]))
            return passed(text, where, evidence=Evidence.CHILD)
    if not setters:
        names = ", ".join(str(cb.get("class_name")) for cb in _callbacks(ctx)) or "[]"
        return failed(join([ctx.say("cb_missing", callbacks=names), expected]), where)
    # Keras calls the callbacks in list order: the last one to set the rate wins.
    cb = setters[-1]
    name = str(cb.get("class_name"))
    where = ctx.locate(name, anywhere=True) or where
    run = cb.get("dry_run") or {}
    build_lr = ctx.record.build.get("learning_rate") or {}
    if run.get("error"):
        if cb.get("conflicts_with_schedule") or build_lr.get("kind") == "schedule":
            text = ctx.say("cb_conflict", schedule=build_lr.get("class_name"), callback=name)
            return failed(text, where, Evidence.CHILD)
        text = ctx.say("cb_failed", callback=name, error=error_text(run["error"]))
        return failed(text, error_location(run["error"]) or where, Evidence.CHILD)
    evidence_note = ctx.say(
        "cb_evidence", epochs=run.get("epochs"), steps=run.get("steps_per_epoch")
    )
    truncated = (
        ctx.say("cb_truncated", epochs=len(run.get("epoch_end_lrs") or ()))
        if run.get("status") == "truncated"
        else ""
    )
    fit = identify_callback(run, rtol)
    if name == "ReduceLROnPlateau" or fit is None or fit.family not in accepted:
        found = schedules.describe(fit, ctx.lang) if fit else ctx.say("unknown_curve")
        if name == "ReduceLROnPlateau":
            found = f"ReduceLROnPlateau({_plateau_config(cb)})"
        # A run cut short may be why the curve is not recognised (half a cycle is a ramp).
        parts = [ctx.say("cb_wrong", callback=name, found=found), expected, evidence_note]
        return failed(join([*parts, truncated]), where, Evidence.CHILD)
    agrees, saved_note = saved_rate_check(ctx, name)
    found = schedules.describe(fit, ctx.lang)
    parts = [ctx.say("cb_ok", callback=name, found=found), evidence_note, truncated, saved_note]
    if agrees is False:
        parts[0] = ctx.say("cb_wrong", callback=name, found=found)
        return failed(join(parts), where, Evidence.CHILD)
    return passed(join(parts), where, evidence=Evidence.CHILD)


def _judged_schedule(
    ctx: CheckContext,
) -> tuple[Mapping[str, Any], Evidence, Location | None, str | None]:
    """The optimizer's rate as judged, its evidence, where it is set (the optimizer's call in
    compile), and why it cannot be judged at all (None when it can): the child and the
    parent disagree, or the schedule could not be sampled."""
    lr, evidence, disagreement = judged_lr(ctx)
    optimizer, _ = ctx.judged("optimizer")
    where = ctx.locate((optimizer or {}).get("class_name") or "SGD", "compile")
    if disagreement:
        return lr, evidence, where, disagreement
    if lr.get("samples_error") and not lr.get("samples"):
        error = lr["samples_error"]
        text = ctx.say(
            "no_samples",
            class_found=lr.get("class_name"),
            error=error if isinstance(error, str) else error_text(error),
        )
        return lr, evidence, where, text
    return lr, evidence, where, None


@register("schedule", MESSAGES, params=Params, requires=("build",), evidence=Evidence.CHILD)
def check(ctx: CheckContext) -> Verdict:
    family, rtol = ctx.params.family, ctx.params.rtol
    if family in CALLBACK_FAMILIES:
        return _check_callback(ctx, family, rtol)
    if family in RANDOM_FAMILIES:
        return _check_random(ctx, rtol, ctx.params.bounds)
    lr, evidence, where, unjudgeable = _judged_schedule(ctx)
    if unjudgeable is not None:
        return failed(unjudgeable, where, evidence)
    fit = identify_lr(lr, rtol)
    if fit is not None and fit.family == family:
        by = (
            ""
            if lr.get("class_name") == family
            else ctx.say("by_class", class_found=lr.get("class_name"))
        )
        where = ctx.locate(str(lr.get("class_name")), family) or where
        ok = ctx.say("ok", found=written(lr, fit, ctx.lang), by=by)
        return passed(ok, where, evidence=evidence)
    found = written(lr, fit, ctx.lang) or ctx.say("unknown_curve")
    parts = [
        ctx.say("wrong", found=found),
        *other_mechanisms(ctx, rtol),
        ctx.say("expected", family=family),
    ]
    return failed(join(parts), where, evidence)


def _bound_values(values: Mapping[str, Any], names: tuple[str, ...]) -> tuple[float, float] | None:
    low, high = (values.get(name) for name in names)
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    return (float(low), float(high)) if ok else None  # type: ignore[arg-type]


def _corner_problems(ctx: CheckContext, names: tuple[str, ...]) -> tuple[list[str], int]:
    """Sentences about the corner builds whose rates do not cover their own bounds, and how
    many corners were judged. A corner records only its rates' extremes (probe._corners)."""
    problems, judged = [], 0
    for build in ctx.record.corners.get("builds") or []:
        bounds = _bound_values(build.get("values") or {}, names)
        lowest, highest = build.get("lr_min"), build.get("lr_max")
        if not build.get("ok") or bounds is None or lowest is None or highest is None:
            continue
        judged += 1
        low, high = bounds
        slack = schedules.RANDOM_BOUND_RTOL * max(abs(low), abs(high))
        reach = schedules.RANDOM_REACH * (high - low)
        inside = low - slack <= lowest and highest <= high + slack
        if not (inside and lowest <= low + reach and highest >= high - reach):
            values = ", ".join(f"{n}={fmt(v)}" for n, v in zip(names, bounds, strict=True))
            fields = {"lowest": fmt(lowest), "highest": fmt(highest)}
            problems.append(
                ctx.say("rnd_corner", values=values, low=fmt(low), high=fmt(high), **fields)
            )
    return problems, judged


def _check_random(ctx: CheckContext, rtol: float, bounds: tuple[str, ...] | None) -> Verdict:
    """A rate drawn at random at every step within two hyperparameters (seed 003's
    RandomScheduler), judged by behaviour: no formula of the step describes it, its samples
    stay within the default build's bounds, change from step to step and reach both ends;
    each corner build's rates cover that corner's bounds (so the bounds are the hps')."""
    assert bounds is not None  # Params requires them for a random family
    names = {"low_name": bounds[0], "high_name": bounds[1]}
    expected = ctx.say("rnd_expected", **names)
    lr, evidence, where, unjudgeable = _judged_schedule(ctx)
    if unjudgeable is not None:
        return failed(join([unjudgeable, expected]), where, evidence)
    values = ctx.record.search_space.get("values") or {}
    interval = _bound_values(values, bounds)
    if interval is None:  # asked first: it needs no curve fitting
        missing = " / ".join(n for n in bounds if not isinstance(values.get(n), int | float))
        text = ctx.say("rnd_no_bounds", missing=missing or " / ".join(bounds), **names)
        return failed(text, where, evidence)
    # Fitting every family to noise takes a second or two; it is what tells a Keras formula
    # between the bounds (a decay from upper to lower) from a random draw.
    fit = identify_lr(lr, rtol)
    if fit is not None or not (lr.get("samples") or {}).get("lrs"):
        found = schedules.describe(fit, ctx.lang) if fit else _kind(lr)
        parts = [ctx.say("wrong", found=found), *other_mechanisms(ctx, rtol), expected]
        return failed(join(parts), where, evidence)
    where = ctx.locate(str(lr.get("class_name")), anywhere=True) or where
    samples = lr["samples"]
    found = schedules.random_findings(samples["steps"], samples["lrs"], *interval)
    fields = {
        **names,
        "low": fmt(found.low),
        "high": fmt(found.high),
        "count": found.count,
        "lowest": fmt(found.lowest),
        "highest": fmt(found.highest),
    }
    problems = []
    if not found.within and found.first_outside is not None:
        step, value = found.first_outside
        problems.append(
            ctx.say("rnd_outside", outside=found.outside, step=step, value=fmt(value), **fields)
        )
    if not found.varies:
        repeats = found.pairs - found.changes
        problems.append(ctx.say("rnd_repeats", repeats=repeats, pairs=found.pairs))
    if found.within and not found.spans:
        problems.append(ctx.say("rnd_narrow", **fields))
    corner_problems, corners = _corner_problems(ctx, bounds)
    problems += corner_problems
    note = ctx.say("rnd_evidence") if evidence is Evidence.CHILD else ""
    if problems:
        return failed(join([*problems, expected, note]), where, evidence)
    details = ctx.say("rnd_details", **fields)
    if corners:
        details += " " + ctx.say("rnd_corners", count=corners)
    by = ctx.say("by_class", class_found=lr.get("class_name"))
    return passed(
        join([ctx.say("rnd_ok", by=by, details=details, **names), note]), where, evidence=evidence
    )
