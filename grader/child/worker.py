"""The child process: `python -m grader.child.worker REQUEST.json`, or `... --wait`.

With `--wait` it is a spare (grader.runner's `Spares`): it imports TensorFlow, Keras and
keras-tuner first, then reads its request's path from stdin, so a batch pays that import
while the previous submission trains instead of between submissions. Nothing of a
submission's reaches it before that line; after it, it runs exactly as without `--wait`.

It is the only place where student code runs. It executes the chosen top-level
statements, probes `MyHyperModel`, runs the bounded search and saves the best model
as files; the trusted parent reads its answer (`response.json`) as data and
evaluates the model on the test set, which the child never sees.

The answer is rewritten after the probe and after every trial, so a hard kill
still leaves what was finished.

With a "serve" key in the request (issue 20: the child declares, the grader trains) it
does not search after the probe: its answer says "serving" and it reads request lines on
stdin, one JSON object each: a `DeclareRequest` is answered with `declare-<n>.json` in the
scratch folder (`grader.child.declare`); `{"op": "search"}` runs the search here after
all (the fallback for a submission that cannot be declared) and ends as a run without
"serve" does; `{"op": "end"}` or the end of stdin ends with "ok". A line that is none of
these ends the child with an error answer.
"""

from __future__ import annotations

import ast
import builtins
import gc
import json
import linecache
import os
import platform
import sys
import time
from pathlib import Path
from types import CodeType
from typing import Any, TextIO

from grader.child.protocol import (
    PROGRESS_NAME,
    PROTOCOL,
    REQUEST_LIMIT,
    WAIT,
    ChildRequest,
    CodeChunk,
    describe_exception,
    filename_for,
)


class Answer:
    """The response file, rewritten atomically whenever something is learned."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "protocol": PROTOCOL,
            "status": "running",
            "message": "",
            "stage": "start",
            "probe": None,
            "trials": [],
            "best": None,
            "notes": [],
            "import_failures": [],
            "timings": {},
            "versions": {},
        }

    def save(self) -> None:
        # The child's own atomic write, not grader.files.atomic_write: the child imports only
        # grader.child.* (docs/DESIGN.md). The parent reads the file only after the child ends.
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, default=str), encoding="utf-8")
        os.replace(tmp, self.path)


def compile_chunk(chunk: CodeChunk) -> CodeType:
    """Compile (not run) a chunk so that its line numbers are the student's own."""
    tree = ast.parse(chunk.source, filename=filename_for(chunk.cell))
    ast.increment_lineno(tree, chunk.line - 1)
    return compile(tree, filename_for(chunk.cell), "exec")


def run_chunks(chunks: list[dict[str, Any]], cells: list[str], answer: Answer) -> dict[str, Any]:
    """Execute the chosen statements in one namespace, keeping cell and line numbers."""
    # Tracebacks and `inspect` read source lines from linecache: give them the
    # student's own cells, so a message can quote the line it points at.
    numbered = len(cells) > 1 or any(c["cell"] is not None for c in chunks)
    for index, text in enumerate(cells, start=1):
        name = filename_for(index if numbered else None)
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    namespace: dict[str, Any] = {"__name__": "__student__", "__builtins__": builtins}
    for raw in chunks:
        chunk = CodeChunk(raw["cell"], raw["line"], raw["source"], raw["kind"])
        try:
            exec(compile_chunk(chunk), namespace)
        except ImportError as exc:
            if chunk.kind != "import":
                raise
            # An import the grading environment lacks (google.colab, ...) must not sink
            # a submission that never uses it; the report lists it.
            answer.data["import_failures"].append(
                {"cell": chunk.cell, "line": chunk.line, "message": str(exc)}
            )
    return namespace


def _versions() -> dict[str, str]:
    import keras
    import keras_tuner
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "keras_tuner": keras_tuner.__version__,
        "numpy": numpy.__version__,
        "machine": platform.machine(),
    }


def _configure(request: dict[str, Any]) -> None:
    import keras
    import tensorflow as tf

    threads = int(request.get("threads", 2))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    # No `enable_op_determinism()`: a student's notebook does not call it, and it changes
    # the numbers (full data, 2 trials x 4 epochs: trial 0's val_accuracy 0.8318 with it,
    # 0.8344 without; bench/RESULTS.md). TensorFlow's defaults with these fixed threads
    # already repeat bit for bit here.
    keras.utils.set_random_seed(int(request["seed"]))


PATH_LIMIT = 4096


