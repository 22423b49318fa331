"""Find the submissions named on the command line.

Rules (also shown in `grade --help`):

- A path that is a file is one submission; its id is the file's stem. Only `.ipynb`
  and `.py` files are submissions; any other file named explicitly is rejected.
- A path that is a folder is a collection: each `.ipynb`/`.py` directly inside it is a
  submission, and each subfolder is one student's folder (id = the folder's name).
  Other files (README.md, EXPECTED.toml, data) are ignored silently.
- In a student's folder (searched recursively) the submission is its only `.ipynb`;
  with no notebook, its only `.py`. Several notebooks, several scripts and no notebook,
  or nothing at all: the folder is rejected with a message that names the files.
- Hidden files and folders (`.ipynb_checkpoints`, `.git`, ...) and `__pycache__` are
  never looked at.
- Two submissions with the same id (`ana.py` and `ana.ipynb`, or `ana.py` and a folder
  `ana/`; compared ignoring case, since reports are written under the id) are both
  rejected: the grader never picks one silently.

Ids are NFC-normalised so that a name typed on macOS (NFD) and on Linux is the same id.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader import i18n
from grader.errors import UsageError

Kind = Literal["ipynb", "py"]
SUFFIXES: dict[str, Kind] = {".ipynb": "ipynb", ".py": "py"}
_IGNORED_DIRS = frozenset({"__pycache__"})
MAX_FOLDER_DEPTH = 20  # inside one student's folder; a real one is 1 or 2 levels deep


@dataclass(frozen=True)
class SubmissionRef:
    """One submission to grade: its id and the file to load."""

    id: str
    path: Path
    kind: Kind


@dataclass(frozen=True)
class Rejected:
    """Something that looked like a submission but cannot be graded, and why.

    `reason` is the English text (logs, tests); `text(lang)` is the one the student's
    report shows, from the catalogs' `[discover]` table (`key`, filled with `values`).
    """

    id: str
    path: Path
    reason: str
    key: str = field(default="", compare=False)
    values: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def text(self, lang: str) -> str:
        if not self.key:
            return self.reason
        return i18n.say(f"discover.{self.key}", lang, **dict(self.values))


def _rejected(sid: str, path: Path, key: str, **values: object) -> Rejected:
    fields = tuple((name, str(value)) for name, value in values.items())
    reason = i18n.say(f"discover.{key}", i18n.FALLBACK, **dict(fields))
    return Rejected(sid, path, reason, key, fields)


@dataclass(frozen=True)
class Discovery:
    submissions: tuple[SubmissionRef, ...]  # sorted by id
    rejected: tuple[Rejected, ...]  # sorted by id


def discover(paths: Sequence[Path]) -> Discovery:
    """Turn command-line paths into submissions (and rejections), following the module rules.

    Raises `UsageError` if a path does not exist.
    """
    for path in paths:
        if not path.exists():
            raise UsageError(
                f"no such file or folder: {path}",
                hint="give .ipynb/.py files or folders that hold them",
            )
    found: list[SubmissionRef | Rejected] = []
    seen: set[Path] = set()
    for path in paths:
        for entry in _entries(path):
            key = entry.path.resolve()
            # The same file reached twice (`grade subs subs/ana.py`) is one submission.
            if key not in seen:
                seen.add(key)
                found.append(entry)
    return _split(_reject_duplicates(found))


def _entries(path: Path) -> Iterable[SubmissionRef | Rejected]:
    if not path.is_dir():
        yield _from_file(path)
        return
    try:
        children = sorted(path.iterdir())
    except OSError as exc:
        raise UsageError(f"cannot list {path}: {exc.strerror or exc}") from None
    for child in children:
        if _ignored(child):
            continue
        if child.is_dir():
            yield _from_folder(child)
        elif child.suffix.lower() in SUFFIXES:
            yield _from_file(child)


def _from_file(path: Path) -> SubmissionRef | Rejected:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        return _rejected(_id(path.stem), path, "not_submission", name=path.name)
    if not path.is_file():
        # A named pipe would block every reader (load, hashing) forever; a device too.
        return _rejected(_id(path.stem), path, "not_regular", name=path.name)
    return SubmissionRef(_id(path.stem), path, kind)


def _from_folder(folder: Path) -> SubmissionRef | Rejected:
    student = _id(folder.name)
    try:
        files = sorted(_candidates(folder))
    except _TooDeep:
        return _rejected(student, folder, "too_deep", folder=folder, depth=MAX_FOLDER_DEPTH)
    except OSError as exc:
        return _rejected(student, folder, "unreadable", folder=folder, error=exc.strerror or exc)
    notebooks = [f for f in files if f.suffix.lower() == ".ipynb"]
    scripts = [f for f in files if f.suffix.lower() == ".py"]
    chosen = notebooks if notebooks else scripts
    if len(chosen) == 1:
        return SubmissionRef(student, chosen[0], SUFFIXES[chosen[0].suffix.lower()])
    if not chosen:
        return _rejected(student, folder, "empty_folder", folder=folder)
    names = ", ".join(str(f.relative_to(folder)) for f in chosen)
    key = "several_notebooks" if notebooks else "several_scripts"
    return _rejected(student, folder, key, folder=folder, names=names)


class _TooDeep(Exception):
    pass


def _candidates(folder: Path) -> list[Path]:
    """Notebooks and scripts under `folder` (regular files only, links to folders not followed).

    Iterative and bounded: a folder nested thousands of levels deep, or a link to a parent
    folder, would otherwise recurse until RecursionError and stop discovery for everyone.
    """
    found: list[Path] = []
    pending = [(folder, 0)]
    while pending:
        current, depth = pending.pop()
        if depth > MAX_FOLDER_DEPTH:
            raise _TooDeep
        for child in current.iterdir():
            if _ignored(child):
                continue
            if child.is_dir() and not child.is_symlink():
                pending.append((child, depth + 1))
            elif child.suffix.lower() in SUFFIXES and child.is_file():
                found.append(child)
    return found


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name in _IGNORED_DIRS


def _id(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def _reject_duplicates(found: list[SubmissionRef | Rejected]) -> list[SubmissionRef | Rejected]:
    groups: dict[str, list[SubmissionRef | Rejected]] = {}
    for entry in found:
        groups.setdefault(entry.id.casefold(), []).append(entry)
    out: list[SubmissionRef | Rejected] = []
    for group in groups.values():
        if len(group) == 1:
            out.extend(group)
            continue
        names = ", ".join(str(entry.path) for entry in group)
        for entry in group:
            out.append(
                _rejected(entry.id, entry.path, "duplicate", count=len(group), id=repr(entry.id),
                          names=names)
            )  # fmt: skip
    return out


def _split(found: list[SubmissionRef | Rejected]) -> Discovery:
    def order(entry: SubmissionRef | Rejected) -> tuple[str, str, str]:
        return (entry.id.casefold(), entry.id, str(entry.path))

    return Discovery(
        submissions=tuple(sorted((e for e in found if isinstance(e, SubmissionRef)), key=order)),
        rejected=tuple(sorted((e for e in found if isinstance(e, Rejected)), key=order)),
    )
