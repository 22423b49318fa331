"""The results store: one SQLite file (`<out>/results.sqlite`) that makes a batch resumable.

A row is one graded submission under one key: the assignment, the submission's id and the
SHA-256 of its bytes, the budget, the training subset, a hash of the remaining settings that
change a grade (language of the messages, seed, the reference calibration), the spec's hash
and the grader's version. `grade` reuses a row whose key matches instead of grading again,
so a re-run grades only what changed, and a run killed at submission 150 resumes at 150.

A second table, `trainings`, keeps the expensive part of a grade (the child's outcome and
the parent's evaluation) under the submission's normalised program instead of its bytes
(grader.reuse): a copy that differs only in comments or outputs is scored, not trained.

Durability: WAL journal with `synchronous=FULL`, one statement per row (SQLite makes each
atomic), so a `kill -9` at any instant leaves every finished row and no partial one. The
batch writes a submission's files first and its row last; a re-run treats a row whose files
are missing or different as a reused result whose files need rewriting.

Only one `grade` may write into an output folder at a time: `open_store` takes an exclusive
`flock` on `<out>/.grade.lock`, which the kernel drops when the process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader.errors import FatalError
from grader.results import GradeResult

STORE_FILE = "results.sqlite"
LOCK_FILE = ".grade.lock"
# What the store puts in the output folder: the database, SQLite's write-ahead log, shared
# memory and rollback journal beside it, and the lock.
OUTPUT_NAMES = (STORE_FILE, *(f"{STORE_FILE}-{s}" for s in ("wal", "shm", "journal")), LOCK_FILE)
STORE_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    assignment     TEXT NOT NULL,
    submission_id  TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    budget         TEXT NOT NULL,
    subset         INTEGER NOT NULL,  -- 0: the whole training set
    settings       TEXT NOT NULL,     -- hash of the other settings that change a grade
    spec_sha256    TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    status         TEXT NOT NULL,
    result         TEXT NOT NULL,     -- result.json, exactly as written next to the reports
    graded_at      TEXT NOT NULL,     -- UTC, ISO 8601
    PRIMARY KEY (assignment, submission_id, sha256, budget, subset, settings,
                 spec_sha256, grader_version)
);
-- The expensive part of a grade (child outcome + evaluation), shared by the submissions
-- whose normalised program is the same (grader.reuse).
CREATE TABLE IF NOT EXISTS trainings (
    program    TEXT NOT NULL,  -- grader.reuse.program_key: the program + what changes training
    layout     TEXT NOT NULL,  -- '' when the outcome names no place in the file, else its hash
    training   TEXT NOT NULL,  -- JSON (grader.reuse.encode)
    created_at TEXT NOT NULL,  -- UTC, ISO 8601
    PRIMARY KEY (program, layout)
);
-- Whole searches the trainer ran (grader.training), under what they were run with (`base`:
-- data, budget, seed, tuner, libraries, machine) and the sequence of declarations they
-- trained (`steps`: purpose, hyperparameters asked, Declaration.key). A submission whose
-- declarations give the same keys at the same requests is the same search.
CREATE TABLE IF NOT EXISTS searches (
    base       TEXT NOT NULL,
    steps      TEXT NOT NULL,  -- JSON list of [purpose, hyperparameters, key]
    outcome    TEXT NOT NULL,  -- JSON: the trainer's trials, best and the test evaluation
    created_at TEXT NOT NULL,  -- UTC, ISO 8601
    PRIMARY KEY (base, steps)
);
"""


class StoreError(FatalError):
    """The results store cannot be opened or written."""


@dataclass(frozen=True)
class Key:
    """Everything a stored result depends on; equal keys mean the same grade."""

    assignment: str
    submission_id: str
    sha256: str
    budget: str
    subset: int | None
    settings: str
    spec_sha256: str
    grader_version: str

    def columns(self) -> tuple[str | int, ...]:
        return (
            self.assignment,
            self.submission_id,
            self.sha256,
            self.budget,
            self.subset or 0,
            self.settings,
            self.spec_sha256,
            self.grader_version,
        )


@dataclass(frozen=True)
class Stored:
    """A row of the store: the result and the exact result.json text it was written as."""

    result: GradeResult
    text: str
    graded_at: str