def preimport() -> float:
    """Import what every child needs, touching no TensorFlow runtime (threads are set later,
    by `_configure`, and can only be set before the runtime starts); returns the seconds.

    Then everything imported is moved out of the garbage collector's sight (`gc.freeze`):
    it lives as long as the process anyway, and a full collection walked its ~380,000
    objects for 0.25 s here. Keras' `clear_session` collects once per call (the probe's
    builds call it), keras-tuner twice per trial build: seconds of every grade, and of
    none of the student's training. Which objects are collected when changes no number.
    """
    t = time.monotonic()
    import keras  # noqa: F401
    import keras_tuner  # noqa: F401
    import tensorflow  # noqa: F401

    from grader.child import dataset, declare, probe, search  # noqa: F401

    gc.freeze()
    return time.monotonic() - t


def main(argv: list[str]) -> int:
    t0 = time.monotonic()
    try:
        imported: float | BaseException = preimport()
    except BaseException as exc:  # answered below, once there is a folder to answer in
        imported = exc
    waited = argv[1] == WAIT
    if waited:
        line = sys.stdin.readline(PATH_LIMIT).strip()
        if not line:  # the parent closed it unused (the batch ended)
            return 0
        argv = [argv[0], line]
        t0 = time.monotonic()  # the spare's clock starts with its request
    request_path = Path(argv[1])
    scratch = request_path.parent
    answer = Answer(scratch / "response.json")
    timings = answer.data["timings"]
    if waited and isinstance(imported, float):
        timings["preimport"] = round(imported, 3)  # paid before the request came
    try:
        if request_path.stat().st_size > REQUEST_LIMIT:
            raise ValueError("request too large")
        # Read through the typed request (the parent's own data, checked on both ends);
        # the worker keeps its dict form.
        request = ChildRequest.from_json(request_path.read_text(encoding="utf-8")).to_data()
        if isinstance(imported, BaseException):
            raise imported
        _configure(request)
        answer.data["versions"] = _versions()
        timings["startup"] = round(time.monotonic() - t0, 3)

        if request.get("serve"):
            from grader.child import declare

            # Before any student code: every rebuilt callback's arguments, as passed.
            declare.record_constructor_arguments()
        answer.data["stage"] = "load"
        answer.save()  # a kill from here on still shows which stage it hit
        t = time.monotonic()
        namespace = run_chunks(request["chunks"], request.get("cells", []), answer)
        timings["run_code"] = round(time.monotonic() - t, 3)

        from grader.child.dataset import load_split

        d = request["data"]
        t = time.monotonic()
        split = load_split(Path(d["split_dir"]), subset=d.get("subset"))
        timings["data"] = round(time.monotonic() - t, 3)

        answer.data["stage"] = "probe"
        answer.save()
        t = time.monotonic()
        answer.data["probe"] = _probe(request, namespace, split, scratch)
        timings["probe"] = round(time.monotonic() - t, 3)
        answer.save()

        hypermodel_class = namespace.get(request["class_name"])
        if request.get("serve"):
            serve(request, hypermodel_class, split, scratch, answer, sys.stdin)
        elif request.get("search", True) and _searchable(hypermodel_class):
            answer.data["stage"] = "search"
            answer.save()
            t = time.monotonic()
            _search(request, hypermodel_class, split, scratch, answer)
            timings["search"] = round(time.monotonic() - t, 3)
        answer.data["status"] = "ok"
    except BaseException as exc:
        answer.data["status"] = "error"
        answer.data["error"] = describe_exception(exc)
        answer.data["message"] = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        timings["total"] = round(time.monotonic() - t0, 3)
        answer.save()
    return 0


