"""Which path each shipped reference and example takes: trained by the grader, or in the sandbox.

    .venv/bin/python bench/training_paths.py

For every shipped assignment, loads its reference and each of its examples as the grader
does (grader.submission.load: the kept statements), runs them as the child does, and asks
`grader.child.declare.declare` for the declaration keras-tuner's first build asks for (the
default hyperparameter values), with random arrays of the assignment's shapes (a
declaration reads no pixel: the path depends on the code, not on the data, so MNIST and
CIFAR-10, whose files are not on this machine, are covered too). Prints, per assignment,
each file's outcome (ok: the trusted trainer trains it; undeclarable: the sandbox does,
with the reasons; error: the student's build or fit fails, as it does under either path;
a load error or no MyHyperModel: nothing is trained) and the counts. No training happens.
"""

from __future__ import annotations

import builtins
import math
import sys
from collections import Counter

import numpy as np
from common import ROOT

from grader import spec as spec_module
from grader import submission
from grader.child import declare
from grader.child.declaration import DeclareRequest
from grader.child.worker import compile_chunk
from grader.discover import SubmissionRef, discover
from grader.errors import SubmissionError


def _files(spec: spec_module.Spec) -> list[SubmissionRef]:
    refs = [SubmissionRef(id="reference", path=spec.reference, kind=spec.reference.suffix[1:])]
    examples = spec.directory / "examples"
    if spec.id == "fashion-mnist-polynomial-decay":
        examples = ROOT / "submissions"
    if examples.is_dir():
        refs += [r for r in discover([examples]).submissions if r.id != "reference"]
    return refs


def _data(spec: spec_module.Spec, rows: int = 512) -> tuple:
    rng = np.random.default_rng(0)
    shape = (rows, *spec.data.input_shape)
    classes = spec.num_classes

    def labels() -> np.ndarray:
        index = rng.integers(0, classes, rows)
        if spec.data.labels == "one_hot":
            return np.eye(classes, dtype="float32")[index]
        if spec.data.labels == "binary":
            return index.astype("float32").reshape(rows, 1) % 2
        return index

    x, xv = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
    return x, labels(), (xv, labels())


def path_of(ref: SubmissionRef, spec: spec_module.Spec) -> tuple[str, str]:
    try:
        loaded = submission.load(ref)
    except SubmissionError as exc:
        return "not loaded", exc.message.splitlines()[0][:80]
    namespace: dict = {"__name__": "__student__", "__builtins__": builtins}
    try:
        for chunk in loaded.chunks:
            try:
                exec(compile_chunk(chunk), namespace)
            except ImportError:
                if chunk.kind != "import":
                    raise
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"[:80]
    cls = namespace.get(spec.class_name)
    try:
        instance = cls()
    except Exception:
        return "no hypermodel", ""
    budget = spec.budget("default")
    data = _data(spec)
    steps = math.ceil(len(data[0]) / 256)
    validation = (spec.calling.validation, spec.calling.validation_split)
    request = DeclareRequest(1, {"space": [], "values": {}})
    answer = declare.declare(
        instance,
        request,
        fit_data=data,
        steps_per_epoch=steps,
        max_epochs=budget.max_epochs,
        validation=validation,
    )
    detail = "; ".join(answer["reasons"]) or (answer["error"] or {}).get("message", "")
    return answer["outcome"], detail[:160]


def main() -> None:
    declare.record_constructor_arguments()
    total: Counter[str] = Counter()
    for folder in sorted((ROOT / "assignments").iterdir()):
        if not (folder / "assignment.toml").is_file():
            continue
        spec = spec_module.load(folder.name)
        counts: Counter[str] = Counter()
        print(f"\n{spec.id}")
        for ref in _files(spec):
            outcome, detail = path_of(ref, spec)
            counts[outcome] += 1
            print(f"  {ref.id:28s} {outcome:14s} {detail}")
        total.update(counts)
        print("  -> " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    print("\nall: " + ", ".join(f"{k}: {v}" for k, v in sorted(total.items())))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
