"""A course file, `grade.toml`: what `grade submissions/` grades when no flag says it.

An instructor with several assignments keeps, beside the submissions or in the folder
they grade from, a `grade.toml` such as

    assignment = "fashion-mnist-polynomial-decay"   # an id, or a folder / assignment.toml
    lang = "en"                                     # reports, summary, terminal lines
    budget = "default"
    out = "reports"                                 # where the reports go

Every key is optional and a flag always wins over it. The file in the submissions folder
is looked at first (it travels with the class), then the one in the working directory;
the first found is the course's and the other is not read. Paths in it are relative to
the file's folder. An unknown key or a wrong type is a `SpecError` naming the key, like
a spec's.

When no flag and no course file name the assignment, a submissions folder named after
an assignment (`grade fashion-mnist-polynomial-decay/`) selects it (`named_by_folder`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SpecError

COURSE_FILE = "grade.toml"
KEYS = ("assignment", "lang", "budget", "out")


@dataclass(frozen=True)
class Course:
    """What a course file says (None: it does not say it); `path` None: there is none."""

    path: Path | None = None
    assignment: str | None = None
    lang: str | None = None
    budget: str | None = None
    out: Path | None = None


def find(paths: Sequence[Path] = (), *, cwd: Path | None = None) -> Course:
    """The course file of a run on `paths`: in the folder of the submissions (the folder
    given, or the folder of the file given) when they all share one, else in `cwd`."""
    folders = {(p if p.is_dir() else p.parent).resolve() for p in paths if p.exists()}
    candidates = [*(folders if len(folders) == 1 else ()), (cwd or Path.cwd()).resolve()]
    for folder in candidates:
        if (folder / COURSE_FILE).is_file():
            return load(folder / COURSE_FILE)
    return Course()


def load(path: Path) -> Course:
    """Read one course file; every error names the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: not a readable TOML file: {exc}") from exc
    for key, value in data.items():
        if key not in KEYS:
            raise SpecError(
                f"{path}: key '{key}' is not a known key (typo?)",
                hint=f"a course file takes {', '.join(KEYS)}",
            )
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"{path}: key '{key}' must be a non-empty string, got {value!r}")
    assignment = data.get("assignment")
    if assignment is not None and (path.parent / assignment).exists():
        assignment = str(path.parent / assignment)  # a folder or spec beside the file
    out = data.get("out")
    return Course(
        path=path,
        assignment=assignment,
        lang=data.get("lang"),
        budget=data.get("budget"),
        out=path.parent / out if out is not None else None,
    )


def named_by_folder(paths: Sequence[Path], available: Sequence[str]) -> str | None:
    """The assignment a single submissions folder is named after (`grade <id>/`), if any."""
    folders = [p for p in paths if p.is_dir()]
    if len(paths) != 1 or len(folders) != 1:
        return None
    name = folders[0].resolve().name
    return name if name in available else None
