"""Same program, same grade, once (grader.reuse, submission.normalised_program).

Variants of the reference notebook that differ only in comments, blank lines, outputs,
execution counts, metadata, markdown or skipped statements share one training; a change
the running program can see (a docstring, a string, a name, the order) does not. The fast
tests replace the child with a fake that counts its calls; the slow one trains for real
and compares a reused grade with a fresh grade of the same file.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from grader import datasets, pipeline, reuse, submission, training
from grader import spec as spec_module
from grader.boundary import parse_answer_data
from grader.discover import SubmissionRef
from grader.results import GradeResult
from grader.runner import SPARES, ChildEnd, ChildOutcome
from grader.sandbox import Sandbox, resolve
from grader.settings import Reuse, RunSettings
from grader.store import open_store

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "submissions" / "reference" / "solution.ipynb"
SPEC = spec_module.load("fashion-mnist-polynomial-decay")
CLASS_CELL = 7  # the reference's MyHyperModel cell


def _notebook() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _source(nb: dict[str, Any], cell: int) -> str:
    source = nb["cells"][cell - 1]["source"]
    return "".join(source) if isinstance(source, list) else source


def _set(nb: dict[str, Any], cell: int, text: str) -> dict[str, Any]:
    nb = copy.deepcopy(nb)
    nb["cells"][cell - 1]["source"] = text
    return nb


def _write(folder: Path, name: str, nb: dict[str, Any]) -> SubmissionRef:
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return SubmissionRef(id=name, path=path, kind="ipynb")


def _cosmetic(nb: dict[str, Any]) -> dict[str, Any]:
    """Comments, blank lines, outputs, counts, metadata, markdown and a skipped statement."""
    nb = copy.deepcopy(nb)
    cls = _source(nb, CLASS_CELL)
    nb["cells"][CLASS_CELL - 1]["source"] = "# my solution\n\n" + cls.replace(
        "\n", "  # note\n", 1
    ).replace("\n\n", "\n\n\n")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 42
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
        cell["metadata"] = {"collapsed": True}
    nb["metadata"]["author"] = "someone else"
    nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": "# Mine"})
    nb["cells"].append(
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "print(tuner.results_summary())",
        }
    )
    return nb


def _program(ref: SubmissionRef) -> str:
    return submission.normalised_program(submission.load(ref))


def test_cosmetic_changes_keep_the_normalised_program(tmp_path: Path) -> None:
    original = _write(tmp_path, "a", _notebook())
    variant = _write(tmp_path, "b", _cosmetic(_notebook()))
    assert original.path.read_bytes() != variant.path.read_bytes()
    assert _program(original) == _program(variant)
    a, b = submission.load(original), submission.load(variant)
    assert submission.program_sha256(a) == submission.program_sha256(b)
    # The executed code moved: one more cell before it and two more lines inside it.
    assert [c.cell for c in a.chunks] != [c.cell for c in b.chunks]
    text = _program(original)
    assert "class MyHyperModel" in text and "# import\n" in text and "results_summary" not in text


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("def build(self, hp):", 'def build(self, hp):\n        """Builds."""'),  # docstring
        ("'relu'", "'elu'"),  # a string's content
        ("def build(self, hp):", "def build(self, hp):\n        x = 'a'"),  # a statement
        ("class MyHyperModel", "class MyHyperModel2"),  # a name
    ],
)
def test_what_the_program_can_see_changes_it(tmp_path: Path, old: str, new: str) -> None:
    nb = _notebook()
    source = _source(nb, CLASS_CELL)
    quoted = old.replace("'", '"') if old not in source else old
    assert quoted in source, (old, source)
    changed = _set(nb, CLASS_CELL, source.replace(quoted, new.replace("'", '"'), 1))
    assert _program(_write(tmp_path, "a", nb)) != _program(_write(tmp_path, "b", changed))


def test_the_order_of_definitions_changes_it(tmp_path: Path) -> None:
    one = "import keras\nA = 1\nB = 2\n"
    two = "import keras\nB = 2\nA = 1\n"
    (tmp_path / "one.py").write_text(one, encoding="utf-8")
    (tmp_path / "two.py").write_text(two, encoding="utf-8")
    refs = [SubmissionRef(id=p, path=tmp_path / f"{p}.py", kind="py") for p in ("one", "two")]
    assert _program(refs[0]) != _program(refs[1])


# --- grade_one with a fake child -------------------------------------------------------------


def _answer(error_at: dict[str, int] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "protocol": 1,
        "status": "ok",
        "message": "",
        "stage": "search",
        # MyHyperModel found, but not a class: the structure check fails at the class.
        "probe": {
            "probe_version": 1,
            "class_name": "MyHyperModel",
            "structure": {"status": "ok", "exists": True, "is_class": False, "found_type": "int"},
        },
        "trials": [],
        "notes": [],
        "timings": {"search": 1.0},
        "versions": {"keras": "3"},
    }
    if error_at is not None:
        answer.update(
            status="error",
            stage="load",
            error={"type": "NameError", "message": "x", "location": error_at},
        )
    return answer


class FakeChild:
    """Stands in for the sandboxed child: counts runs, answers `answer`."""

    def __init__(self, answer: dict[str, Any], end: ChildEnd = ChildEnd.FINISHED) -> None:
        self.answer, self.end, self.calls = answer, end, 0

    def __call__(self, request: dict[str, Any], scratch: Path, settings: Any) -> ChildOutcome:
        self.calls += 1
        return _outcome(self.answer, self.end)


def _outcome(
    answer: dict[str, Any], end: ChildEnd = ChildEnd.FINISHED, **extra: Any
) -> ChildOutcome:
    typed = parse_answer_data(answer, objective=SPEC.objective)  # as the runner reads it
    fields = {"returncode": 0, "seconds": 1.0, "log_tail": "done", **extra}
    return ChildOutcome(end=end, answer=typed, **fields)


@pytest.fixture(autouse=True)
def _no_dataset(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake child reads no data: its request points at a folder with only the marker a
    # prepared split has (the request reads its training size from it).
    if request.node.get_closest_marker("slow") is None:
        marker = {"shapes": {"x_train": [50000, 784]}}
        (tmp_path / datasets.MARKER).write_text(json.dumps(marker), encoding="utf-8")
        monkeypatch.setattr(pipeline, "_split_dir", lambda settings: tmp_path, raising=False)


def _settings(tmp_path: Path, *, read: bool = True, **extra: Any) -> RunSettings:
    with open_store(tmp_path / "out"):
        pass  # creates results.sqlite with its tables
    return RunSettings(
        spec=SPEC,
        budget=SPEC.budget("smoke"),
        cache=tmp_path / "cache",
        lang="en",
        subset=300,
        sandbox=Sandbox(None),
        reuse=Reuse(store=tmp_path / "out" / "results.sqlite", read=read),
        # The fake child stands for one that trains (the sandbox fallback's path); sharing
        # by declarations on the trusted path: tests/test_equivalents.py.
        training="sandbox",
        **extra,
    )


def _comparable(result: GradeResult) -> dict[str, Any]:
    """Everything but how long things took (the only thing reuse may change)."""
    data = result.to_dict()
    data.pop("timings")
    for trial in data["trials"]:
        trial.pop("seconds")
    return data


def _grade(ref: SubmissionRef, settings: RunSettings) -> GradeResult:
    return pipeline.grade_one(ref, settings, test=None)  # type: ignore[arg-type]


def test_a_copy_is_scored_on_its_own_file_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = FakeChild(_answer())
    monkeypatch.setattr(pipeline, "_run", child)
    settings = _settings(tmp_path)
    first = _write(tmp_path, "a", _notebook())
    copy_ = _write(tmp_path, "b", _cosmetic(_notebook()))
    a = _grade(first, settings)
    assert child.calls == 1
    b = _grade(copy_, settings)
    assert child.calls == 1, "the copy ran the child again"
    assert b.timings["reused"] >= 0 and b.timings["child"] == a.timings["child"]
    fresh = _grade(copy_, dataclasses.replace(settings, reuse=None))
    assert child.calls == 2
    assert _comparable(b) == _comparable(fresh)
    assert (b.id, b.sha256, b.source_path) == ("b", fresh.sha256, str(copy_.path))
    located = [(x.location, y.location) for x, y in zip(a.checks, b.checks, strict=True)]
    assert any(x != y and y is not None for x, y in located), "locations are b's own"
    assert b.skipped_statements != a.skipped_statements


def test_a_docstring_change_trains_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child = FakeChild(_answer())
    monkeypatch.setattr(pipeline, "_run", child)
    settings = _settings(tmp_path)
    nb = _notebook()
    source = _source(nb, CLASS_CELL)
    documented = source.replace(
        "def build(self, hp):", 'def build(self, hp):\n        """Builds."""', 1
    )
    _grade(_write(tmp_path, "a", nb), settings)
    _grade(_write(tmp_path, "b", _set(nb, CLASS_CELL, documented)), settings)
    assert child.calls == 2


def test_force_trains_again_and_other_settings_do_not_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = FakeChild(_answer())
    monkeypatch.setattr(pipeline, "_run", child)
    settings = _settings(tmp_path)
    ref = _write(tmp_path, "a", _notebook())
    _grade(ref, settings)
    _grade(
        ref, dataclasses.replace(settings, reuse=dataclasses.replace(settings.reuse, read=False))
    )
    assert child.calls == 2  # --force: read nothing
    _grade(ref, dataclasses.replace(settings, seed=24))
    _grade(ref, dataclasses.replace(settings, budget=SPEC.budget("default")))
    _grade(ref, dataclasses.replace(settings, subset=400))
    assert child.calls == 5
    _grade(ref, dataclasses.replace(settings, seed=24))
    assert child.calls == 5


def test_an_outcome_naming_places_is_shared_only_with_the_same_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = FakeChild(_answer(error_at={"cell": CLASS_CELL, "line": 3}))
    monkeypatch.setattr(pipeline, "_run", child)
    settings = _settings(tmp_path)
    nb = _notebook()
    _grade(_write(tmp_path, "a", nb), settings)
    moved = _grade(_write(tmp_path, "b", _cosmetic(nb)), settings)
    assert child.calls == 2, "a location from another layout would be false"
    assert "reused" not in moved.timings
    # Only outputs and counts differ: same places, so the outcome is shared.
    same_layout = copy.deepcopy(nb)
    for cell in same_layout["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], 7
    _grade(_write(tmp_path, "c", same_layout), settings)
    assert child.calls == 2


@pytest.mark.parametrize("end", [ChildEnd.TIMEOUT, ChildEnd.CRASHED])
def test_an_end_a_rerun_might_not_repeat_is_never_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, end: ChildEnd
) -> None:
    child = FakeChild(_answer(), end=end)
    monkeypatch.setattr(pipeline, "_run", child)
    settings = _settings(tmp_path)
    ref = _write(tmp_path, "a", _notebook())
    _grade(ref, settings)
    _grade(ref, settings)
    assert child.calls == 2


def test_names_places_finds_locations_and_pseudo_file_names() -> None:
    assert not reuse.names_places(_answer())
    assert reuse.names_places(_answer(error_at={"cell": 3, "line": 1}))
    assert reuse.names_places({"import_failures": [{"cell": None, "line": 4, "message": "x"}]})
    assert reuse.names_places({"trials": [{"message": 'File "<cell 7>", line 12'}]})
    assert reuse.names_places(["Traceback: <submission>, line 3"])
    assert not reuse.names_places(_outcome(_answer()))
    assert reuse.names_places(_outcome(_answer(error_at={"cell": 3, "line": 1})))
    assert reuse.names_places(_outcome(_answer(), log_tail='File "<cell 2>", line 4'))


def test_a_training_reads_back_equal() -> None:
    from grader.evaluate import Evaluation
    from grader.limits import Breach

    outcome = _outcome(
        _answer(error_at={"cell": None, "line": 2}),
        ChildEnd.RESOURCE_LIMIT,
        returncode=-9,
        seconds=3.5,
        log_tail="tail",
        output_bytes=10,
        breach=Breach("memory", 2048.0, 1024.0, "MB"),
        peak_rss_mb=2048.0,
    )
    evaluation = Evaluation(test_accuracy=0.8, test_loss=0.5, samples=10000)
    training = reuse.Training(outcome, evaluation, {"class_name": "SGD"}, {"child": 3.5})
    assert reuse.decode(reuse.encode(training)) == training
    # What the grader's trainer trained travels with it: a copy's checks judge it too.
    from grader.artifacts import DeclaredEvidence

    stopper = {"kind": "keras", "class_name": "EarlyStopping", "args": {"patience": 3}}
    plan = {"batch_size": 128, "epochs": 100, "shuffle": True, "callbacks": [stopper]}
    space = {"class_name": "Float", "config": {"name": "lr", "min_value": 0.1}}
    declared = DeclaredEvidence(
        rates=(0.3, 0.29), callback_rates=(("CyclicLR", ("step", (0.1, 0.2))),),
        fits=(plan,), space=(space,),
    )  # fmt: skip
    training = dataclasses.replace(training, training="grader", declared=declared)
    assert reuse.decode(reuse.encode(training)) == training
    assert reuse.decode("{") is None and reuse.decode('{"format": 99}') is None
    assert reuse.decode(json.dumps({"format": 1, "training": {"outcome": 3}})) is None


# --- for real ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_reused_grade_equals_a_fresh_grade_of_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader import data

    cache = data.prepare(cache_dir=tmp_path / "data")
    test = data.load_test(cache, num_classes=SPEC.num_classes)
    settings = dataclasses.replace(
        _settings(tmp_path), cache=cache, sandbox=resolve(no_sandbox=False)
    )
    runs = []
    real_run = pipeline._run

    def counting(*args: Any, **kwargs: Any) -> ChildOutcome:
        runs.append(1)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_run", counting)
    first = _write(tmp_path, "a", _notebook())
    copy_ = _write(tmp_path, "b", _cosmetic(_notebook()))
    # a's child starts a spare beside it (grader.runner.Spares), which the fresh grade
    # below trains in: so this also proves a spare trains exactly as a fresh child does.
    SPARES.expect(1)
    try:
        a = pipeline.grade_one(first, settings, test)
        assert a.test_accuracy is not None and len(runs) == 1
        b = pipeline.grade_one(copy_, settings, test)
        assert len(runs) == 1, "the copy trained again"
        fresh = pipeline.grade_one(copy_, dataclasses.replace(settings, reuse=None), test)
    finally:
        SPARES.close()
    assert len(runs) == 2
    assert "child_preimport" not in a.timings and "child_preimport" in fresh.timings
    assert _comparable(b) == _comparable(fresh)
    assert (b.score, b.test_accuracy, b.val_accuracy) == (a.score, a.test_accuracy, a.val_accuracy)
    assert [c.location for c in b.checks] != [c.location for c in a.checks]


def test_a_batch_trains_each_program_once_and_force_trains_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.batch import BatchOptions, grade
    from grader.settings import Source, choose, prepare

    child = FakeChild(_answer())
    monkeypatch.setattr(pipeline, "_run", child)
    # A batch grades on the trusted path: its train stage falls back to the (fake) child.
    monkeypatch.setattr(
        pipeline,
        "_train",
        lambda request, scratch, settings, test: training.Trained(
            child(request, scratch, settings), "sandbox"
        ),
    )
    folder = tmp_path / "class"
    folder.mkdir()
    _write(folder, "a", _notebook())
    _write(folder, "b", _cosmetic(_notebook()))
    out = tmp_path / "out"
    chosen = choose(Source(SPEC.id, "smoke"))
    settings = prepare(chosen, sandbox=resolve(no_sandbox=True), subset=300)
    grade(
        [folder],
        settings,
        BatchOptions(out=out, echo=lambda _: None, jobs=1, progress="plain"),
    )
    assert child.calls == 1
    grade(
        [folder],
        settings,
        BatchOptions(out=out, force=True, echo=lambda _: None, jobs=1, progress="plain"),
    )
    assert child.calls == 3  # --force: every file again, nothing shared
