"""Calibration: what the reference solution scores under a budget, and how much that varies.

A bounded search cannot reach the exam's published accuracy, and one short run of the
reference is noisy. So the `accuracy` check compares a student's test accuracy with the
reference solution graded under the same budget over several seeds (spec.seed,
spec.seed + 1, ...): the mean and the standard deviation of its test and validation
accuracy. One JSON file per budget lives beside the spec
(`assignments/<id>/calibration/<budget>.json`) with the per-seed runs, their per-epoch
curves and a fingerprint of what the numbers depend on: machine, library versions,
the grader's version and a hash of the spec parts that change training. A
missing file or one whose fingerprint differs is recomputed on first use (`ensure`)
and the reports say so.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader import data, i18n
from grader.discover import SUFFIXES, SubmissionRef
from grader.errors import FatalError
from grader.files import atomic_write
from grader.fingerprint import HARDWARE, fingerprint
from grader.pipeline import grade_one
from grader.results import GradeResult, ReferenceCalibration, Status
from grader.sandbox import resolve
from grader.settings import RunSettings, Source, choose, load_test, prepare
from grader.spec import Budget, Spec

FORMAT = 1
DIRECTORY = "calibration"

# `grade` computes a missing or stale calibration before grading only when that is
# expected to take at most this long; beyond it stops and names the command to run
# ahead (`grade calibrate`), unless --calibrate says to go on. Ten minutes covers the
# smoke and default budgets here (about 2 and 5 min) and stops the exam's (hours).
ASK_ABOVE_SECONDS = 10 * 60
# A seed's start-up (child, probe, evaluation): taken off a stored run's seconds to price
# its epochs. The cost per epoch below is used only when no calibration of the assignment
# is stored under any budget. Both were fitted on the committed
# smoke (2 epochs, 14-35 s) and default (16 epochs, 52-77 s) calibrations of the 2-core
# grading machine, full 50 000-image split, batch 256: start-up + epochs x per epoch.
# The exam's 10 x 100 epochs give 50 min per seed; measured on the 2-core machines, from
# 11 min (AMD EPYC family 26) to about an hour (session 5's AMD) a seed (bench/RESULTS.md):
# above the line either way, so `grade` asks (cli.EXAM_CALIBRATION_TIME says so).
STARTUP_SECONDS = 16.0
EPOCH_SECONDS = 3.0
FULL_TRAIN_IMAGES = 50_000

Echo = Callable[[str], None]


class CalibrationError(FatalError):
    """The reference solution could not be graded, so nothing can be compared with it."""


class CalibrationNeeded(CalibrationError):
    """Computing the calibration now would take longer than `grade` may spend unasked."""


@dataclass(frozen=True)
class CalibrationRun:
    """The reference solution graded with one seed."""

    seed: int
    test_accuracy: float
    val_accuracy: float
    seconds: float
    best_hyperparameters: dict[str, Any]
    curves: tuple[dict[str, list[float]], ...]  # per trial: metric -> one value per epoch


@dataclass(frozen=True)
class Calibration:
    assignment: str
    budget: str
    subset: int | None
    runs: tuple[CalibrationRun, ...]
    fingerprint: dict[str, str]
    created: str
    computed_now: str = ""  # why it was computed in this process; "" if read from its file
    measured_on: str = ""  # the other machine's CPU, when borrowed (`borrowed`); "" else

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(run.seed for run in self.runs)

    @property
    def test_mean(self) -> float:
        return statistics.fmean(run.test_accuracy for run in self.runs)

    @property
    def test_sd(self) -> float:
        return _sd([run.test_accuracy for run in self.runs])

    @property
    def val_mean(self) -> float:
        return statistics.fmean(run.val_accuracy for run in self.runs)

    @property
    def val_sd(self) -> float:
        return _sd([run.val_accuracy for run in self.runs])

    def summary(self) -> ReferenceCalibration:
        """What a grade result carries (and the `accuracy` check reads)."""
        return ReferenceCalibration(
            budget=self.budget,
            seeds=self.seeds,
            test_mean=round(self.test_mean, 6),
            test_sd=round(self.test_sd, 6),
            val_mean=round(self.val_mean, 6),
            val_sd=round(self.val_sd, 6),
            created=self.created,
            computed_now=self.computed_now,
            measured_on=self.measured_on,
        )

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        body.pop("computed_now")
        body.pop("measured_on")
        stats = {
            "test_mean": self.test_mean,
            "test_sd": self.test_sd,
            "val_mean": self.val_mean,
            "val_sd": self.val_sd,
        }
        return {"format": FORMAT, **body, "seeds": list(self.seeds), **stats}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        runs = tuple(
            CalibrationRun(
                seed=int(r["seed"]),
                test_accuracy=float(r["test_accuracy"]),
                val_accuracy=float(r["val_accuracy"]),
                seconds=float(r["seconds"]),
                best_hyperparameters=dict(r["best_hyperparameters"]),
                curves=tuple(dict(c) for c in r["curves"]),
            )
            for r in raw["runs"]
        )
        if not runs:
            raise ValueError("a calibration without runs")
        return cls(
            assignment=str(raw["assignment"]),
            budget=str(raw["budget"]),
            subset=raw.get("subset"),
            runs=runs,
            fingerprint={str(k): str(v) for k, v in raw["fingerprint"].items()},
            created=str(raw["created"]),
        )


def _sd(values: Sequence[float]) -> float:
    # The sample standard deviation; one run says nothing about spread (the check's
    # floor then decides the band).
    return statistics.stdev(values) if len(values) > 1 else 0.0


def path_for(
    spec: Spec, budget: Budget, subset: int | None = None, directory: Path | None = None
) -> Path:
    folder = directory or spec.directory / DIRECTORY
    name = budget.name if subset is None else f"{budget.name}.subset-{subset}"
    return folder / f"{name}.json"


# One assignment keeps a calibration per machine (`locate`, by the fingerprint's HARDWARE
# keys), so that grading on a second machine adds its own file beside the committed one
# instead of overwriting it.


def machine_tag(fingerprint: dict[str, str]) -> str:
    """`Intel(R) Xeon(R) Processor`, 2 cpus, x86_64 -> "intel-xeon-processor-2cpu-x86_64"."""
    cpu = re.sub(r"\((r|tm)\)", "", fingerprint.get("cpu", "unknown").lower())
    cpu = re.sub(r"[^a-z0-9]+", "-", cpu).strip("-") or "unknown"
    numbers = re.findall(r"\d+", fingerprint.get("cpu_id", ""))
    if len(numbers) == 2:  # "family 25 model 17" -> "-f25m17"
        cpu += f"-f{numbers[0]}m{numbers[1]}"
    return f"{cpu}-{fingerprint.get('cpus', '?')}cpu-{fingerprint.get('machine', '?')}"


def _same_machine(calibration: Calibration, expected: dict[str, str]) -> bool:
    return all(calibration.fingerprint.get(key) == expected.get(key) for key in HARDWARE)


# One budget's calibration files, each read once: `<budget>.json` (the first machine's)
# first, then every machine's `<budget>@<machine_tag>.json` beside it.
Stored = list[tuple[Path, Calibration | None]]


def _stored(settings: RunSettings, directory: Path | None) -> Stored:
    base = path_for(settings.spec, settings.budget, settings.subset, directory)
    others = sorted(base.parent.glob(f"{base.stem}@*.json")) if base.parent.is_dir() else []
    return [(path, load(path)) for path in (base, *others)]


def locate(settings: RunSettings, directory: Path | None = None) -> tuple[Path, Calibration | None]:
    """This machine's calibration file for `settings`' budget, and what it holds.

    `<budget>.json` is the first machine's (the committed one); a machine whose hardware
    differs from the one it names keeps its own `<budget>@<machine_tag>.json` beside it.
    The first file whose fingerprint still applies wins; else the one this machine writes
    to, with what it holds (a stale calibration of this machine, or None).
    """
    return _own(_stored(settings, directory), fingerprint(settings))


def _own(stored: Stored, expected: dict[str, str]) -> tuple[Path, Calibration | None]:
    for path, found in stored:
        if found is not None and not stale_reason(found, expected):
            return path, found
    base, first = stored[0]
    if first is None or _same_machine(first, expected):
        return base, first
    own = base.with_name(f"{base.stem}@{machine_tag(expected)}.json")
    return own, next((found for path, found in stored if path == own), None)


def borrowed(settings: RunSettings, directory: Path | None = None) -> Calibration | None:
    """Another machine's calibration that applies here but for the hardware, marked with
    the CPU it was measured on; None if there is none.

    Used when this machine has none of its own. The CPU, like the thread count that the
    fingerprint leaves out, changes only the rounding: the reference's accuracies per seed
    differ by 0.02-0.18 points between the two grading machines measured, a fifth of the
    spread between seeds (bench/RESULTS.md). Reports say whose calibration it is.
    """
    return _lendable(_stored(settings, directory), fingerprint(settings))


def _lendable(stored: Stored, expected: dict[str, str]) -> Calibration | None:
    for _, found in stored:
        if found is not None and _differs_only_in_hardware(found, expected):
            return dataclasses.replace(found, measured_on=_cpu_named(found.fingerprint))
    return None


def _cpu_named(fingerprint: dict[str, str]) -> str:
    """ "AMD EPYC (family 23 model 49)"; the model name alone for files older than cpu_id."""
    cpu = fingerprint.get("cpu", "?")
    return f"{cpu} ({fingerprint['cpu_id']})" if "cpu_id" in fingerprint else cpu


def _differs_only_in_hardware(calibration: Calibration, expected: dict[str, str]) -> bool:
    changed = {k for k, v in expected.items() if calibration.fingerprint.get(k) != v}
    return bool(changed) and changed <= set(HARDWARE)


def seeds_for(spec: Spec, budget: Budget, count: int | None = None) -> tuple[int, ...]:
    """spec.seed first (the seed students are graded with), then the next ones."""
    return tuple(spec.seed + i for i in range(count or budget.calibration_seeds))


def stale_reason(calibration: Calibration, expected: dict[str, str]) -> str:
    """ "" when the calibration still applies, else which fingerprint keys differ."""
    changed = [
        f"{key} {calibration.fingerprint.get(key, '?')} -> {value}"
        for key, value in expected.items()
        if calibration.fingerprint.get(key) != value
    ]
    return "; ".join(changed)


def load(path: Path) -> Calibration | None:
    """The calibration stored at `path`, or None if there is none readable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT:
            return None
        return Calibration.from_dict(raw)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(calibration: Calibration, path: Path) -> None:
    atomic_write(path, json.dumps(calibration.to_dict(), indent=2) + "\n")


