"""What a trained number depends on besides the seed: the machine, the libraries, how the
grader trains and the spec (`fingerprint`).

A calibration is stale when its fingerprint differs from this machine's
(grader.calibrate), and a stored search is lent only under the same one (the search
store's base, grader.pipeline). Its own module because both the calibration, which grades
the reference through the pipeline, and the pipeline read it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from importlib import metadata

from grader import __version__
from grader.files import file_sha256
from grader.settings import FitPlan, RunSettings
from grader.spec import Budget, Spec

# The distributions whose versions change the numbers (their import names differ).
LIBRARIES = ("tensorflow", "keras", "keras-tuner", "numpy", "scikit-learn")
# How the child trains, beyond the libraries: bumped whenever seeding or TensorFlow's
# settings change, so that every calibration made under the old ones becomes stale.
# 2: the tuner seeded as the exam's notebook seeds it (no oracle seed), oneDNN on.
# 3: no TensorFlow op determinism (a student's notebook has none; it changed the numbers).
TRAINING_SETTINGS = "3"

# The fingerprint's keys that name the machine rather than the software: one assignment
# keeps a calibration per machine (`locate`), so that grading on a second machine adds
# its own file beside the committed one instead of overwriting it. `cpu_id` (the CPU's
# family and model numbers) because a VM may mask the model name: two AMD generations
# that round differently have both been "AMD EPYC" here (bench/RESULTS.md, session 9).
HARDWARE = ("machine", "cpu", "cpu_id", "cpus")


@functools.cache
def _first_processor() -> dict[str, str]:
    """The fields of /proc/cpuinfo's first processor ({} where there is none): read once a
    process, since every fingerprint (every grade's search-store key) names the CPU."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip() and fields:
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    return _first_processor().get("model name") or platform.processor() or "unknown"


def cpu_id() -> str:
    """ "family 25 model 17" from /proc/cpuinfo; "unknown" where it has none."""
    fields = _first_processor()
    if "cpu family" not in fields or "model" not in fields:
        return "unknown"
    return f"family {fields['cpu family']} model {fields['model']}"


def library_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def spec_hash(spec: Spec, budget: Budget, subset: int | None) -> str:
    """A hash of everything in the spec that changes how the reference trains."""
    fit = FitPlan.of(spec)  # as the rubric gives them: a value left out hashes as None
    relevant = {
        "seed": spec.seed,
        "validation_size": spec.validation_size,
        "num_classes": spec.num_classes,
        "input_dim": spec.input_dim,
        "class_name": spec.class_name,
        "objective": spec.objective,
        "executions_per_trial": spec.executions_per_trial,
        "budget": budget.search_limits(),
        "fit_config": {"batch_size": fit.batch_size, "epochs": fit.epochs},
        "reference_sha256": file_sha256(spec.reference),
        "subset": subset,
    }
    if not spec.data.is_legacy:
        # Added only beyond what the fields above already describe (Fashion-MNIST, last N,
        # / 255, flat, one-hot): the exam's hash, and so its committed calibrations, stay
        # valid, while any other dataset, subset, split, preprocessing, shape or label
        # encoding gives another hash.
        relevant["data"] = spec.data.arrays_key()
    # How the tuner is built and search called ([calling] tuner, direction, validation)
    # changes the training too, but only the settings that differ from the exam's way are
    # hashed: the exam's spec (and every spec written before these settings existed) keeps
    # the hash its committed calibrations carry.
    calling = spec.calling.differences()
    if calling:
        relevant["calling"] = calling
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(settings: RunSettings) -> dict[str, str]:
    """What the reference's numbers depend on besides the seed.

    The thread count is left out on purpose: it changes only the order of float
    additions, one more source of the run-to-run noise the bands are measured on, and
    a batch with more jobs (fewer threads each) must not recalibrate.
    """
    return {
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_id": cpu_id(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        **{name: library_version(name) for name in LIBRARIES},
        "grader": __version__,
        "training": TRAINING_SETTINGS,
        "spec": spec_hash(settings.spec, settings.budget, settings.subset),
    }