def serve(
    request: dict[str, Any], cls: Any, split: Any, scratch: Path, answer: Answer, lines: TextIO
) -> None:
    """Answer the request lines read from `lines` (the module docstring says which) until
    told to end or to search; returns normally for "ok", raises for a malformed line.

    One instance of the class answers every declaration, as keras-tuner builds every
    trial from the one instance it was given. A class that is not a keras-tuner
    HyperModel has nothing to declare: the child ends as a run without search does.
    """
    from grader.child import declare
    from grader.child.declaration import REQUEST_LINE_LIMIT, DeclareRequest

    if not _searchable(cls):
        return
    try:
        instance = cls()
    except Exception as exc:
        raise RuntimeError(f"{request['class_name']}() could not be created: {exc}") from exc
    settings = request["serve"]
    fit_data = (split.x_train, split.y_train, (split.x_val, split.y_val))
    validation = (str(request.get("validation", "xy_val")), request.get("validation_split"))
    timings = answer.data["timings"]
    answer.data["stage"] = "serve"
    answer.data["status"] = "serving"
    answer.save()
    while True:
        line = lines.readline(REQUEST_LINE_LIMIT + 1)
        if not line:
            return  # the parent closed stdin: it has asked for all it needs
        if len(line) > REQUEST_LINE_LIMIT and not line.endswith("\n"):
            raise ValueError(f"a request line longer than {REQUEST_LINE_LIMIT} characters")
        op = _operation(line)
        if op == "end":
            return
        if op == "search":
            answer.data["stage"] = "search"
            answer.data["status"] = "running"  # "serving" no more: it trains, as without serve
            answer.save()
            t = time.monotonic()
            _search(request, cls, split, scratch, answer)
            timings["search"] = round(time.monotonic() - t, 3)
            return
        asked = DeclareRequest.from_json(line)
        t = time.monotonic()
        declaration = declare.declare(
            instance,
            asked,
            fit_data=fit_data,
            steps_per_epoch=int(settings["steps_per_epoch"]),
            max_epochs=int(settings["max_epochs"]),
            validation=validation,
        )
        timings["declare"] = round(timings.get("declare", 0.0) + time.monotonic() - t, 3)
        path = scratch / f"declare-{asked.n}.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(declaration, allow_nan=False, separators=(",", ":")), "utf-8")
        os.replace(tmp, path)  # the parent never reads half a declaration


def _operation(line: str) -> str:
    """ "search", "end" or "declare" (a DeclareRequest, checked when it is parsed)."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"a request line that is not JSON ({exc})") from None
    if isinstance(data, dict) and set(data) == {"op"} and data["op"] in ("search", "end"):
        return str(data["op"])
    return "declare"


def _searchable(cls: Any) -> bool:
    import keras_tuner

    return isinstance(cls, type) and issubclass(cls, keras_tuner.HyperModel)


def _probe(
    request: dict[str, Any], namespace: dict[str, Any], split: Any, scratch: Path
) -> dict[str, Any]:
    from grader.child import probe

    fit_data = _probe_data(split)
    p = request["probe"]
    setup = probe.ProbeSetup(
        class_name=request["class_name"],
        steps_per_epoch=p["steps_per_epoch"],
        epochs=p["epochs"],
        validation=str(request.get("validation", "xy_val")),
        validation_split=request.get("validation_split"),
    )
    return probe.run_probe(
        namespace,
        setup,
        fit_data,
        seed=int(request["seed"]),
        on_first_build=lambda model: _save_initial(model, scratch),
    )


def _probe_data(split: Any) -> tuple[Any, Any, Any]:
    """The few rows the probe's fit sees (it never trains on them)."""
    rows = min(256, len(split.x_train))
    return (
        split.x_train[:rows],
        split.y_train[:rows],
        (split.x_val[:rows], split.y_val[:rows]),
    )


def architecture_json(model: Any) -> str:
    """`model.to_json()`, or the same JSON without its compile config.

    A compiled Keras 3 model's JSON carries its compile config, optimizer and schedule
    included, and a hand-written LearningRateSchedule without get_config() (seed 003's
    RandomScheduler) makes to_json() raise. The parent reads only the architecture from
    this file (it rebuilds and evaluates it), so the JSON is written as Keras writes it for
    an uncompiled model: Keras' serializer leaves the compile config out when
    get_compile_config() returns None, which an instance attribute makes it do for this
    one call.
    """
    try:
        return model.to_json()
    except NotImplementedError:
        model.get_compile_config = lambda: None
        try:
            return model.to_json()
        finally:
            del model.get_compile_config


def _save_initial(model: Any, scratch: Path) -> None:
    """The first build's untrained weights and architecture, for the parent to compare.

    The parent's evaluator builds the same architecture fresh under the same seed; weights
    that differ were set by `build(hp)`, not drawn by Keras. A model that cannot be saved
    (a custom layer) simply leaves nothing to compare.
    """
    try:
        (scratch / "initial_model.json").write_text(architecture_json(model), encoding="utf-8")
        model.save_weights(str(scratch / "initial.weights.h5"))
    except Exception:
        for name in ("initial_model.json", "initial.weights.h5"):
            (scratch / name).unlink(missing_ok=True)


