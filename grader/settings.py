"""A run's settings as one typed value, and the one preamble every entry point shares.

`RunSettings` is everything that decides how a submission is graded besides the
submission; it is frozen, so a grade can be reproduced from it, and it crosses process
boundaries (pickled to a pool worker or a Dask job) as it is. The fit plan the rubric
gives (`fit_config`'s batch size and epochs) is read from the spec once, here, into
typed values (`FitPlan`), so no stage looks the numbers up in a check's params with a
default of its own.

`choose` and `prepare` are the preamble of `grade`, `grade calibrate`, `grade check` and
`grade validate`: the spec loaded and its rubric checked, the budget and the language
chosen (`choose`: cheap, and every mistake in the command line is said before anything
slow), then the dataset decoded into the cache and the settings built (`prepare`). Two
steps, not one, because an entry point may do its own cheap checks between them (the
self-check discovers its one submission and reports a rejected one without any data,
validate reads its examples) before paying for the data.

This module imports no stage of the pipeline, so every stage may import it: the settings
no longer live in `grader.pipeline`, which `grader.reuse` and `grader.calibrate` had to
import back.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader import data, datasets, i18n
from grader import spec as spec_module
from grader.checks import validate_rubric
from grader.checks.params import present
from grader.limits import Limits
from grader.results import Assessment, ReferenceCalibration
from grader.sandbox import Sandbox, resolve
from grader.spec import Budget, Spec

# Keras' own `fit` default: what an exam whose rubric names no batch size trains with.
KERAS_BATCH_SIZE = 32


@dataclass(frozen=True)
class FitPlan:
    """What the rubric's `fit_config` says the exam's `fit` is given (None: not given).

    Kept as given, not defaulted: `fingerprint.spec_hash` hashes these very values, so a
    spec that leaves one out keeps the hash its committed calibrations carry.
    """

    batch_size: int | None = None
    epochs: int | None = None

    @classmethod
    def of(cls, spec: Spec) -> FitPlan:
        fit = next((present(item.params) for item in spec.rubric if item.id == "fit_config"), {})
        batch_size, epochs = fit.get("batch_size"), fit.get("epochs")
        return cls(
            batch_size=None if batch_size is None else int(batch_size),
            epochs=None if epochs is None else int(epochs),
        )


@dataclass(frozen=True)
class Reuse:
    """Where shared trainings are kept, and whether to read them (`--force`: only write)."""

    store: Path  # <out>/results.sqlite
    read: bool = True


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides how one submission is graded, besides the submission."""

    spec: Spec
    budget: Budget
    cache: Path  # the decoded dataset (grader.datasets.prepare)
    lang: str
    subset: int | None = None  # train on the first N train/val images (tests, quick runs)
    seed: int | None = None  # overrides spec.seed (calibration over several seeds)
    threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    include_hidden: bool = True  # False for the student self-check
    keep_scratch: bool = False
    # The reference under this budget (grader.calibrate.ensure); None: accuracy is skipped.
    calibration: ReferenceCalibration | None = None
    # Student code runs in bubblewrap unless the caller deliberately passes Sandbox(None).
    sandbox: Sandbox = field(default_factory=lambda: resolve(no_sandbox=False))
    limits: Limits | None = None  # None: the spec's [limits]
    # Where copies of a program share one training (grader.reuse); None: never shared.
    reuse: Reuse | None = None
    # Who trains: "grader" (the child declares, the trainer trains; a submission that
    # cannot be declared falls back to the sandbox) or "sandbox" (the child trains, as
    # before the trainer existed: tests of the fallback path, comparisons).
    training: str = "grader"
    # Read from the spec once, when the settings are made (again by dataclasses.replace,
    # which makes new settings): never given, never compared (the spec already is).
    fit: FitPlan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fit", FitPlan.of(self.spec))

    @property
    def effective_limits(self) -> Limits:
        return self.limits or self.spec.limits

    @property
    def effective_seed(self) -> int:
        return self.spec.seed if self.seed is None else self.seed

    @property
    def assessment(self) -> Assessment:
        """What every result of this run is graded against (a result without checks too)."""
        return Assessment(self.spec.id, self.budget.name, self.spec.max_score)

    @property
    def batch_size(self) -> int:
        """The batch size the exam's `fit` trains with: the rubric's, else Keras' default."""
        return KERAS_BATCH_SIZE if self.fit.batch_size is None else self.fit.batch_size

    @property
    def epochs(self) -> int:
        """The epochs the exam's `fit` asks for: the rubric's, else the budget's cap."""
        return self.budget.max_epochs if self.fit.epochs is None else self.fit.epochs


@dataclass(frozen=True)
class Source:
    """What a command line chose to grade with: the assignment, the budget, the language
    and where the dataset is (None: each one's default: grade.toml's or the spec's)."""

    assignment: str | Path | None = None
    budget: str | None = None
    lang: str | None = None
    data_dir: Path | None = None  # where the dataset's file is looked for
    cache_dir: Path | None = None  # where its decoded arrays are kept


@dataclass(frozen=True)
class Chosen:
    """A `Source` resolved: the spec loaded and checked, its budget, a known language."""

    source: Source
    spec: Spec
    budget: Budget
    lang: str


def choose(source: Source) -> Chosen:
    """Load the spec, check its rubric, pick the budget and the language.

    Cheap and before any data: a bad spec, an unknown budget or a typo in `--lang` costs
    nothing. Raises the `FatalError` that names the mistake.
    """
    spec = spec_module.load(source.assignment)
    validate_rubric(spec)
    budget = spec.budget(source.budget)
    lang = i18n.require(source.lang or spec.language)
    return Chosen(source=source, spec=spec, budget=budget, lang=lang)


def prepare(
    chosen: Chosen,
    *,
    sandbox: Sandbox,
    subset: int | None = None,
    include_hidden: bool = True,
    limits: Mapping[str, int] | None = None,
    keep_scratch: bool = False,
) -> RunSettings:
    """Decode the dataset into its cache (once per machine) and build the run's settings.

    `sandbox` has no default: whether student code runs in bubblewrap is every entry
    point's own decision (`grader.sandbox.resolve`), never one made for it. `limits`
    overrides some of the spec's `[limits]` (the command line's `--memory-mb`, ...).
    """
    source = chosen.source
    cache = datasets.prepare(chosen.spec.data, data_dir=source.data_dir, cache_dir=source.cache_dir)
    return RunSettings(
        spec=chosen.spec,
        budget=chosen.budget,
        cache=cache,
        lang=chosen.lang,
        subset=subset,
        include_hidden=include_hidden,
        keep_scratch=keep_scratch,
        sandbox=sandbox,
        limits=dataclasses.replace(chosen.spec.limits, **limits) if limits else None,
    )


def load_test(settings: RunSettings) -> data.TestSet:
    """The test images and labels of `settings`' prepared dataset (the parent's alone)."""
    return datasets.load_test(settings.cache, settings.spec.data)