def reference_ref(spec: Spec) -> SubmissionRef:
    return SubmissionRef(id="reference", path=spec.reference, kind=SUFFIXES[spec.reference.suffix])


def run_from_result(result: GradeResult, seed: int) -> CalibrationRun:
    """One calibration run from the reference's grade with `seed`."""
    return CalibrationRun(
        seed=seed,
        test_accuracy=float(result.test_accuracy or 0.0),
        val_accuracy=float(result.val_accuracy or 0.0),
        seconds=result.timings.get("total", 0.0),
        best_hyperparameters=dict(result.best_hyperparameters),
        curves=tuple(dict(t.history) for t in result.trials),
    )


def run(
    settings: RunSettings,
    test: data.TestSet,
    *,
    seeds: Sequence[int],
    echo: Echo = print,
) -> Calibration:
    """Grade the reference solution once per seed under `settings`' budget."""
    spec, budget = settings.spec, settings.budget
    ref = reference_ref(spec)
    runs = []
    for i, seed in enumerate(seeds, start=1):
        # reuse=None: a calibration measures training, never an outcome stored earlier.
        one = dataclasses.replace(settings, seed=seed, calibration=None, reuse=None)
        result = grade_one(ref, one, test)
        if result.status is not Status.GRADED or result.test_accuracy is None:
            raise CalibrationError(
                f"the reference solution {spec.reference} could not be graded under budget "
                f"'{budget.name}' with seed {seed}: {result.status.value}: {result.message}",
                hint="fix the reference or the budget in the spec; a budget too short to "
                "finish one trial cannot be calibrated",
            )
        runs.append(run_from_result(result, seed))
        seconds = runs[-1].seconds
        echo(
            i18n.say(
                "calibrate.seed",
                settings.lang,
                budget=budget.name,
                i=i,
                n=len(seeds),
                seed=seed,
                test=i18n.percent(result.test_accuracy, settings.lang),
                val=i18n.percent(runs[-1].val_accuracy, settings.lang),
                seconds=seconds,
            )
        )
    return Calibration(
        assignment=spec.id,
        budget=budget.name,
        subset=settings.subset,
        runs=tuple(runs),
        fingerprint=fingerprint(settings),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


@dataclass(frozen=True)
class Estimate:
    """How long computing a calibration should take, and what that guess rests on."""

    seeds: int
    per_seed: float  # seconds
    basis: str  # "the 1 stored run(s)" or the budget's arithmetic

    @property
    def seconds(self) -> float:
        return self.seeds * self.per_seed


def estimate(
    settings: RunSettings,
    seeds: int,
    stored: Calibration | None = None,
    directory: Path | None = None,
) -> Estimate:
    """The expected duration of grading the reference `seeds` times under `settings`.

    A stored file for the same budget, even a stale one, measured it: its runs' mean.
    Otherwise the budget's worst case, each trial cut at trial_seconds and each grade at
    the hard limit as the search itself is, at a cost per epoch measured by a stored
    calibration of the same assignment under another budget (an epoch of the AND gate
    is not one of CIFAR-10), or, when none is stored, the exam's epoch scaled by images.
    """
    if stored is not None and stored.runs:
        per_seed = statistics.fmean(run.seconds for run in stored.runs)
        return Estimate(seeds, per_seed, f"the {len(stored.runs)} stored run(s)")
    budget = settings.budget
    measured = _measured_epoch(settings, directory)
    if measured is not None:
        epoch, source = measured
    else:
        images = min(settings.subset or FULL_TRAIN_IMAGES, FULL_TRAIN_IMAGES)
        epoch = EPOCH_SECONDS * images / FULL_TRAIN_IMAGES
        source = "the exam's epoch scaled by images: no calibration of this assignment stored"
    per_trial = min(budget.max_epochs * epoch, budget.trial_seconds)
    per_seed = min(
        STARTUP_SECONDS + budget.max_trials * per_trial,
        budget.hard_seconds,
    )
    basis = (
        f"{budget.max_trials} trials x up to {budget.max_epochs} epochs at about "
        f"{epoch:.2g} s per epoch, from {source}"
    )
    return Estimate(seeds, per_seed, basis)


def _measured_epoch(settings: RunSettings, directory: Path | None) -> tuple[float, str] | None:
    """Seconds per epoch of this assignment's reference, measured by its stored calibration
    under another budget (same subset) that trained the most epochs: its fastest run, the
    one least slowed by anything beside it. Stale files count too (a library's version
    barely moves the cost); unreadable ones do not."""
    spec, best = settings.spec, None
    for name, budget in sorted(spec.budgets.items()):
        if name == settings.budget.name:
            continue
        other = dataclasses.replace(settings, budget=budget)
        stored = _stored(other, directory)
        found = _own(stored, fingerprint(other))[1] or stored[0][1]
        runs = [(r.seconds, _epochs(r)) for r in found.runs] if found else []
        runs = [(seconds, epochs) for seconds, epochs in runs if epochs]
        total = sum(epochs for _, epochs in runs)
        if runs and (best is None or total > best[0]):
            seconds, epochs = min(runs, key=lambda r: _training_part(r[0]) / r[1])
            best = (total, seconds, epochs, name)
    if best is None:
        return None
    _, seconds, epochs, name = best
    per_epoch = _training_part(seconds) / epochs
    return per_epoch, f"the stored '{name}' calibration ({epochs} epochs in {seconds:.0f} s)"


def _training_part(seconds: float) -> float:
    """A grade's seconds less its start-up: what its epochs took. At least half of them: on
    a machine faster than the one STARTUP_SECONDS was fitted on, a short grade (MNIST's
    smoke, 9-11 s) would otherwise price its epochs at nothing."""
    return max(seconds - STARTUP_SECONDS, seconds / 2)


def _epochs(run: CalibrationRun) -> int:
    """Epochs the run trained, over all its trials (each curve has one value per epoch)."""
    return sum(max((len(v) for v in curve.values()), default=0) for curve in run.curves)


def duration(seconds: float) -> str:
    """`5400` -> "1 h 30 min", `150` -> "3 min", `40` -> "40 s"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def cached(settings: RunSettings, directory: Path | None = None) -> ReferenceCalibration | None:
    """The stored calibration if it still applies, else None; never trains (for callers
    such as a self-check that must stay cheap and may run on another machine)."""
    stored, expected = _stored(settings, directory), fingerprint(settings)
    _, found = _own(stored, expected)
    if found is None or stale_reason(found, expected):
        found = _lendable(stored, expected)
    return None if found is None else found.summary()


@dataclass(frozen=True)
class Computation:
    """How `ensure` computes a calibration it cannot read: over which seeds (None: the
    budget's calibration_seeds), whether even a stored one that applies is recomputed,
    and for how long at most without being asked (None: whatever it takes)."""

    seeds: Sequence[int] | None = None
    force: bool = False
    max_seconds: float | None = None


def ensure(
    settings: RunSettings,
    test: data.TestSet,
    computation: Computation = Computation(),
    *,
    directory: Path | None = None,
    echo: Echo = print,
) -> Calibration:
    """The calibration for `settings`' budget: read from its file if it still applies,
    else computed now (over `computation.seeds`), stored and marked `computed_now`.

    A stored calibration with fewer seeds than the budget asks for still applies (the
    reports say so); it is completed only by `grade calibrate`. With
    `computation.max_seconds`, a computation estimated to take longer raises
    `CalibrationNeeded` before starting.
    """
    seeds, force, max_seconds = computation.seeds, computation.force, computation.max_seconds
    spec, budget = settings.spec, settings.budget
    files, expected = _stored(settings, directory), fingerprint(settings)
    path, stored = _own(files, expected)
    found = None if force else stored
    if found is not None:
        reason = stale_reason(found, expected)
        if not reason:
            return found
    elif force:
        reason = "forced"
    elif (other := _lendable(files, expected)) is not None:
        return other
    else:
        # None for this machine; another machine's file still prices the work.
        stored = files[0][1]
        reason = f"none for this machine; {stale_reason(stored, expected)}" if stored else "missing"
    chosen = tuple(seeds) if seeds else seeds_for(spec, budget)
    guess = estimate(settings, len(chosen), stored, directory)
    if max_seconds is not None and guess.seconds > max_seconds:
        state = "missing" if found is None else "stale"
        state = "to be recomputed" if reason == "forced" else state
        raise CalibrationNeeded(
            f"the reference's calibration for budget '{budget.name}' is {state} ({reason}) "
            f"and computing it now would take about {duration(guess.seconds)} "
            f"({guess.seeds} seed(s) x about {duration(guess.per_seed)}, from {guess.basis}) "
            "before grading anything",
            hint=f"run `{calibrate_command(settings)}` ahead of time, or give --calibrate "
            "to compute it now",
        )
    echo(
        i18n.say(
            "calibrate.start",
            settings.lang,
            budget=budget.name,
            seeds=list(chosen),
            reason=reason,
            duration=duration(guess.seconds),
            path=path,
        )
    )
    calibration = run(settings, test, seeds=chosen, echo=echo)
    save(calibration, path)
    return dataclasses.replace(calibration, computed_now=reason)


def calibrate_command(settings: RunSettings) -> str:
    """The command that computes `settings`' calibration ahead of time."""
    subset = f" --subset {settings.subset}" if settings.subset is not None else ""
    return f"grade calibrate --budget {settings.budget.name}{subset}"


def complete(
    settings: RunSettings,
    test: data.TestSet,
    *,
    seeds: Sequence[int],
    directory: Path | None = None,
    fresh: bool = False,
    echo: Echo = print,
) -> Calibration:
    """Store a calibration over `seeds`, grading only the seeds it lacks.

    Runs already stored that still apply (same fingerprint) are kept, so completing the
    exam's 1 of 3 seeds costs two runs, not three; `fresh` grades every seed again.
    """
    path, stored = locate(settings, directory)
    expected = fingerprint(settings)
    stored = None if fresh else stored
    kept: tuple[CalibrationRun, ...] = ()
    if stored is not None and not stale_reason(stored, expected):
        kept = tuple(r for r in stored.runs if r.seed in seeds)
    missing = [seed for seed in seeds if seed not in {r.seed for r in kept}]
    if not missing and stored is not None:
        echo(f"{path} already holds seeds {list(seeds)} and still applies; nothing to compute")
        return dataclasses.replace(stored, runs=kept)
    if kept:
        echo(f"keeping seed(s) {[r.seed for r in kept]} from {path}, still valid")
    guess = estimate(settings, len(missing), stored, directory)
    echo(
        f"calibrating the reference solution under budget '{settings.budget.name}' over "
        f"seeds {missing}: about {duration(guess.seconds)} (from {guess.basis}); "
        f"stored in {path}"
    )
    new = run(settings, test, seeds=missing, echo=echo)
    runs = tuple(sorted((*kept, *new.runs), key=lambda r: r.seed))
    calibration = dataclasses.replace(new, runs=runs)
    save(calibration, path)
    return calibration


def calibrate(
    source: Source,
    *,
    seeds: int | None = None,
    subset: int | None = None,
    directory: Path | None = None,
    fresh: bool = False,
    echo: Echo = print,
) -> Calibration:
    """`grade calibrate`: compute and store one budget's calibration (see `complete`).

    Its lines are English whatever `source.lang` says (an instructor's tool); the
    reference runs in bubblewrap, as any student's code would.
    """
    chosen = choose(dataclasses.replace(source, lang="en"))
    spec, budget = chosen.spec, chosen.budget
    settings = prepare(chosen, sandbox=resolve(no_sandbox=False), subset=subset)
    test = load_test(settings)
    calibration = complete(
        settings,
        test,
        directory=directory,
        seeds=seeds_for(spec, budget, seeds),
        fresh=fresh,
        echo=echo,
    )
    echo(
        f"reference under '{budget.name}': test {100 * calibration.test_mean:.2f}% "
        f"± {100 * calibration.test_sd:.2f}, val {100 * calibration.val_mean:.2f}% "
        f"± {100 * calibration.val_sd:.2f} over seeds {list(calibration.seeds)}; wrote "
        f"{locate(settings, directory)[0]}"
    )
    return calibration
