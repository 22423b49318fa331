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

- Links are never followed, wherever they are: every entry is examined with `lstat`
  (and read later with `O_NOFOLLOW`, grader/submission.py), so nothing outside the
  submissions folder is ever graded or quoted. A link named on the command line or lying
  directly in a collection is rejected under its own name; inside a student's folder, a
  link or anything but a regular file named `.ipynb`/`.py` rejects the folder, naming it
  (other links there, to a dataset say, are neither followed nor counted). A pipe, a
  device or a socket named as a submission is rejected the same way.

Ids are NFC-normalised so that a name typed on macOS (NFD) and on Linux is the same id.
An id never equals one of the names the batch writes beside the students' folders
(`reserved`: grades.csv, summary.html, grader.log, the results store): such a name gets
`RESERVED_SUFFIX` (a folder `grades.csv/` is graded as `grades.csv-student`), so no student
can take the gradebook's or the summary's place.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader import i18n
from grader.errors import UsageError

Kind = Literal["ipynb", "py"]
SUFFIXES: dict[str, Kind] = {".ipynb": "ipynb", ".py": "py"}
_IGNORED_DIRS = frozenset({"__pycache__"})
MAX_FOLDER_DEPTH = 20  # inside one student's folder; a real one is 1 or 2 levels deep
RESERVED_SUFFIX = "-student"


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


def discover(paths: Sequence[Path], *, reserved: Collection[str] = ()) -> Discovery:
    """Turn command-line paths into submissions (and rejections), following the module rules.

    `reserved`: names of the files the caller writes beside the students' folders; no id
    equals one of them (compared ignoring case). Raises `UsageError` if a path does not exist.
    """
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError(
                f"no such file or folder: {path}",
                hint="give .ipynb/.py files or folders that hold them",
            )
    names = _Names(frozenset(name.casefold() for name in reserved))
    found: list[SubmissionRef | Rejected] = []
    seen: set[Path] = set()
    for path in paths:
        for entry in _entries(path, names):
            # The same file reached twice (`grade subs subs/ana.py`) is one submission. The
            # last component is not resolved: a link is its own entry, never its target's.
            key = entry.path.parent.resolve() / entry.path.name
            if key not in seen:
                seen.add(key)
                found.append(entry)
    return _split(_reject_duplicates(found))


@dataclass(frozen=True)
class _Names:
    """Makes ids: NFC, and never one of the caller's reserved names."""

    reserved: frozenset[str]

    def id(self, name: str) -> str:
        sid = unicodedata.normalize("NFC", name)
        return sid + RESERVED_SUFFIX if sid.casefold() in self.reserved else sid

    def of_file(self, path: Path) -> str:
        return self.id(path.stem)

    def of_link(self, path: Path) -> str:
        # Named like the file or the student's folder it stands for.
        return self.id(path.stem if path.suffix.lower() in SUFFIXES else path.name)


def _entries(path: Path, names: _Names) -> Iterable[SubmissionRef | Rejected]:
    # lstat, not stat: a link named on the command line (a shell glob expands a student's
    # link too) is judged as a link, never as what it points to.
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        yield _from_file(path, mode, names)
        return
    try:
        with os.scandir(path) as listing:
            children = sorted((Path(entry.path), entry.stat(follow_symlinks=False).st_mode)
                              for entry in listing)  # fmt: skip
    except OSError as exc:
        raise UsageError(f"cannot list {path}: {exc.strerror or exc}") from None
    for child, child_mode in children:
        if _ignored(child):
            continue
        if stat.S_ISLNK(child_mode):
            # A link to a folder would be a student's folder, a link to a file a submission:
            # either way it is the student's claim on someone else's files.
            yield _rejected(names.of_link(child), child, "link", name=child.name)
        elif stat.S_ISDIR(child_mode):
            yield _from_folder(child, names)
        elif child.suffix.lower() in SUFFIXES:
            yield _from_file(child, child_mode, names)


def _from_file(path: Path, mode: int, names: _Names) -> SubmissionRef | Rejected:
    if stat.S_ISLNK(mode):
        return _rejected(names.of_link(path), path, "link", name=path.name)
    sid = names.of_file(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        return _rejected(sid, path, "not_submission", name=path.name)
    if not stat.S_ISREG(mode):
        # A named pipe would block every reader (load, hashing) forever; a device too.
        return _rejected(sid, path, "not_regular", name=path.name)
    return SubmissionRef(sid, path, kind)


def _from_folder(folder: Path, names: _Names) -> SubmissionRef | Rejected:
    student = names.id(folder.name)
    try:
        files, refused = _candidates(folder)
    except _TooDeep:
        return _rejected(student, folder, "too_deep", folder=folder, depth=MAX_FOLDER_DEPTH)
    except OSError as exc:
        return _rejected(student, folder, "unreadable", folder=folder, error=exc.strerror or exc)
    if refused:
        shown = ", ".join(str(f.relative_to(folder)) for f in sorted(refused))
        return _rejected(student, folder, "link_in_folder", folder=folder, names=shown)
    files.sort()
    notebooks = [f for f in files if f.suffix.lower() == ".ipynb"]
    scripts = [f for f in files if f.suffix.lower() == ".py"]
    chosen = notebooks if notebooks else scripts
    if len(chosen) == 1:
        return SubmissionRef(student, chosen[0], SUFFIXES[chosen[0].suffix.lower()])
    if not chosen:
        return _rejected(student, folder, "empty_folder", folder=folder)
    shown = ", ".join(str(f.relative_to(folder)) for f in chosen)
    key = "several_notebooks" if notebooks else "several_scripts"
    return _rejected(student, folder, key, folder=folder, names=shown)


class _TooDeep(Exception):
    pass


def _candidates(folder: Path) -> tuple[list[Path], list[Path]]:
    """Notebooks and scripts under `folder` that are regular files, and those that are not.

    Entries are examined with lstat and links to folders are never entered. Iterative and
    bounded: a folder nested thousands of levels deep, or a link to a parent folder, would
    otherwise recurse until RecursionError and stop discovery for everyone.
    """
    found: list[Path] = []
    refused: list[Path] = []  # a link, pipe or device named as a notebook or a script
    pending = [(folder, 0)]
    while pending:
        current, depth = pending.pop()
        if depth > MAX_FOLDER_DEPTH:
            raise _TooDeep
        with os.scandir(current) as listing:
            for entry in listing:
                child = Path(entry.path)
                if _ignored(child):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((child, depth + 1))
                elif child.suffix.lower() in SUFFIXES:
                    regular = entry.is_file(follow_symlinks=False)
                    (found if regular else refused).append(child)
    return found, refused


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name in _IGNORED_DIRS


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