def _search(request: dict[str, Any], cls: type, split: Any, scratch: Path, answer: Answer) -> None:
    from grader.child import search

    b = request["budget"]
    limits = search.SearchLimits(
        max_trials=int(b["max_trials"]),
        max_epochs=int(b["max_epochs"]),
        trial_seconds=float(b["trial_seconds"]),
        submission_seconds=float(b["submission_seconds"]),
    )
    objective = request["objective"]

    def record(log: search.TrialLog, trial: Any) -> None:
        answer.data["trials"].append(search.trial_record(trial, log, objective))
        answer.save()

    try:
        hypermodel = cls()
    except Exception as exc:
        raise RuntimeError(f"{request['class_name']}() could not be created: {exc}") from exc
    setup = search.TunerSetup(
        seed=int(request["seed"]),
        objective=objective,
        executions_per_trial=int(request["executions_per_trial"]),
        # Requests written before [calling] named them mean the exam's way.
        tuner=str(request.get("tuner", "BayesianOptimization")),
        direction=str(request.get("objective_direction", "")),
        validation=str(request.get("validation", "xy_val")),
        validation_split=request.get("validation_split"),
    )
    folder = search.TunerFolder(
        scratch / "tuner",
        "search",
        progress=scratch / PROGRESS_NAME,  # the parent times each trial from it
    )
    tuner = search.make_tuner(hypermodel, setup, limits=limits, folder=folder, on_trial_end=record)
    try:
        search.search_call(
            tuner,
            (split.x_train, split.y_train, (split.x_val, split.y_val)),
            setup.validation,
            setup.validation_split,
        )
    except BaseException:
        # keras-tuner gives up after consecutive failed trials; the trials that did
        # finish still count, so their best model is saved before the error is reported.
        _save_best(tuner, scratch, answer, objective)
        raise
    if tuner.stopped_for_time:
        answer.data["notes"].append("search_stopped_for_time")
    restored = any(
        call.restored_callbacks for log in tuner.trial_logs.values() for call in log.fit_calls
    )
    if restored:
        answer.data["notes"].append("callbacks_restored")
    clamped = any(
        call.clamped_to is not None for log in tuner.trial_logs.values() for call in log.fit_calls
    )
    if clamped:
        answer.data["notes"].append("epochs_clamped")
    best_trial = _save_best(tuner, scratch, answer, objective)
    if best_trial is not None and _has_dry_runs(answer.data.get("probe")):
        from grader.child import simulate

        answer.data["probe"]["best_callbacks"] = simulate.best_callbacks(
            hypermodel,
            best_trial.hyperparameters,
            _probe_data(split),
            epochs=int(request["probe"]["epochs"]),
            steps_per_epoch=int(request["probe"]["trained_steps_per_epoch"]),
        )


def _has_dry_runs(record: Any) -> bool:
    """Whether the probe dry-ran a rate-setting callback (only then is a second run useful)."""
    calls = ((record or {}).get("fit") or {}).get("calls") or []
    return any(cb.get("dry_run") for call in calls for cb in call.get("callbacks") or [])


def _reload_optimizer_state(tuner: Any, model: Any, trial_id: str) -> None:
    """Load the best epoch's optimizer state too, the step counter the parent reads among it.

    keras-tuner reloads the best epoch's checkpoint into a fresh build whose optimizer has
    not created its slots yet; for any optimizer with slots (momentum, Adam, ...) Keras then
    skips the whole optimizer state ("Skipping variable loading for optimizer"), and the
    saved weights would say 0 steps. Building the optimizer first makes the reload complete.
    """
    import warnings

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or getattr(optimizer, "built", True):
        return
    try:
        optimizer.build(model.trainable_variables)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(tuner._get_checkpoint_fname(trial_id))
    except Exception:  # the parent then finds no counter and asks for a review
        return


def _save_best(tuner: Any, scratch: Path, answer: Answer, objective: str) -> Any:
    """Save the best trial's model; returns that trial (None when no trial completed)."""
    completed = [t for t in answer.data["trials"] if t.get(objective) is not None]
    if not completed:
        return None
    best_trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.get_best_models(num_models=1)[0]
    _reload_optimizer_state(tuner, model, best_trial.trial_id)
    (scratch / "best_model.json").write_text(architecture_json(model), encoding="utf-8")
    model.save_weights(str(scratch / "best.weights.h5"))
    try:
        # The whole model file lets the parent read the optimizer and schedule that were
        # really used, as data; a schedule without get_config() cannot be saved.
        model.save(str(scratch / "best.keras"))
        model_file: str | None = "best.keras"
    except Exception:
        model_file = None
    optimizer = getattr(model, "optimizer", None)
    answer.data["best"] = {
        "trial_id": str(best_trial.trial_id),
        "hyperparameters": {
            k: v if isinstance(v, int | float | str | bool) else str(v)
            for k, v in best_trial.hyperparameters.values.items()
        },
        objective: float(best_trial.score),
        "model_json": "best_model.json",
        "weights": "best.weights.h5",
        "model_file": model_file,
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
    }
    return best_trial


if __name__ == "__main__":
    sys.exit(main(sys.argv))
