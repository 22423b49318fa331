"""`grade validate`: the spec loads, the reference gets full marks, examples/ match EXPECTED.toml.

Two grades in all, each on a 500-image subset under `smoke`: a copy of the Fashion exam
with an examples/ folder (two examples that need no training), and a copy whose
reference is the wrong-schedule example. The verdicts on other expectations are judged
from the first grade's results (`validate.judge` only reads), so they cost nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from grader import cli, data, datasets, report
from grader import spec as spec_module
from grader import validate as validate_module
from grader.batch import BatchOptions
from grader.errors import DataError, ExitCode, SpecError
from grader.results import CheckStatus, Location, Status
from grader.settings import Source
from grader.validate import Expectation, Graded, judge, read_expected, render, validate
from tests.sample_results import graded_result

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay"
SUBMISSIONS = ROOT / "submissions"
SUBSET = 500

# The two examples' entries, as submissions/EXPECTED.toml gives them.
EXPECTED = """\
[syntax_error]
status = "error"
fail = []
message_contains = "SyntaxError in cell 7, line 2"
error_location = { cell = 7, line = 2 }

[no_hypermodel]
status = "graded"
fail = ["structure"]
skipped = [
    "architecture", "loss_metrics", "optimizer", "schedule", "schedule_params",
    "search_space", "fit_config", "callbacks_passthrough", "accuracy",
]
message_contains = "MyHypermodel"
"""


def _with_examples(folder: Path, expected: str = EXPECTED) -> Path:
    shutil.copytree(SHIPPED, folder)
    (folder / "examples").mkdir()
    for name in ("syntax_error.ipynb", "no_hypermodel.ipynb"):
        shutil.copy(SUBMISSIONS / name, folder / "examples" / name)
    (folder / "examples" / "EXPECTED.toml").write_text(expected, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def validated(
    tmp_path_factory: pytest.TempPathFactory, cache: Path
) -> tuple[validate_module.Validation, Path]:
    folder = _with_examples(tmp_path_factory.mktemp("course") / "fashion")
    out = tmp_path_factory.mktemp("out")
    lines: list[str] = []
    validation = validate(
        Source(assignment=folder, lang="en", cache_dir=cache),
        out=out,
        subset=SUBSET,
        batch=BatchOptions(echo=lines.append),
    )
    return validation, folder


@pytest.mark.slow
def test_the_exam_reference_validates_with_its_examples(validated) -> None:
    validation, _ = validated
    assert validation.reference.status is Status.GRADED
    assert validation.lost == ()
    assert validation.not_judged == ("accuracy",)  # a subset has no calibration
    assert [(v.id, v.problems) for v in validation.examples] == [
        ("no_hypermodel", ()),
        ("syntax_error", ()),
    ]
    assert validation.ok and validation.exit_code == ExitCode.OK
    text = render(validation, "en")
    assert text.startswith("fashion-mnist-polynomial-decay: valid (budget 'smoke')")
    assert "not judged under --subset" in text and "accuracy" in text
    assert "válida" in render(validation, "es")
    # The reports stay in --out: the instructor can read why each example got its verdict.
    assert (validation.out / "no_hypermodel" / "report.html").is_file()


@pytest.mark.slow
def test_examples_that_differ_from_expected_are_each_named(validated) -> None:
    validation, folder = validated
    spec = spec_module.load(folder)
    expected = read_expected(folder / "examples" / "EXPECTED.toml", spec)
    wrong = {
        "syntax_error": dataclasses.replace(
            expected["syntax_error"],
            status=Status.GRADED,
            fail=frozenset({"schedule"}),
            error_location=None,
        ),
        "no_hypermodel": Expectation(
            id="no_hypermodel", status=Status.GRADED, fail=frozenset(), message_contains="Adam"
        ),
    }
    results = {sid: report.read_result(validation.out / sid / report.RESULT_FILE) for sid in wrong}
    graded = Graded(validation.reference, results)
    judged = judge(spec, "smoke", graded, wrong, lang="en", subset=SUBSET)
    problems = {v.id: v.problems for v in judged.examples}
    assert any("status error, expected graded" in p for p in problems["syntax_error"])
    assert any("should fail schedule" in p for p in problems["syntax_error"])
    assert any("fails structure, which is in neither" in p for p in problems["no_hypermodel"])
    assert any("no message contains 'Adam'" in p for p in problems["no_hypermodel"])
    assert judged.lost == () and not judged.ok and judged.exit_code == ExitCode.NOT_VALID
    text = render(judged, "en")
    assert "NOT valid" in text and "example no_hypermodel:" in text
    assert "the reference" not in text  # the reference itself is fine: not listed


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy whose reference uses ExponentialDecay: the schedule check must name it."""
    folder = tmp_path_factory.mktemp("broken") / "fashion"
    shutil.copytree(SHIPPED, folder)
    shutil.copy(SUBMISSIONS / "exponential_decay.ipynb", folder / "reference.ipynb")
    return folder


