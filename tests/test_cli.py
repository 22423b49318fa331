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


# --- which assignment, language, budget and output folder a run uses -----------------------

SUBMISSIONS = Path(__file__).resolve().parent.parent / "submissions"


def _chosen(argv: list[str]) -> tuple[Path, object]:
    """What `grade ARGV` would grade: the spec and the filled-in arguments (nothing runs)."""
    from grader.cli import apply_course, chosen_assignment
    from grader.cli import grade as grade_command

    args = grade_command.build_parser().parse_args(argv)
    course = apply_course(args, args.paths, keys=("lang", "budget", "out"))
    return chosen_assignment(args, args.paths, course), args


def test_grade_submissions_needs_no_flag_in_the_checkout(tmp_path: Path, capsys) -> None:
    # submissions/grade.toml names the exam: the command stops at the (empty) data folder,
    # not at "holds 6 assignments".
    assert _chosen([str(SUBMISSIONS)])[0] == SHIPPED / "assignment.toml"
    empty = tmp_path / "data"
    empty.mkdir()
    argv = [str(SUBMISSIONS), "--data-dir", str(empty), "--cache-dir", str(tmp_path / "c")]
    code, _, err = run([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code == ExitCode.USAGE and "train-" in err and "assignments" not in err


def test_a_course_file_gives_the_defaults_and_a_flag_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "class").mkdir()
    (tmp_path / "grade.toml").write_text(
        'assignment = "mnist-polynomial-decay"\nlang = "en"\nbudget = "smoke"\nout = "out"\n',
        encoding="utf-8",
    )
    spec_path, args = _chosen(["class"])
    assert spec_path.parent.name == "mnist-polynomial-decay"
    assert (args.lang, args.budget, args.out) == ("en", "smoke", tmp_path / "out")
    spec_path, args = _chosen(["class", "--assignment", EXAM, "--lang", "es", "--out", "r"])
    assert spec_path == SHIPPED / "assignment.toml"
    assert (args.lang, args.budget, args.out) == ("es", "smoke", Path("r"))
    # The submissions folder's own file comes first: it travels with the class.
    (tmp_path / "class" / "grade.toml").write_text(f'assignment = "{EXAM}"\n', encoding="utf-8")
    spec_path, args = _chosen(["class"])
    assert spec_path == SHIPPED / "assignment.toml" and args.lang is None


def test_a_folder_named_after_an_assignment_selects_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fashion-mnist-cyclic-lr").mkdir()
    assert _chosen(["fashion-mnist-cyclic-lr"])[0].parent.name == "fashion-mnist-cyclic-lr"


def test_only_when_nothing_says_which_the_list_of_assignments_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "class").mkdir()
    code, _, err = run(["class"], capsys)
    assert code == ExitCode.USAGE and len(err.strip().splitlines()) == 1
    assert "assignments: choose one with --assignment, a grade.toml" in err
    assert "fashion-mnist-polynomial-decay" in err and "mnist-polynomial-decay" in err


def test_a_course_file_with_an_unknown_key_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grade.toml").write_text(f'assigment = "{EXAM}"\n', encoding="utf-8")
    code, _, err = run([str(tmp_path)], capsys)
    assert code == ExitCode.USAGE
    assert "grade.toml: key 'assigment' is not a known key" in err


def test_validate_takes_assignment_as_every_command_does(capsys) -> None:
    from grader.cli import validate as validate_command

    parser = validate_command.build_parser()
    assert parser.parse_args(["--assignment", EXAM]).assignment == EXAM
    assert parser.parse_args([EXAM]).named == EXAM  # the older form still reads
    code, _, err = run(["validate", EXAM, "--assignment", "and-gate-schedules"], capsys)
    assert code == ExitCode.USAGE and "two assignments named" in err


@pytest.mark.parametrize("command", [[], *([name] for name in cli.COMMANDS)])
def test_every_commands_help_lists_its_exit_codes(command: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "exit codes:" in out and "  0 " in out and "  2 " in out and "130" in out
    assert "--assignment" in out


def test_one_figure_for_the_exam_calibrations_time(capsys) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert cli.EXAM_CALIBRATION_TIME in " ".join(readme.split())
    for command in ([], ["calibrate"]):
        with pytest.raises(SystemExit):
            cli.main([*command, "--help"])
        assert cli.EXAM_CALIBRATION_TIME in " ".join(capsys.readouterr().out.split())
