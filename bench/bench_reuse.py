"""Reuse: a class where several students hand in the same training, against `--force`.

    .venv/bin/python bench/bench_reuse.py [--budget default] [--programs 10] [--copies 3]
    .venv/bin/python bench/bench_reuse.py --budget smoke --subset 300 --programs 2 --copies 2

Builds a class of programs x copies files from the examples in submissions/: the distinct
programs are the examples and, past them, an example whose EarlyStopping patience is its
own (another declaration, so another training); the copies of a program are written
differently: copy 1 gives the class a docstring (another program, the same declaration:
only the search store shares it, grader.training.SearchStore), the others differ only in
comments, blank lines, notebook outputs, execution counts and markdown (the same program:
grader.reuse shares it before the child starts). Runs `grade` (grader.batch.grade, as the CLI does)
on it into a fresh folder, where each program trains once and its copies are only scored,
then with `force=True` into another, where every file trains. Prints both times, their
ratio and whether every file got the same grade both ways, inside `common.Conditions`
(load average and other training processes at the start, every 5 s and at the end; "quiet"
or "DISTURBED").
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from common import EXAM, ROOT, Conditions

from grader import report
from grader.batch import BatchOptions, grade
from grader.results import GradeResult
from grader.sandbox import resolve
from grader.settings import Source, choose, prepare

# The examples with a program of their own: syntax_error never loads, and reference_py.py
# is the reference notebook exported as a script, the same program (its copies share).
EXAMPLES = (
    "reference/solution.ipynb",
    "adam.ipynb",
    "exponential_decay.ipynb",
    "dropped_callbacks.ipynb",
    "wrong_fit_config.ipynb",
    "no_hypermodel.ipynb",
)


def _load(name: str) -> tuple[str, Any]:
    path = ROOT / "submissions" / name
    text = path.read_text(encoding="utf-8")
    return (path.suffix, json.loads(text) if path.suffix == ".ipynb" else text)


def _program(index: int) -> tuple[str, Any]:
    """The index-th distinct program: an example, or past them one whose patience differs
    (`patience = 10` in the examples' fit: another declaration, another training)."""
    suffix, body = _load(EXAMPLES[index % len(EXAMPLES)])
    if index < len(EXAMPLES):
        return suffix, body
    return suffix, _edit_class(
        suffix, body, lambda s: s.replace("patience = 10", f"patience = {10 + index}")
    )


def _edit_class(suffix: str, body: Any, edit: Any) -> Any:
    """`body` with `edit` applied to the source that holds `class MyHyperModel`."""
    if suffix == ".py":
        return edit(body)
    body = copy.deepcopy(body)
    for cell in body["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "class MyHyperModel" in source:
            cell["source"] = edit(source)
            break
    return body


def _documented(source: str, doc: str) -> str:
    head, rest = source.split("class MyHyperModel", 1)
    line, tail = rest.split("\n", 1)
    return f"{head}class MyHyperModel{line}\n{doc}{tail}"


def _copy(suffix: str, body: Any, which: int) -> str:
    """Copy `which` of a program: 0 as is; 1 with a class docstring (another program that
    declares the same); then comments/blank lines, then outputs/markdown."""
    if which == 1:
        doc = '    """My own solution, written my way."""\n'
        body = _edit_class(
            suffix, body, lambda s: _documented(s, doc) if "class MyHyperModel" in s else s
        )
        return body if suffix == ".py" else json.dumps(body, indent=1)
    if suffix == ".py":
        return f"# copy {which}\n\n" * which + body
    body = copy.deepcopy(body)
    for cell in body["cells"]:
        if cell["cell_type"] != "code" or which == 0:
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if which % 2 == 1:
            cell["source"] = f"# student note {which}\n\n" + source.replace("\n\n", "\n\n\n")
        else:
            cell["execution_count"] = which
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": f"{which}\n"}]
    if which % 2 == 0 and which:
        body["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": f"# {which}"})
    return json.dumps(body, indent=1)


def build_class(folder: Path, programs: int, copies: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for p in range(programs):
        suffix, body = _program(p)
        for c in range(copies):
            sid = f"p{p:02d}-c{c}"
            (folder / f"{sid}{suffix}").write_text(_copy(suffix, body, c), encoding="utf-8")
            ids.append(sid)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="default")
    parser.add_argument("--subset", type=int, default=None, help="quick check: N images")
    parser.add_argument("--programs", type=int, default=10)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        ids = build_class(folder, args.programs, args.copies)
        print(f"class: {len(ids)} files, {args.programs} programs x {args.copies} copies")
        times: dict[str, float] = {}
        grades: dict[str, dict[str, GradeResult]] = {}
        for name, force in (("normal", False), ("force", True)):
            out = Path(tmp) / name
            t = time.monotonic()
            grade(
                [folder],
                prepare(
                    choose(Source(assignment=EXAM, budget=args.budget)),
                    sandbox=resolve(no_sandbox=False),
                    subset=args.subset,
                ),
                BatchOptions(
                    out=out, jobs=args.jobs, force=force, progress="plain", echo=lambda _: None
                ),
            )
            times[name] = time.monotonic() - t
            grades[name] = {sid: report.read_result(out / sid / "result.json") for sid in ids}
    same = all(
        (a.status, a.score, a.test_accuracy) == (b.status, b.score, b.test_accuracy)
        for a, b in ((grades["normal"][i], grades["force"][i]) for i in ids)
    )
    shared = sum("search_shared" in grades["normal"][i].timings for i in ids)
    reused = sum("reused" in grades["normal"][i].timings for i in ids)
    print(f"shared by declarations: {shared} files; by program: {reused} files")
    print(f"normal (trainings shared):      {times['normal']:8.1f} s")
    print(f"--force (every file trained):   {times['force']:8.1f} s")
    print(f"ratio normal / force: {times['normal'] / times['force']:.3f}; same grades: {same}")


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
