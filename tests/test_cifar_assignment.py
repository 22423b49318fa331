"""The `cifar10-cats-dogs-step-decay` assignment (seed 002), end to end on a generated archive.

The real `cifar-10-python.tar.gz` is not on this machine and no test downloads it. The
grade runs on an archive generated in the official format; the registry's real SHA-256
stays, and the test hook is the registry entry itself, replaced (monkeypatch) by one that
expects the generated archive's hash: no option a user can give weakens the check.
`grade validate` then grades the reference and every example once, on a subset under
`smoke` (a subset is never compared with a calibration, so `accuracy` is not judged): that
run and the assertions that read it are in tests/test_validate_shipped.py (the archive is
made by tests/validate_helpers.py); here, the registry and the missing archive.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from grader import cli, data, datasets
from grader import spec as spec_module
from grader.batch import BatchOptions
from grader.errors import DataError, ExitCode
from grader.settings import Source
from grader.validate import validate

SHIPPED = spec_module.ASSIGNMENTS_DIR / "cifar10-cats-dogs-step-decay"
EXAMPLES = SHIPPED / "examples"
EXPECTED = tomllib.loads((EXAMPLES / "EXPECTED.toml").read_text(encoding="utf-8"))
ARCHIVE = "cifar-10-python.tar.gz"
# 5 x 500 training images, 9 in 10 of them cats or dogs: 2,250, of which the spec's last
# 2,000 validate; the subset keeps the first 200 of the training and validation parts.
PER_BATCH = 500
SUBSET = 200


def _offline(self: datasets.KerasFile) -> str:
    raise Exception("URL fetch failure: no network in tests")


def test_the_registry_keeps_keras_own_hash() -> None:
    # The test hook replaces this entry only while the validate run grades
    # (tests/validate_helpers.py).
    real = datasets.get("cifar10")
    assert isinstance(real, datasets.KerasFile)
    assert real.sha256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def test_validate_without_the_archive_says_what_is_missing_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "env-cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(datasets.KerasFile, "_download", _offline)
    with pytest.raises(DataError) as caught:
        validate(
            Source(SHIPPED, lang="en", cache_dir=tmp_path / "cache"),
            batch=BatchOptions(jobs=1),
        )
    text = caught.value.format()
    assert (
        "cifar10-cats-dogs-step-decay cannot be validated on this machine: its reference must "
        "be graded on the real CIFAR-10 data, which is not here: CIFAR-10 not found in"
    ) in text
    assert str(tmp_path / "keras-home" / "datasets" / ARCHIVE) in text  # where it looked
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in text  # where to get it
    assert "SHA-256 6d958be0" in text and "--data-dir" in text
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))

    code = cli.main(["validate", str(SHIPPED), "--lang", "en", "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert (
        err.startswith("error: cifar10-cats-dogs-step-decay cannot be validated") and ARCHIVE in err
    )