@pytest.mark.slow
def test_a_reference_that_loses_points_fails_with_the_checks_named(
    broken: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        [
            "validate",
            str(broken),
            "--subset",
            str(SUBSET),
            "--lang",
            "en",
            "--cache-dir",
            str(cache),
        ]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.NOT_VALID
    assert "fashion-mnist-polynomial-decay: NOT valid (budget 'smoke')" in err
    assert "it loses points on:" in err
    lost = [line.split()[1] for line in err.splitlines() if line.startswith("    - ")]
    assert "schedule" in lost and "schedule_params" in lost
    assert "ExponentialDecay" in err  # the check's own message says what it found


# --- before any training: EXPECTED.toml and examples/ are checked first ----------------------


def test_expected_errors_name_the_key(tmp_path: Path) -> None:
    spec = spec_module.load(SHIPPED)
    path = tmp_path / "EXPECTED.toml"
    path.write_text('[a]\nstatus = "graded"\nfail = ["schedul"]\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"key 'a\.fail' names \['schedul'\]"):
        read_expected(path, spec)
    path.write_text('[a]\nstatus = "passed"\nfail = []\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"key 'a\.status' is 'passed'"):
        read_expected(path, spec)
    path.write_text('[a]\nstatus = "graded"\nfail = []\nfails = []\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"key 'a\.fails' is not a known key"):
        read_expected(path, spec)
    path.write_text('[a]\nstatus = "error"\nerror_location = { cell = 1 }\n', encoding="utf-8")
    with pytest.raises(SpecError, match=r"key 'a\.error_location\.line' is missing"):
        read_expected(path, spec)


def test_examples_and_tables_must_match_before_anything_trains(tmp_path: Path) -> None:
    orphan = EXPECTED + '\n[adam]\nstatus = "graded"\nfail = ["optimizer"]\n'
    folder = _with_examples(tmp_path / "orphan", orphan)
    with pytest.raises(SpecError, match=r"table\(s\) \['adam'\] name no example"):
        validate(Source(assignment=folder, cache_dir=tmp_path / "never-used"))
    folder = _with_examples(tmp_path / "untold", EXPECTED.split("[no_hypermodel]")[0])
    with pytest.raises(SpecError, match=r"no table for example\(s\) \['no_hypermodel'\]"):
        validate(Source(assignment=folder, cache_dir=tmp_path / "never-used"))
    folder = _with_examples(tmp_path / "none")
    (folder / "examples" / "EXPECTED.toml").unlink()
    with pytest.raises(SpecError, match=r"has no EXPECTED\.toml"):
        validate(Source(assignment=folder, cache_dir=tmp_path / "never-used"))
    assert not (tmp_path / "never-used").exists()  # nothing was prepared, let alone trained


def test_a_wrong_error_location_is_written_in_the_chosen_language() -> None:
    # Was "el error está en line 4, se esperaba cell 7, line 2": str(Location) is English.
    spec = spec_module.load(SHIPPED)
    result = graded_result("ana")
    failed = frozenset(c.id for c in result.checks if c.status is CheckStatus.FAILED)
    want = {"ana": Expectation("ana", Status.GRADED, failed, error_location=Location(7, 2))}

    def problems(location: Location | None, lang: str) -> tuple[str, ...]:
        graded = Graded(result, {"ana": result}, locations={"ana": location})
        judged = judge(spec, "smoke", graded, want, lang=lang)
        return judged.examples[0].problems

    assert problems(Location(None, 4), "es") == (
        "el error está en línea 4, se esperaba celda 7, línea 2",
    )
    assert problems(None, "en") == ("the error is at -, expected cell 7, line 2",)
    assert problems(Location(7, 2), "es") == ()


# --- an assignment whose dataset is not on this machine --------------------------------------


def test_a_missing_dataset_is_named_with_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """MNIST has no offline package: validate says the data is missing, before any training."""
    keras_home = tmp_path / "keras-home"
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "env-cache"))
    monkeypatch.setenv("KERAS_HOME", str(keras_home))

    def no_network(self: datasets.KerasFile) -> str:
        raise Exception("URL fetch failure: no network in tests")

    monkeypatch.setattr(datasets.KerasFile, "_download", no_network)
    cache = tmp_path / "cache"
    argv = ["validate", "mnist-polynomial-decay", "--cache-dir", str(cache)]
    assert cli.main([*argv, "--lang", "en"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith(
        "error: mnist-polynomial-decay cannot be validated on this machine: its reference must "
        "be graded on the real MNIST data, which is not here: MNIST not found in "
        f"{keras_home / 'datasets' / 'mnist.npz'}"
    )
    origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
    digest = datasets.get("mnist").sha256
    where = f"{origin} (SHA-256 {digest}) into {keras_home / 'datasets'}, or anywhere"
    assert f"download {where}" in err
    assert "--data-dir DIR" in err and len(err.strip().splitlines()) == 1
    assert cli.main(argv) == ExitCode.USAGE  # the spec's language
    assert "mnist-polynomial-decay no se puede validar en esta máquina" in capsys.readouterr().err
    # With --data-dir the message names the folder given.
    given = tmp_path / "given"
    given.mkdir()
    with pytest.raises(DataError, match=f"{given / 'mnist.npz'} is missing") as info:
        source = Source("mnist-polynomial-decay", lang="en", data_dir=given, cache_dir=cache)
        validate(source)
    assert "put mnist.npz" in (info.value.hint or "")
    assert not (cache / "splits").exists()  # nothing was prepared, let alone trained
