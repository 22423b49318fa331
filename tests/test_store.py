"""grader.store: keys, durability across connections, the one-writer lock, a broken file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grader import report
from grader.results import GradeResult, Status
from grader.store import STORE_FILE, Key, StoreError, open_store, settings_hash


def _key(**change: object) -> Key:
    fields: dict[str, object] = {
        "assignment": "a",
        "submission_id": "ana",
        "sha256": "f" * 64,
        "budget": "smoke",
        "subset": 2000,
        "settings": settings_hash({"lang": "es"}),
        "spec_sha256": "s" * 64,
        "grader_version": "0.1.0",
    }
    fields.update(change)
    return Key(**fields)  # type: ignore[arg-type]


def _result(score: float = 7.5) -> GradeResult:
    return GradeResult(
        id="ana", sha256="f" * 64, assignment="a", budget="smoke", status=Status.GRADED,
        score=score, max_score=10.0,
    )  # fmt: skip


def test_a_stored_result_comes_back_only_under_its_exact_key(tmp_path: Path) -> None:
    result = _result()
    text = report.result_json(result)
    with open_store(tmp_path) as db:
        db.put(_key(), result, text)
    with open_store(tmp_path) as db:  # a new connection, as a re-run would open
        stored = db.get(_key())
        assert stored is not None and stored.result == result and stored.text == text
        for change in (
            {"sha256": "e" * 64},
            {"budget": "default"},
            {"subset": None},
            {"settings": settings_hash({"lang": "en"})},
            {"spec_sha256": "t" * 64},
            {"grader_version": "0.2.0"},
            {"submission_id": "bea"},
        ):
            assert db.get(_key(**change)) is None, change


def test_the_same_key_is_one_row(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.put(_key(), _result(1.0), report.result_json(_result(1.0)))
        db.put(_key(), _result(2.0), report.result_json(_result(2.0)))  # --force
        db.put(_key(subset=None), _result(3.0), report.result_json(_result(3.0)))
        assert db.count() == 2
        stored = db.get(_key())
        assert stored is not None and stored.result.score == 2.0
        assert [row["subset"] for row in db.rows()] == [2000, 0]


def test_settings_hash_ignores_key_order() -> None:
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})


def test_one_writer_per_output_folder(tmp_path: Path) -> None:
    with open_store(tmp_path), pytest.raises(StoreError, match="another `grade` run"):  # noqa: SIM117
        with open_store(tmp_path):
            pass
    with open_store(tmp_path):  # released when the first run ends
        pass


def test_a_file_that_is_not_a_store_is_refused_with_a_fix(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a results store") as caught, open_store(tmp_path):
        pass
    assert "move it away" in caught.value.format()


def test_a_row_that_no_longer_parses_is_graded_again(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.put(_key(), _result(), report.result_json(_result()))
    with sqlite3.connect(tmp_path / STORE_FILE) as raw:
        raw.execute('UPDATE results SET result = \'{"status": "no such status"}\'')
    with open_store(tmp_path) as db:
        assert db.get(_key()) is None


def test_the_store_uses_a_write_ahead_log(tmp_path: Path) -> None:
    with open_store(tmp_path) as db:
        db.put(_key(), _result(), report.result_json(_result()))
    with sqlite3.connect(tmp_path / STORE_FILE) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_trainings_are_kept_by_program_and_layout_and_never_create_a_store(
    tmp_path: Path,
) -> None:
    from grader.store import read_training, write_training

    path = tmp_path / STORE_FILE
    assert not write_training(path, "p", "", "{}") and not path.exists()  # no store: no file
    assert read_training(path, "p", "") is None and not path.exists()
    with open_store(tmp_path):
        pass
    assert write_training(path, "p", "", '{"any": 1}')
    assert write_training(path, "q", "L1", '{"layout": 1}')
    assert read_training(path, "p", "whatever") == '{"any": 1}'  # '' fits every layout
    assert read_training(path, "q", "L1") == '{"layout": 1}'
    assert read_training(path, "q", "L2") is None  # another layout: not shared
    assert write_training(path, "p", "", '{"any": 2}')  # --force records over it
    assert read_training(path, "p", "") == '{"any": 2}'
