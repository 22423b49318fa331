"""`grade validate`: the spec loads, the reference gets full marks, examples/ match EXPECTED.toml.

One grade here, on a 500-image subset under `smoke`: a copy of the Fashion exam whose
reference is the wrong-schedule example. The exam's copy with an examples/ folder (two
examples that need no training) is validated with every shipped assignment in
tests/test_validate_shipped.py, which also judges other expectations from its results
(`validate.judge` only reads, so they cost nothing).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from validate_helpers import EXAM_EXPECTED, with_examples

from grader import cli, data, datasets
from grader import spec as spec_module
from grader.errors import DataError, ExitCode, SpecError
from grader.results import CheckStatus, Location, Status
from grader.settings import Source
from grader.validate import Expectation, Graded, judge, read_expected, validate
from tests.sample_results import graded_result

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = spec_module.ASSIGNMENTS_DIR / "fashion-mnist-polynomial-decay"
SUBMISSIONS = ROOT / "submissions"
SUBSET = 500


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy whose reference uses ExponentialDecay: the schedule check must name it."""
    folder = tmp_path_factory.mktemp("broken") / "fashion"
    shutil.copytree(SHIPPED, folder)
    shutil.copy(SUBMISSIONS / "exponential_decay.ipynb", folder / "reference.ipynb")
    return folder


@pytest.mark.slow
def test_a_reference_that_loses_points_fails_with_the_checks_named(
    broken: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
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
            str(cache_dir),
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
    orphan = EXAM_EXPECTED + '\n[adam]\nstatus = "graded"\nfail = ["optimizer"]\n'
    folder = with_examples(tmp_path / "orphan", orphan)
    with pytest.raises(SpecError, match=r"table\(s\) \['adam'\] name no example"):
        validate(Source(assignment=folder, cache_dir=tmp_path / "never-used"))
    folder = with_examples(tmp_path / "untold", EXAM_EXPECTED.split("[no_hypermodel]")[0])
    with pytest.raises(SpecError, match=r"no table for example\(s\) \['no_hypermodel'\]"):
        validate(Source(assignment=folder, cache_dir=tmp_path / "never-used"))
    folder = with_examples(tmp_path / "none")
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
