"""grader.discover: which files and folders are submissions, and their ids."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from grader.discover import RESERVED_SUFFIX, Discovery, Rejected, SubmissionRef, discover
from grader.errors import UsageError


def touch(path: Path, text: str = "import os\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ids(found: Discovery) -> list[tuple[str, str, str]]:
    """(id, path relative to its top folder's parent, kind) of each submission."""
    return [(s.id, f"{s.path.parent.name}/{s.path.name}", s.kind) for s in found.submissions]


def test_folder_holds_files_and_student_folders(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    touch(subs / "zoe.ipynb", "{}")
    touch(subs / "bob.py")
    touch(subs / "ana" / "exam.ipynb", "{}")
    touch(subs / "ana" / "helpers.py")  # a notebook is preferred over scripts
    touch(subs / "carl" / "src" / "deep" / "mine.py")  # found at any depth
    touch(subs / "README.md", "# notes")
    touch(subs / "EXPECTED.toml", "")
    touch(subs / "data.csv", "1,2")
    found = discover([subs])
    assert ids(found) == [
        ("ana", "ana/exam.ipynb", "ipynb"),
        ("bob", "subs/bob.py", "py"),
        ("carl", "deep/mine.py", "py"),
        ("zoe", "subs/zoe.ipynb", "ipynb"),
    ]
    assert found.rejected == ()


def test_hidden_checkpoint_and_cache_files_are_ignored(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    touch(subs / "ana" / "exam.ipynb", "{}")
    touch(subs / "ana" / ".ipynb_checkpoints" / "exam-checkpoint.ipynb", "{}")
    touch(subs / "ana" / "__pycache__" / "x.py")
    touch(subs / ".hidden.py")
    touch(subs / ".ipynb_checkpoints" / "bob-checkpoint.ipynb", "{}")
    touch(subs / "__pycache__" / "mod.py")
    found = discover([subs])
    assert ids(found) == [("ana", "ana/exam.ipynb", "ipynb")]
    assert found.rejected == ()


def test_ambiguous_or_empty_student_folders_are_rejected(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    touch(subs / "two" / "a.ipynb", "{}")
    touch(subs / "two" / "b.ipynb", "{}")
    touch(subs / "scripts" / "a.py")
    touch(subs / "scripts" / "b.py")
    touch(subs / "none" / "notes.txt", "hi")
    (subs / "empty").mkdir()
    found = discover([subs])
    assert found.submissions == ()
    reasons = {r.id: r.reason for r in found.rejected}
    assert sorted(reasons) == ["empty", "none", "scripts", "two"]
    assert "several notebooks: a.ipynb, b.ipynb" in reasons["two"]
    assert "several scripts (and no notebook): a.py, b.py" in reasons["scripts"]
    assert "holds no .ipynb notebook or .py script" in reasons["none"]
    assert all(r.path.is_dir() for r in found.rejected)


def test_same_id_twice_rejects_both(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    py = touch(subs / "ana.py")
    nb = touch(subs / "ana.ipynb", "{}")
    touch(subs / "Bob.py")
    touch(subs / "bob" / "x.ipynb", "{}")  # ids differ only in case: reports would clash
    touch(subs / "carl.py")
    found = discover([subs])
    assert [s.id for s in found.submissions] == ["carl"]
    rejected = {(r.id, r.path.name) for r in found.rejected}
    assert rejected == {
        ("ana", "ana.ipynb"),
        ("ana", "ana.py"),
        ("bob", "x.ipynb"),
        ("Bob", "Bob.py"),
    }
    reason = next(r.reason for r in found.rejected if r.path == py)
    assert str(py) in reason and str(nb) in reason


def test_a_file_on_the_command_line_is_one_submission(tmp_path: Path) -> None:
    nb = touch(tmp_path / "ana.ipynb", "{}")
    other = touch(tmp_path / "notes.md", "# hi")
    found = discover([nb, other])
    assert found.submissions == (SubmissionRef("ana", nb, "ipynb"),)
    (rejected,) = found.rejected
    assert rejected == Rejected("notes", other, rejected.reason)
    assert "not a submission" in rejected.reason


def test_the_same_file_reached_twice_counts_once(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    py = touch(subs / "ana.py")
    found = discover([subs, py, subs / ".." / "subs" / "ana.py"])
    assert [s.id for s in found.submissions] == ["ana"]
    assert found.rejected == ()


def test_empty_and_binary_files_are_still_submissions(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_bytes(b"")
    (tmp_path / "blob.ipynb").write_bytes(b"\x00\xff\x10")
    found = discover([tmp_path])
    assert [s.id for s in found.submissions] == ["blob", "empty"]


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UsageError) as info:
        discover([tmp_path, missing])
    assert str(missing) in info.value.message
    assert info.value.hint


def test_non_ascii_names_keep_their_characters(tmp_path: Path) -> None:
    touch(tmp_path / "subs" / "josé.ipynb", "{}")
    # macOS writes decomposed (NFD) names; the id is the composed form either way.
    touch(tmp_path / "subs" / unicodedata.normalize("NFD", "núñez") / "examen.ipynb", "{}")
    found = discover([tmp_path / "subs"])
    assert [s.id for s in found.submissions] == ["josé", "núñez"]
    assert all(unicodedata.is_normalized("NFC", s.id) for s in found.submissions)


def test_empty_folder_gives_nothing(tmp_path: Path) -> None:
    assert discover([tmp_path]) == Discovery(submissions=(), rejected=())


# --- links, pipes and reserved names (issue 21) -------------------------------------------


def test_a_link_is_never_followed_wherever_it_is(tmp_path: Path) -> None:
    """A student folder that links to the reference, a script that links outside the
    submissions, a link inside a student's folder, a link named on the command line: each
    is rejected under its own name, and nothing behind a link becomes a submission."""
    reference = tmp_path / "reference"
    touch(reference / "solution.ipynb", "{}")
    outside = touch(tmp_path / "secret.py", "KEY = 'the grader machine'\n")
    subs = tmp_path / "subs"
    touch(subs / "ana.py")
    (subs / "bob").symlink_to(reference, target_is_directory=True)
    (subs / "carl.py").symlink_to(outside)
    touch(subs / "dana" / "notes.md", "# hi")
    (subs / "dana" / "exam.py").symlink_to(outside)
    touch(subs / "eve" / "exam.ipynb", "{}")
    (subs / "eve" / "data").symlink_to(tmp_path, target_is_directory=True)  # not followed
    (subs / "gone.ipynb").symlink_to(tmp_path / "nowhere.ipynb")  # a dangling link
    named = tmp_path / "named.py"
    named.symlink_to(outside)
    found = discover([subs, named])
    assert ids(found) == [("ana", "subs/ana.py", "py"), ("eve", "eve/exam.ipynb", "ipynb")]
    reasons = {r.id: r.reason for r in found.rejected}
    assert sorted(reasons) == ["bob", "carl", "dana", "gone", "named"]
    for sid in ("bob", "carl", "gone", "named"):
        assert "symbolic link" in reasons[sid]
    assert "exam.py" in reasons["dana"] and "not a regular file" in reasons["dana"]
    assert all(s.path.resolve().is_relative_to(subs.resolve()) for s in found.submissions)


def test_a_pipe_named_as_a_script_rejects_its_folder(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    touch(subs / "fred" / "notes.md", "# hi")
    os.mkfifo(subs / "fred" / "exam.py")  # reading it would block every reader
    os.mkfifo(subs / "gina.py")
    found = discover([subs])
    assert found.submissions == ()
    reasons = {r.id: r.reason for r in found.rejected}
    assert "exam.py" in reasons["fred"] and "not a regular file" in reasons["fred"]
    assert "not a regular file" in reasons["gina"]


def test_an_id_never_takes_a_reserved_name(tmp_path: Path) -> None:
    """`grades.csv.ipynb` and a folder `Summary.HTML/` would become the batch's gradebook and
    summary folders: their ids get a suffix instead (compared ignoring case)."""
    subs = tmp_path / "subs"
    touch(subs / "grades.csv.ipynb", "{}")
    touch(subs / "Summary.HTML" / "exam.ipynb", "{}")
    touch(subs / "results.sqlite-wal.py")
    touch(subs / "ana.py")
    reserved = {"grades.csv", "summary.html", "results.sqlite-wal"}
    found = discover([subs], reserved=reserved)
    assert [s.id for s in found.submissions] == [
        "ana",
        "grades.csv" + RESERVED_SUFFIX,
        "results.sqlite-wal" + RESERVED_SUFFIX,
        "Summary.HTML" + RESERVED_SUFFIX,
    ]
    assert not {s.id.casefold() for s in found.submissions} & reserved
    # Without reserved names (a single report folder, the self-check) ids are the names.
    assert "grades.csv" in {s.id for s in discover([subs]).submissions}
