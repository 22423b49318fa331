"""The trust boundary: the child's answer is parsed once, into checked frozen values.

The student's code runs in the child and may write anything into response.json; each
test here is one kind of hostile value or file, and asserts the message that names the
field and what is wrong with it. tests/boundary/response-reference.json is what the
worker really wrote for the exam's reference under the smoke budget (2026-11-30): the
parser must take it whole.
"""

from __future__ import annotations

import copy
import json
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from grader import boundary, report, runner, score
from grader import spec as spec_module
from grader.boundary import (
    AnswerStatus,
    BoundaryError,
    HostileFile,
    IncompleteAnswer,
    ProbeRecord,
    parse_answer,
    parse_answer_data,
)
from grader.discover import SubmissionRef
from grader.results import Location, Status, TrialStatus
from grader.runner import ChildEnd, ChildOutcome
from grader.sandbox import Sandbox
from grader.settings import RunSettings
from grader.submission import load

REFERENCE = Path(__file__).parent / "boundary" / "response-reference.json"
OBJECTIVE = "val_accuracy"


def _reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_bytes())


def _parse(data: Any) -> boundary.ChildAnswer:
    # Through the bytes, as the parent reads them (json.dumps writes NaN and Infinity as
    # the worker's json.dumps does).
    return parse_answer(json.dumps(data).encode(), objective=OBJECTIVE)


def _refused(data: Any) -> str:
    with pytest.raises(BoundaryError) as caught:
        _parse(data)
    assert caught.value.status == "error"  # it ends that submission, never the batch
    return caught.value.message


# --- what an honest child writes ----------------------------------------------------------


def test_the_reference_answer_reads_whole() -> None:
    answer = parse_answer(REFERENCE.read_bytes(), objective=OBJECTIVE)
    assert answer.status is AnswerStatus.OK and answer.stage == "search"
    assert [t.id for t in answer.trials] == ["0", "1"]
    trial = answer.trials[0]
    assert trial.status is TrialStatus.COMPLETED and 0 <= trial.objective_value <= 1
    assert trial.fit_calls[0].requested_epochs == 100 and trial.fit_calls[0].clamped_to == 1
    assert answer.best is not None and answer.best.model_file == "best.keras"
    assert answer.best.objective_value == trial.objective_value
    assert answer.timings["search"] == 32.882 and answer.notes == ("epochs_clamped",)
    assert answer.probe is not None and answer.probe.build["status"] == "ok"
    # An Int stays an int: a report shows decay_steps=10, not 10.0.
    assert answer.probe.build["learning_rate"]["config"]["decay_steps"] == 10
    assert type(answer.probe.build["learning_rate"]["config"]["decay_steps"]) is int


