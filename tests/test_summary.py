"""The class summary and the near-identical groups it shows."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from grader import discover, similarity, summary
from grader import spec as spec_module
from grader.discover import SubmissionRef
from grader.results import CheckResult, CheckStatus, GradeResult, Status

OWN_CODE = """
class Tuned:
    def schedule(self, step):
        warm = min(1.0, step / 100.0)
        cosine = 0.5 * (1 + math.cos(math.pi * step / 3000))
        return self.base * warm * cosine + self.floor * (1 - cosine)

def pick(values, limit):
    chosen = [v for v in values if v < limit and v % 3 != 1]
    return sorted(chosen, reverse=True)[: len(chosen) // 2 + 1]
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_renamed_and_recommented_copies_are_grouped(tmp_path: Path) -> None:
    original = _write(tmp_path, "ana.py", OWN_CODE)
    disguised = OWN_CODE.replace("warm", "w_up").replace("chosen", "keep").replace("values", "xs")
    copy = _write(tmp_path, "bea.py", "# my own work\n" + disguised.replace("    ", "\t"))
    other = _write(tmp_path, "eva.py", "import numpy as np\n" * 3 + "print(np.arange(10).sum())\n")
    groups = similarity.groups({"ana": original, "bea": copy, "eva": other})
    assert [g.ids for g in groups] == [("ana", "bea")]
    assert groups[0].similarity == 1.0


def test_code_everyone_was_given_does_not_make_a_group(tmp_path: Path) -> None:
    base = _write(tmp_path, "reference.py", OWN_CODE)
    a = _write(tmp_path, "a.py", OWN_CODE + "\nprint('a')\n")
    b = _write(tmp_path, "b.py", OWN_CODE + "\nprint('b')\n")
    assert similarity.groups({"a": a, "b": b}, base=[base]) == []


# One student's own solution (helpers of their own, the Functional API)...
ANA = """\
import keras
import keras_tuner


def schedule_for(hp, steps=10):
    \"\"\"PolynomialDecay between the two searched rates.\"\"\"
    start = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
    stop = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
    return keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=start, decay_steps=steps, end_learning_rate=stop
    )


def network(width=800, classes=10):
    inputs = keras.Input(shape=(784,))
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    outputs = keras.layers.Dense(classes, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        model = network()
        sgd = keras.optimizers.SGD(learning_rate=schedule_for(hp))
        model.compile(optimizer=sgd, loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        stopper = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20)
        callbacks = list(kwargs.pop("callbacks", [])) + [stopper]
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val,
                     callbacks=callbacks, **kwargs)
"""
# ...and the same code handed in by another: every name renamed, the helpers and the
# methods in another order, comments and layout changed.
BEA = """\
import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    # my own training loop
    def fit(self, hp, M, x, y, xy_val, **kwargs):
        es = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20)
        cbs = list(kwargs.pop("callbacks", [])) + [es]
        return M.fit(x, y,
            batch_size=256, epochs=100, validation_data=xy_val, callbacks=cbs, **kwargs)

    def build(self, hp):
        net = make_mlp()
        optimiser = keras.optimizers.SGD(learning_rate=lr_policy(hp))
        net.compile(optimizer=optimiser, loss="categorical_crossentropy", metrics=["accuracy"])
        return net


def make_mlp(units=800, n_out=10):
    x_in = keras.Input(shape=(784,))
    h = keras.layers.Dense(units, activation="relu")(x_in)
    y_out = keras.layers.Dense(n_out, activation="softmax")(h)
    return keras.Model(x_in, y_out)


def lr_policy(hp, n=10):
    # the schedule
    a = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
    b = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
    return keras.optimizers.schedules.PolynomialDecay(initial_learning_rate=a,
        decay_steps=n, end_learning_rate=b)
"""
EXAM = spec_module.load("fashion-mnist-polynomial-decay")
SUBMISSIONS = Path(__file__).resolve().parent.parent / "submissions"


def _class(folder: Path, *extra: tuple[str, str]) -> list[SubmissionRef]:
    """The shipped examples, and `extra` (name, code) files, as one class."""
    shutil.copytree(SUBMISSIONS, folder, ignore=shutil.ignore_patterns("*.toml"))
    for name, code in extra:
        _write(folder, name, code)
    return list(discover.discover([folder]).submissions)


def _groups(refs: list[SubmissionRef]) -> list[dict[str, Any]]:
    return summary.summarise([], refs, EXAM, lang="en")["similar"]


def test_the_shipped_examples_form_no_group(tmp_path: Path) -> None:
    # Before: seven of the eight (a syntax error among them) were one group at 1.0, every
    # variant of a statement that fixes the architecture looking the same.
    refs = _class(tmp_path / "class")
    assert len(refs) == 8
    assert _groups(refs) == []


def test_a_renamed_and_reordered_copy_is_flagged_with_what_it_shares(tmp_path: Path) -> None:
    refs = _class(tmp_path / "class", ("ana.py", ANA), ("bea.py", BEA))
    (group,) = _groups(refs)
    assert group["ids"] == ("ana", "bea") and group["similarity"] >= similarity.THRESHOLD
    (pair,) = group["pairs"]
    places = [p["where"] for p in pair["passages"]]
    # The helper that builds the network: lines 14-18 of ana.py, 20-24 of bea.py.
    assert "ana: lines 14–18 ↔ bea: lines 20–24" in places
    network = next(p for p in pair["passages"] if p["where"].startswith("ana: lines 14"))
    assert network["code"].startswith("def network(width=800, classes=10):")
    html = summary.render(summary.summarise([], refs, EXAM, lang="es"))
    assert "ana: líneas 14–18 ↔ bea: líneas 20–24" in html
    assert "def network(width=800, classes=10):" in html  # the shared code, escaped


def test_a_starter_file_is_set_aside_like_the_reference(tmp_path: Path) -> None:
    starter = _write(tmp_path, "starter.py", ANA)
    a = _write(tmp_path, "a.py", ANA + "\nprint('a')\n")
    b = _write(tmp_path, "b.py", BEA + "\nprint('b')\n")
    assert [g.ids for g in similarity.groups({"a": a, "b": b})] == [("a", "b")]
    assert similarity.groups({"a": a, "b": b}, base=[starter]) == []


def _result(
    sid: str, status: Status, score: float, accuracy: float | None, seconds: float
) -> GradeResult:
    checks = (
        CheckResult("structure", "S", CheckStatus.PASSED, 1.0, 1.0, ""),
        CheckResult("optimizer", "O", CheckStatus.FAILED if score < 5 else CheckStatus.PASSED,
                    0.0 if score < 5 else 1.0, 1.0, ""),
    ) if status is Status.GRADED else ()  # fmt: skip
    return GradeResult(
        id=sid, sha256="", assignment="a", budget="smoke", status=status, score=score,
        max_score=10.0, test_accuracy=accuracy, checks=checks, timings={"total": seconds},
        message="" if status is Status.GRADED else "SyntaxError in cell 7",
    )  # fmt: skip


def test_summary_counts_rates_and_lists(tmp_path: Path) -> None:
    spec = spec_module.load("fashion-mnist-polynomial-decay")
    results = [
        _result("ana", Status.GRADED, 9.0, 0.85, 30.0),
        _result("bea", Status.GRADED, 4.0, 0.70, 50.0),
        _result("<script>", Status.ERROR, 0.0, None, 1.0),
    ]
    refs = [
        SubmissionRef(r.id, _write(tmp_path, f"{i}.py", "x = 1\n"), "py")
        for i, r in enumerate(results)
    ]
    data = summary.summarise(results, refs, spec, lang="en")
    assert data["counts"]["graded"] == 2 and data["counts"]["error"] == 1
    assert [b["count"] for b in data["scores"]["bins"]][4] == 1  # 40 %
    assert [b["count"] for b in data["scores"]["bins"]][9] == 1  # 90 %
    rates = {c["id"]: c["rate"] for c in data["checks"]}
    assert rates["structure"] == 1.0 and rates["optimizer"] == 0.5 and rates["schedule"] is None
    assert data["accuracy"]["mean"] == (0.85 + 0.70) / 2
    baseline = data["accuracy"]["baselines"][0]
    assert baseline["at_or_above"] == sum(v >= baseline["test_accuracy"] for v in (0.85, 0.70))
    assert [f["id"] for f in data["failed"]] == ["<script>"]
    assert [s["id"] for s in data["slowest"]] == ["bea", "ana", "<script>"]
    html = summary.render(data)
    assert "&lt;script&gt;" in html and "<script>" not in html  # student ids are escaped
    assert "Near-identical submissions" in html
    path = summary.write(results, refs, spec, tmp_path, lang="en")
    assert path.read_text(encoding="utf-8") == html