def settings_hash(values: dict[str, Any]) -> str:
    """A stable hash of JSON-able settings (key order does not matter)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Store:
    """The results of one output folder. Use `open_store`; not shared between threads."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    def get(self, key: Key) -> Stored | None:
        """The stored result for `key`, or None (also when the row no longer parses)."""
        row = self._db.execute(
            "SELECT result, graded_at FROM results WHERE assignment=? AND submission_id=? "
            "AND sha256=? AND budget=? AND subset=? AND settings=? AND spec_sha256=? "
            "AND grader_version=?",
            key.columns(),
        ).fetchone()
        if row is None:
            return None
        try:
            result = GradeResult.from_dict(json.loads(row[0]))
        except (ValueError, TypeError, KeyError):
            return None  # written by another result format: grade again
        return Stored(result=result, text=row[0], graded_at=row[1])

    def put(self, key: Key, result: GradeResult, text: str) -> None:
        """Record `result` under `key` (replacing a row with the same key: `--force`)."""
        graded_at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key.columns(), result.status.value, text, graded_at),
            )
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot record {result.id} in {self.path}: {exc}",
                hint="check free disk space and that the output folder is writable",
            ) from exc

    def count(self, assignment: str | None = None) -> int:
        if assignment is None:
            return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        query = "SELECT COUNT(*) FROM results WHERE assignment=?"
        return int(self._db.execute(query, (assignment,)).fetchone()[0])

    def rows(self) -> list[dict[str, Any]]:
        """Every row without the result text (for tests and tools), oldest first."""
        cursor = self._db.execute(
            "SELECT assignment, submission_id, sha256, budget, subset, settings, spec_sha256, "
            "grader_version, status, graded_at FROM results ORDER BY rowid"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@contextlib.contextmanager
def _short(path: Path, *, write: bool = False) -> Iterator[sqlite3.Connection | None]:
    """A connection of its own to an existing store for one statement, or None.

    Trainings and searches are read and written by whichever process grades (a local
    worker too), so each opens its own; it never creates the file, and any SQLite trouble
    is a miss: sharing only saves time, it must never cost a grade.
    """
    try:
        db = sqlite3.connect(
            f"file:{path}?mode=rw", uri=True, timeout=30, isolation_level=None if write else ""
        )
    except sqlite3.Error:
        yield None
        return
    try:
        yield db
    except sqlite3.Error:
        pass
    finally:
        db.close()


def read_training(path: Path, program: str, layout: str) -> str | None:
    """The stored training for `program` usable with `layout` ('' matches any), or None."""
    row = None
    with _short(path) as db:
        if db is not None:
            row = db.execute(
                "SELECT training FROM trainings WHERE program=? AND layout IN ('', ?) "
                "ORDER BY layout='' DESC LIMIT 1",
                (program, layout),
            ).fetchone()
    return None if row is None else str(row[0])


def write_training(path: Path, program: str, layout: str, training: str) -> bool:
    """Record a training (replacing one under the same key); False if it could not be."""
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    return _execute(
        path, "INSERT OR REPLACE INTO trainings VALUES (?, ?, ?, ?)",
        (program, layout, training, created_at),
    )  # fmt: skip


def read_searches(path: Path, base: str) -> list[tuple[str, str]]:
    """The searches stored under `base` as (steps, outcome) JSON texts; [] on any trouble."""
    rows: list[tuple[str, str]] = []
    with _short(path) as db:
        if db is not None:
            found = db.execute("SELECT steps, outcome FROM searches WHERE base=?", (base,))
            rows = [(str(steps), str(outcome)) for steps, outcome in found.fetchall()]
    return rows


def write_search(path: Path, base: str, steps: str, outcome: str) -> bool:
    """Record one search (replacing one under the same key); False if it could not be."""
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    return _execute(
        path, "INSERT OR REPLACE INTO searches VALUES (?, ?, ?, ?)",
        (base, steps, outcome, created_at),
    )  # fmt: skip


def _execute(path: Path, statement: str, values: tuple[str, ...]) -> bool:
    """One write statement on its own connection (autocommit); False if it failed."""
    with _short(path, write=True) as db:
        if db is not None:
            db.execute(statement, values)
            return True
    return False


@contextlib.contextmanager
def open_store(out: Path) -> Iterator[Store]:
    """Lock `out` for this run and open (or create) its store."""
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out / LOCK_FILE):
        path = out / STORE_FILE
        try:
            # Autocommit: every statement is its own transaction, so nothing waits in a
            # Python-side transaction when the process is killed.
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the results store {path}: {exc}") from exc
        try:
            _initialise(db, path)
            yield Store(db, path)
        finally:
            db.close()


def _initialise(db: sqlite3.Connection, path: Path) -> None:
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('format', ?)",
            (str(STORE_FORMAT),),
        )
        found = db.execute("SELECT value FROM meta WHERE name='format'").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{path} is not a results store this grader can read: {exc}",
            hint="move it away (every result in it can be graded again) and re-run",
        ) from exc
    if found != str(STORE_FORMAT):
        raise StoreError(
            f"{path} has store format {found}; this grader writes format {STORE_FORMAT}",
            hint="grade into another --out folder, or move the old store away",
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreError(
                f"another `grade` run is writing into {path.parent}",
                hint="wait for it to finish, or give this run another --out folder",
            ) from exc
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
