"""Gradescope: build autograder.zip, and the entry point that runs inside Gradescope's container.

Gradescope's autograder contract (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): the zip holds `setup.sh` (installs dependencies when the image is built)
and `run_autograder` (runs per submission) at its root; the zip is unpacked into
/autograder/source, the student's files are in /autograder/submission, and the run must
write /autograder/results/results.json.

`build_package` puts the grader's source, the assignment (with its calibration files, so
the reference is not re-run for every student) and optionally the dataset in the zip;
`setup.sh` installs Python 3.11, bubblewrap and the pinned dependencies; `run_autograder`
calls `python -m grader.autograder`, which grades the submission folder as one student's
folder and always writes results.json, also when grading cannot start at all.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from grader import datasets, files, gradescope, i18n, report
from grader import spec as spec_module
from grader.errors import ExitCode, GraderError, UsageError
from grader.sandbox import resolve
from grader.settings import Source, choose, prepare

ROOT = Path(__file__).resolve().parent.parent
SUBMISSION = Path("/autograder/submission")
RESULTS = Path("/autograder/results/results.json")
SOURCE = Path("/autograder/source")
STUDENT = "submission"  # the id the student's folder is graded under
PROJECT_FILES = ("pyproject.toml", "constraints.txt", "README.md")
EXECUTABLE = 0o755

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope image build: Python 3.11, bubblewrap (the student's sandbox), the grader.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3.11 python3.11-venv bubblewrap {data_package}
cd {source}
python3.11 -m venv .venv
# Editable: the grader finds its templates and assignments beside the package.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e .
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission; it always writes {results}.
cd {source}
exec .venv/bin/python -m grader.autograder --submission {submission} --results {results} {args}
"""


def _package_files(assignment_dir: Path) -> Iterator[tuple[Path, str]]:
    """(file on disk, name in the zip) for the grader's source and the assignment."""
    for name in PROJECT_FILES:
        yield ROOT / name, name
    for folder in (ROOT / "grader", ROOT / "templates"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path, path.relative_to(ROOT).as_posix()
    for path in sorted(assignment_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path, f"assignments/{assignment_dir.name}/{path.relative_to(assignment_dir)}"


def build_package(
    out: Path, source: Source, *, include_data: bool = False, no_sandbox: bool = False
) -> Path:
    """Write Gradescope's autograder.zip to `out`; return its path.

    `source` names the assignment, budget and language the zip grades with, and where the
    dataset's files are (`data_dir`) when `include_data` ships them.
    """
    if not all((ROOT / name).is_file() for name in PROJECT_FILES):
        # The zip carries the grader's source tree and installs it in Gradescope's image;
        # an installed wheel has no pyproject.toml or constraints.txt to carry.
        raise UsageError(
            "grade gradescope-package needs the grader's source tree (pyproject.toml, "
            f"constraints.txt) and found none beside {ROOT / 'grader'}",
            hint="run it from a clone of the grader's repository (make setup)",
        )
    spec = spec_module.load(source.assignment)
    dataset = datasets.get(spec.data.dataset)
    chosen = spec.budget(source.budget)
    lang = source.lang or spec.language
    if lang not in report.UI:
        raise UsageError(
            f"unknown report language {lang!r}", hint=f"one of: {', '.join(report.UI)}"
        )
    args = [
        f"--assignment assignments/{spec.directory.name}",
        f"--budget {chosen.name}",
        f"--lang {lang}",
    ]
    if include_data:
        args.append("--data-dir data")
    if no_sandbox:
        args.append("--no-sandbox")
    scripts = {
        "setup.sh": SETUP_SH.format(
            source=SOURCE, data_package="" if include_data else dataset.debian_package
        ),
        "run_autograder": RUN_AUTOGRADER.format(
            source=SOURCE, submission=SUBMISSION, results=RESULTS, args=" ".join(args)
        ),
    }
    # Verified before the zip is opened: never ship a corrupt copy to every student.
    shipped = dataset.source_files(source.data_dir) if include_data else []
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in scripts.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | EXECUTABLE) << 16  # a regular file, rwxr-xr-x
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
        for path, name in _package_files(spec.directory):
            archive.write(path, name)
        for path in shipped:
            archive.write(path, f"data/{path.name}")
    temp.replace(out)
    return out


def run(
    submission: Path,
    results: Path,
    source: Source,
    *,
    subset: int | None = None,
    no_sandbox: bool = False,
) -> int:
    """Grade the folder `submission` as one student's and write Gradescope's `results`."""
    from grader.batch import BatchOptions, grade  # the batch imports the whole pipeline

    lang, assignment = source.lang, source.assignment
    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as folder:
        work = Path(folder)
        # The student's folder under a fixed id: discovery then picks its one notebook (or
        # its one script) or rejects it with a message naming the files, as for a class.
        # A copy, not a link: discovery follows none. Links inside stay links (refused).
        (work / "in").mkdir()
        try:
            shutil.copytree(submission, work / "in" / STUDENT, symlinks=True)
            chosen = choose(source)
            settings = prepare(chosen, sandbox=resolve(no_sandbox=no_sandbox), subset=subset)
            options = BatchOptions(out=work / "out", jobs=1, progress="plain")
            code = grade([work / "in"], settings, options)
            result = report.read_result(work / "out" / STUDENT / report.RESULT_FILE)
            text = gradescope.dumps(gradescope.to_results(result, lang=_lang(lang, assignment)))
        except GraderError as exc:
            code = exc.exit_code
            text = gradescope.dumps(_failure(exc.format(), _safe_lang(lang, assignment)))
        except Exception as exc:  # a grader bug: Gradescope must still get results.json
            code = ExitCode.USAGE
            language = _safe_lang(lang, assignment)
            fault = i18n.say("gradescope.fault", language, error=f"{type(exc).__name__}: {exc}")
            text = gradescope.dumps(_failure(fault, language))
    results.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write(results, text.encode("utf-8"))
    return int(code)


def _lang(lang: str | None, assignment: str | Path | None) -> str:
    return lang or spec_module.load(assignment).language


def _safe_lang(lang: str | None, assignment: str | Path | None) -> str:
    """The feedback's language when grading failed: the spec's, English if it cannot load."""
    try:
        return i18n.require(_lang(lang, assignment))
    except GraderError:
        return i18n.FALLBACK


def _failure(message: str, lang: str) -> dict[str, object]:
    """results.json when grading could not start: zero points and why, for the instructor."""
    return {
        "score": 0.0,
        "output": i18n.say("gradescope.failure", lang, message=message),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "extra_data": {"status": "grader_error"},
        "tests": [],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader.autograder",
        description="Inside Gradescope's container: grade /autograder/submission and write "
        "/autograder/results/results.json (run_autograder calls this).",
    )
    parser.add_argument("--submission", type=Path, default=SUBMISSION)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--assignment")
    parser.add_argument("--budget")
    parser.add_argument("--lang", choices=tuple(report.UI))
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--subset", type=int, help=argparse.SUPPRESS)  # tests only
    parser.add_argument("--no-sandbox", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code = run(
        args.submission,
        args.results,
        Source(args.assignment, args.budget, args.lang, args.data_dir),
        subset=args.subset,
        no_sandbox=args.no_sandbox,
    )
    print(json.dumps({"results": str(args.results), "exit_code": code}))
    # A submission that was not graded is the student's outcome, not the autograder's
    # failure: Gradescope shows results.json either way, so only usage errors fail here.
    return 0 if code in (ExitCode.OK, ExitCode.NOT_ALL_GRADED) else code


if __name__ == "__main__":
    sys.exit(main())