def test_everything_read_is_read_only_all_the_way_down() -> None:
    answer = _parse(_reference())
    record = answer.probe
    assert isinstance(record, ProbeRecord)
    build = record.build
    assert isinstance(build, MappingProxyType)
    assert isinstance(build["architecture"]["layers"], tuple)
    with pytest.raises(TypeError):
        build["status"] = "ok"  # type: ignore[index]
    with pytest.raises(TypeError):
        answer.trials[0].hyperparameters["x"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        answer.status = AnswerStatus.ERROR  # type: ignore[misc]


def test_the_record_reads_as_the_checks_read_it() -> None:
    record = _parse(_reference()).probe
    assert record is not None
    assert record.build["optimizer"]["class_name"] == "SGD"
    assert record.probe_version == 1 and record.stage("fit") is record.fit
    assert all(record.stage(name) for name in ("structure", "build", "search_space", "fit"))
    assert record.best_callbacks == {}  # absent: an empty mapping, left out of to_dict
    assert "best_callbacks" not in record.to_dict()
    assert ProbeRecord().probe_version is None and ProbeRecord().to_dict() == {}


def test_an_answer_round_trips_through_its_dict() -> None:
    answer = _parse(_reference())
    again = parse_answer_data(json.loads(json.dumps(answer.to_dict())), objective=OBJECTIVE)
    assert again.to_dict() == answer.to_dict()
    assert again.trials == answer.trials and again.best == answer.best
    assert again.probe == answer.probe


def test_an_early_partial_answer_lacks_keys_and_still_reads() -> None:
    answer = _parse({"protocol": 1, "status": "running", "stage": "load"})
    assert answer.status is AnswerStatus.RUNNING and answer.trials == () and answer.probe is None
    assert answer.best is None and dict(answer.timings) == {}


def test_a_diverged_loss_is_kept_as_none() -> None:
    data = _reference()
    data["trials"][0]["history"]["loss"] = [float("nan"), float("inf")]
    data["probe"]["corners"]["builds"][0]["lr_last"] = float("nan")
    answer = _parse(data)
    assert answer.trials[0].history["loss"] == (None, None)
    assert answer.probe.corners["builds"][0]["lr_last"] is None


def test_long_free_text_is_shortened_not_refused() -> None:
    data = _reference()
    data["message"] = "x" * 100_000
    data["trials"][0]["message"] = "Traceback\n" * 20_000
    data["probe"]["build"]["warnings"] = ["w" * 1500] * 2000
    answer = _parse(data)
    assert len(answer.message) == boundary.MAX_TEXT and answer.message.endswith("…")
    assert len(answer.trials[0].message) == boundary.MAX_TEXT
    warnings = answer.probe.build["warnings"]
    assert len(warnings) == 1000 and all(len(w) == 1000 for w in warnings)


# --- one hostile value each ---------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change of the reference answer at a dotted path ("trials.0.seconds")."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "negative stage time": (
        _set("timings.search", -3.0),
        "the child's answer has timings.search = -3.0; seconds cannot be negative",
    ),
    "negative trial time": (
        _set("trials.0.seconds", -1),
        "trials[0].seconds = -1; seconds cannot be negative",
    ),
    "a week of seconds times 100": (
        _set("timings.total", 6e7),
        "timings.total = 60000000.0; seconds cannot exceed 1e+06",
    ),
    "NaN accuracy": (
        _set("trials.0.val_accuracy", float("nan")),
        "trials[0].val_accuracy = nan; an accuracy must be a finite number between 0 and 1",
    ),
    "infinite accuracy": (
        _set("best.val_accuracy", float("inf")),
        "best.val_accuracy = inf; an accuracy must be a finite number between 0 and 1",
    ),
    "accuracy 1.5": (
        _set("best.val_accuracy", 1.5),
        "best.val_accuracy = 1.5; an accuracy must be between 0 and 1",
    ),
    "negative accuracy in a history": (
        _set("trials.1.history.val_accuracy", [0.5, -0.25]),
        "trials[1].history.val_accuracy[1] = -0.25; an accuracy must be between 0 and 1",
    ),
    "a million notes": (
        _set("notes", ["x"] * 10**6),
        "notes = a list of 1000000 items; at most 50 items are allowed",
    ),
    "20,000 epochs of history": (
        _set("trials.0.history.loss", [0.5] * 20_000),
        "trials[0].history.loss = a list of 20000 items; at most 10000 items are allowed",
    ),
    "a million-item config": (
        _set("probe.build.compile_config", [0] * 10**6),
        "probe.build.compile_config = a list of 1000000 items; at most 10000 items",
    ),
    "100k-character trial id": (
        _set("trials.0.id", "7" * 100_000),
        "(100000 characters); at most 100 characters are allowed",
    ),
    "100k-character version": (
        _set("versions.keras", "3" * 100_000),
        "versions.keras = '3333",
    ),
    "nesting 10,000 deep": (
        _set("probe.build.compile_config", "DEEP"),
        "the child's answer is nested too deeply for the grader to read",
    ),
    "nesting 100 deep": (
        _set("probe.build.compile_config", _nested(100)),
        "the grader reads at most 24 levels of nesting",
    ),
    "more values than the grader reads": (
        _set("probe.build.compile_config", {f"k{i}": [0] * 9000 for i in range(40)}),
        "the child's answer holds more than 300000 values",
    ),
    "protocol 2": (_set("protocol", 2), "the child's answer has protocol = 2; the grader speaks"),
    "protocol true": (_set("protocol", True), "protocol = True; the grader speaks protocol 1"),
    "a path as model file": (
        _set("best.model_file", "../../reference/best.keras"),
        "best.model_file = '../../reference/best.keras'; a model file must be a plain file name",
    ),
    "a sub-folder as weights": (
        _set("best.weights", "sub/best.weights.h5"),
        "best.weights = 'sub/best.weights.h5'; a model file must be a plain file name",
    ),
    "negative epochs": (_set("trials.0.epochs", -1), "trials[0].epochs = -1; epochs cannot"),
    "true as epochs": (
        _set("trials.0.epochs", True),
        "trials[0].epochs = True; epochs must be a whole number, not a boolean",
    ),
    "a 5000-digit integer as epochs": (
        _set("trials.0.epochs", 10**4000),
        "trials[0].epochs = an integer of 4001 digits; epochs cannot exceed",
    ),
    "an object as a hyperparameter": (
        _set("best.hyperparameters.initial_learning_rate", {"$": 1}),
        "best.hyperparameters.initial_learning_rate = an object of 1 keys; it must be a number",
    ),
    "a 30-digit hyperparameter": (
        _set("trials.0.hyperparameters.end_learning_rate", 10**30),
        "end_learning_rate = an integer of 31 digits; a value is too large a number",
    ),
    "unknown trial status": (
        _set("trials.0.status", "passed"),
        "trials[0].status = 'passed'; it must be one of completed, stopped, failed, invalid",
    ),
    "a string as a time": (
        _set("timings.probe", "fast"),
        "timings.probe = 'fast'; seconds must be a number, not a string",
    ),
    "line 0 of an import": (
        _set("import_failures", [{"cell": 1, "line": 0, "message": "no"}]),
        "import_failures[0].line = 0; a line number cannot be below 1",
    ),
    "a negative cell in an error": (
        _set("error", {"type": "E", "message": "m", "location": {"cell": -2, "line": 3}}),
        "error.location.cell = -2; a cell number cannot be below 1",
    ),
    "a probe stage that is not an object": (
        _set("probe.build", 5),
        "probe.build = 5; it must be an object, not a number",
    ),
    "a layer that is not an object": (
        _set("probe.build.architecture.layers", [7]),
        "probe.build.architecture.layers[0] = 7; it must be an object",
    ),
    "a negative sampled step": (
        _set("probe.build.learning_rate.samples.steps", [-5, 0]),
        "probe.build.learning_rate.samples.steps[0] = -5; a training step cannot be negative",
    ),
    "a NaN sampled learning rate": (
        _set("probe.build.learning_rate.samples.lrs", [float("nan")]),
        "probe.build.learning_rate.samples.lrs[0] = nan; a learning rate must be a finite number",
    ),
    "a negative total of steps": (
        _set("probe.corners.total_steps", -1),
        "probe.corners.total_steps = -1; a step count cannot be negative",
    ),
    "a list as a search-space value": (
        _set("probe.search_space.values.initial_learning_rate", [1, 2]),
        "probe.search_space.values.initial_learning_rate = a list of 2 items",
    ),
    "an unknown answer status": (_set("status", "graded"), "status = 'graded'; it must be one of"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_value_is_refused_with_its_field(case: str) -> None:
    change, expected = HOSTILE[case]
    data = copy.deepcopy(_reference())
    change(data)
    if case == "nesting 10,000 deep":  # json.dumps itself cannot write it: spliced as text
        text = json.dumps(data).replace('"DEEP"', "[" * 10_000 + "]" * 10_000)
        with pytest.raises(BoundaryError) as caught:
            parse_answer(text.encode(), objective=OBJECTIVE)
        message = caught.value.message
    else:
        message = _refused(data)
    assert expected in message
    assert len(message) < 400  # a message quotes a value, never all of it


def test_an_answer_that_is_not_an_object_is_refused() -> None:
    assert _refused([1, 2]) == "the child's answer is a list, not a JSON object"


@pytest.mark.parametrize(
    "raw", [b"", b"  \n", b'{"protocol": 1, "status": "ok", "tri', b"\xff\xfe"]
)
def test_an_empty_or_unfinished_answer_is_incomplete(raw: bytes) -> None:
    with pytest.raises(IncompleteAnswer):
        parse_answer(raw, objective=OBJECTIVE)


# --- response.json as a file: through read_answer --------------------------------------------


def _read(scratch: Path) -> boundary.ChildAnswer | None:
    """read_answer, in a thread: a parent that blocks fails the test instead of hanging."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(runner.read_answer(scratch, objective=OBJECTIVE))
        except Exception as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "read_answer blocked"
    if isinstance(result[0], Exception):
        raise result[0]
    return result[0]


def test_a_missing_or_empty_response_is_no_answer(tmp_path: Path) -> None:
    assert _read(tmp_path) is None
    (tmp_path / "response.json").write_bytes(b"")
    assert _read(tmp_path) is None


def test_a_symlinked_response_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_bytes(REFERENCE.read_bytes())
    (tmp_path / "response.json").symlink_to(target)
    with pytest.raises(HostileFile, match=r"response\.json is not a regular file"):
        _read(tmp_path)


def test_a_named_pipe_as_response_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "response.json")  # no writer: a plain open() would wait forever
    with pytest.raises(HostileFile, match=r"response\.json is not a regular file"):
        _read(tmp_path)


def test_a_folder_as_response_is_refused(tmp_path: Path) -> None:
    (tmp_path / "response.json").mkdir()
    with pytest.raises(HostileFile, match=r"response\.json is not a regular file"):
        _read(tmp_path)


def test_an_oversized_response_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "response.json").write_bytes(REFERENCE.read_bytes())
    monkeypatch.setattr(runner, "RESPONSE_LIMIT", 1000)
    with pytest.raises(HostileFile, match=r"response\.json is 19348 bytes, over .* 1000 bytes"):
        _read(tmp_path)


def test_an_unreadable_scratch_is_refused_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root a chmod 000 does not stop the parent, so the refusal is simulated.
    def denied(*args: Any, **kwargs: Any) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runner, "read_child_file", denied)
    with pytest.raises(HostileFile, match=r"could not read the child's response\.json"):
        _read(tmp_path)


def test_a_response_with_a_bad_value_is_refused_through_read_answer(tmp_path: Path) -> None:
    data = _reference()
    data["timings"]["search"] = -3.0
    (tmp_path / "response.json").write_text(json.dumps(data))
    with pytest.raises(BoundaryError, match=r"timings\.search = -3\.0; seconds cannot be negative"):
        _read(tmp_path)


# --- what reaches the result ------------------------------------------------------------------

SPEC = spec_module.load("fashion-mnist-polynomial-decay")


def _settings(cache: Path, lang: str) -> RunSettings:
    """The smoke budget, sandboxed (as a batch grades: no "without sandbox" note)."""
    return RunSettings(
        spec=SPEC, budget=SPEC.budget("smoke"), cache=cache, lang=lang, sandbox=Sandbox("bwrap")
    )


def _assemble(tmp_path: Path, outcome: ChildOutcome, lang: str = "en"):
    source = tmp_path / "ana.py"
    source.write_text("import keras\n\nclass MyHyperModel:\n    pass\n")
    loaded = load(SubmissionRef("ana", source, "py"))
    return score.assemble(_settings(tmp_path, lang), loaded, outcome, timings={"load": 0.1})


def _outcome(answer: boundary.ChildAnswer | None, **extra: Any) -> ChildOutcome:
    end = ChildEnd.FINISHED if answer is not None else ChildEnd.CRASHED
    values: dict[str, Any] = {"end": end, "returncode": 0, "seconds": 1.0, "log_tail": ""}
    return ChildOutcome(answer=answer, **{**values, **extra})


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_refused_answer_is_the_submissions_error_with_the_reason(
    tmp_path: Path, lang: str
) -> None:
    reason = "the child's answer has timings.search = -3.0; seconds cannot be negative"
    result = _assemble(tmp_path, _outcome(None, answer_refusal=reason), lang)
    assert result.status is Status.ERROR and reason in result.message
    assert result.message.startswith("El corrector no aceptó" if lang == "es" else "The grader")
    report.result_json(result)  # still a valid result.json


def test_numbers_from_the_child_keep_the_result_valid(tmp_path: Path) -> None:
    data = _reference()
    # The worst an accepted answer may hold: diverged losses, a non-finite corner lr, an
    # error location, a failed import, a version that claims another grader.
    data["trials"][0]["history"]["loss"] = [float("nan"), float("inf"), 0.0]
    data["probe"]["corners"]["builds"][0]["lr_min"] = float("-inf")
    data["import_failures"] = [{"cell": 2, "line": 1, "message": "No module named 'colab'"}]
    data["versions"]["grader"] = "9.9.9"
    result = _assemble(tmp_path, _outcome(_parse(data)))
    assert result.status is Status.GRADED
    assert result.val_accuracy == data["best"]["val_accuracy"]
    assert [t.id for t in result.trials] == ["0", "1"]
    assert result.trials[0].history["loss"] == [None, None, 0.0]
    assert result.timings["child_search"] == 32.882 and result.timings["load"] == 0.1
    assert result.versions["grader"] != "9.9.9"  # the child cannot claim to be the grader
    assert any("line 2" not in n and "colab" in n for n in result.notes)
    assert result.learning_rate is not None and result.learning_rate.student is not None
    assert json.loads(report.result_json(result))["status"] == "graded"


def test_the_childs_error_is_reported_with_its_location(tmp_path: Path) -> None:
    data = _reference()
    data["status"] = "error"
    data["error"] = {"type": "ValueError", "message": "bad", "location": {"cell": 3, "line": 7}}
    answer = _parse(data)
    assert answer.error is not None and answer.error.location == Location(3, 7)
    result = _assemble(tmp_path, _outcome(answer))
    assert result.status is Status.ERROR
    assert "ValueError: bad (cell 3, line 7)" in result.message


def test_no_number_reaches_the_result_unchecked() -> None:
    # Every float field of the answer's dataclasses is one the parser ranges: a new field
    # must get a range here, or this test names it.
    checked = {
        ("ChildTrial", "objective_value"),
        ("ChildTrial", "seconds"),
        ("BestModel", "objective_value"),
    }
    floats = set()
    for cls in (boundary.ChildTrial, boundary.BestModel, boundary.ChildAnswer):
        for name, kind in cls.__annotations__.items():
            if "float" in str(kind) and "Mapping" not in str(kind) and "tuple" not in str(kind):
                floats.add((cls.__name__, name))
    assert floats == checked
    assert math.isfinite(boundary.MAX_SECONDS)
