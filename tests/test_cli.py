"""The command line: arguments, one-line errors and documented exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli
from grader import spec as spec_module
from grader.errors import ExitCode

EXAM = "fashion-mnist-polynomial-decay"
SHIPPED = spec_module.ASSIGNMENTS_DIR / EXAM


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    for fragment in ("--budget", "--assignment", "--out", "exit codes:", "0 ", "1 ", "2 "):
        assert fragment in out


def test_missing_path_is_a_usage_error(tmp_path: Path, capsys) -> None:
    code, _, err = run(
        [str(tmp_path / "nowhere"), "--assignment", EXAM, "--out", str(tmp_path / "o")], capsys
    )
    assert code == ExitCode.USAGE
    assert err.startswith("error:") and "nowhere" in err and len(err.strip().splitlines()) == 1


def test_unknown_budget(tmp_path: Path, capsys) -> None:
    code, _, err = run(
        [str(tmp_path), "--assignment", EXAM, "--budget", "huge", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert code == ExitCode.USAGE
    assert "unknown budget 'huge'" in err and "smoke" in err


def test_unknown_assignment(tmp_path: Path, capsys) -> None:
    code, _, err = run(
        [str(tmp_path), "--assignment", "cifar", "--out", str(tmp_path / "o")], capsys
    )
    assert code == ExitCode.USAGE
    assert "unknown assignment 'cifar'" in err and "fashion-mnist-polynomial-decay" in err


def test_broken_spec(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "spec"
    shutil.copytree(SHIPPED, folder)
    toml = folder / "assignment.toml"
    toml.write_text(toml.read_text().replace("seed = 23", "seed = -"), encoding="utf-8")
    code, _, err = run(
        [str(tmp_path), "--assignment", str(folder), "--out", str(tmp_path / "o")], capsys
    )
    assert code == ExitCode.USAGE
    assert "not valid TOML" in err and str(toml) in err


def test_bad_subset(tmp_path: Path, capsys) -> None:
    code, _, err = run([str(tmp_path), "--subset", "0"], capsys)
    assert code == ExitCode.USAGE
    assert "--subset must be a positive number of training images" in err and "not 0" in err


def test_bad_jobs_uses_the_same_rule(tmp_path: Path, capsys) -> None:
    code, _, err = run([str(tmp_path), "--jobs", "-2"], capsys)
    assert code == ExitCode.USAGE
    assert (
        err.strip()
        == "error: --jobs must be a positive number of submissions graded at once, not -2"
    )


def test_missing_data_dir(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "data"
    empty.mkdir()
    sub = tmp_path / "s.py"
    sub.write_text("x = 1\n")
    code, _, err = run(
        [
            str(sub),
            "--assignment",
            EXAM,
            "--data-dir",
            str(empty),
            "--cache-dir",
            str(tmp_path / "c"),
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == ExitCode.USAGE
    assert "train-images-idx3-ubyte.gz" in err or "train-labels-idx1-ubyte.gz" in err


def test_python_dash_m_and_console_script_agree() -> None:
    for command in (
        [sys.executable, "-m", "grader", "--version"],
        [str(Path(sys.executable).parent / "grade"), "--version"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0
        assert done.stdout.startswith("grader ")


def test_assignments_dir_option_is_searched_first(tmp_path: Path, capsys) -> None:
    course = tmp_path / "course"
    shutil.copytree(SHIPPED, course / "next-year")
    code, _, err = run(
        [str(tmp_path / "nowhere.ipynb"), "--assignment", "nope", "--assignments-dir", str(course)],
        capsys,
    )
    assert code == ExitCode.USAGE and len(err.strip().splitlines()) == 1
    assert f"next-year (in {course})" in err and "(--assignments-dir)" in err


def test_validate_help_documents_its_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "exit codes:" in out and "3 " in out and "EXPECTED.toml" in out
    assert int(ExitCode.NOT_VALID) == 3
