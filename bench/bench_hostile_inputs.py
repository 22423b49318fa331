"""The parent's peak memory and time on two hostile inputs, each in a fresh process.

    PYTHONPATH=TREE .venv/bin/python bench/bench_hostile_inputs.py [--outputs 80000]
        [--entries 3000000] [--only notebook|archive|largest]

TREE is the grader to measure (this checkout, or an older commit unpacked elsewhere with
`git archive`): the cases call whatever that grader's pipeline calls. Run it from a folder
that holds no `grader/`: a `python -c` process puts its working folder first on sys.path.

- notebook: one code cell with N invalid outputs (about 40 bytes each), loaded the way
  `pipeline.grade_one` loads a submission at that tree (`submission.load_within` when the
  tree has it, else `submission.load`), against a trivial notebook of the same code;
- archive: a `best.keras` whose zip directory lists N entries (about 50 bytes each) and
  nothing else, read the way the pipeline reads a child's best model (`artifacts.
  read_artifacts` and `evaluate.saved_optimizer`);
- largest: what the load limits must let through, `load_within` on the largest files the
  other caps accept: a 63 MB notebook of base64 image outputs, a script of 1 MB of code.

Each case runs in its own Python process; its peak resident memory (ru_maxrss from
os.wait4) and wall time are printed, with the load average and the other training or
test processes seen (bench/common.py's Conditions). The load worker that `load_within`
starts is a separate process: its own peak is printed apart.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CODE = "import keras\n\nclass MyHyperModel:\n    def build(self, hp):\n        return None\n"


def notebook(path: Path, outputs: int) -> None:
    junk = [{"output_type": "stream", "text": 0} for _ in range(outputs)]
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "id": "c1",
        "metadata": {},
        "outputs": junk,
        "source": CODE,
    }
    doc = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(doc), encoding="utf-8")


def zip_bomb_index(path: Path, entries: int) -> None:
    """A zip of one empty stored member whose central directory lists it `entries` times
    under distinct names (every entry points at the same local header)."""
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    with path.open("wb") as fh:
        fh.write(local)
        start = fh.tell()
        chunk = []
        for i in range(entries):
            name = format(i, "x").encode()
            chunk.append(
                struct.pack(
                    "<4s6H3L5H2L",
                    b"PK\x01\x02",
                    20,
                    20,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    len(name),
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                )
                + name
            )
            if len(chunk) == 100_000:
                fh.write(b"".join(chunk))
                chunk = []
        fh.write(b"".join(chunk))
        size = fh.tell() - start
        count = min(entries, 0xFFFF)
        fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))


def largest(images: Path, code: Path) -> None:
    """The largest files the caps accept: 63 MB of PNG outputs, 1 MB of code."""
    png = base64.b64encode(os.urandom(75_000)).decode()  # 100,000 characters
    output = {"output_type": "display_data", "data": {"image/png": png}, "metadata": {}}
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "id": "c1",
        "metadata": {},
        "outputs": [output] * 630,
        "source": CODE,
    }
    doc = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    images.write_text(json.dumps(doc), encoding="utf-8")
    lines = [f"value_{i:06d} = {i} * 2  # a constant, kept" for i in range(25_000)]
    code.write_text(CODE + "\n".join(lines)[: 999_000 - len(CODE)] + "\n", encoding="utf-8")


_NOTEBOOK_CASE = """
import sys, time
from pathlib import Path
from grader import submission
from grader.discover import SubmissionRef
from grader.errors import SubmissionError
ref = SubmissionRef("case", Path(sys.argv[1]), "ipynb")
start = time.monotonic()
try:
    if hasattr(submission, "load_within"):
        from grader.limits import Limits
        submission.load_within(ref, Limits(), lang="en")
    else:
        submission.load(ref)
    outcome = "loaded"
except SubmissionError as exc:
    outcome = f"{exc.status}: {exc.message[:160]}"
import resource
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
took = time.monotonic() - start
print(f"load {took:.2f} s, this process {own} MB, worker {worker} MB: {outcome}")
"""

_ARCHIVE_CASE = """
import sys, time
from pathlib import Path
from grader import artifacts, evaluate
from grader.boundary import BestModel
scratch = Path(sys.argv[1])
start = time.monotonic()
best = BestModel("0", {}, None, "best_model.json", "best.weights.h5", "best.keras", None)
found = artifacts.read_artifacts(scratch, best)
optimizer = evaluate.saved_optimizer(scratch)
import resource
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
took = time.monotonic() - start
print(f"read {took:.2f} s, this process {own} MB; {list(found.problems)}, optimizer {optimizer}")
"""


def run(script: str, arg: Path) -> tuple[float, int, str]:
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(arg)], stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - start, usage.ru_maxrss // 1024, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=80_000)
    parser.add_argument("--entries", type=int, default=3_000_000)
    parser.add_argument("--only", choices=("notebook", "archive", "largest"))
    args = parser.parse_args()
    from common import Conditions

    # The cases run in fresh processes that find the grader on PYTHONPATH (common.py puts
    # this checkout first for this process only): say which one they measure.
    where = [sys.executable, "-c", "import grader; print(grader.__file__)"]
    print("grader measured:", subprocess.run(where, capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as folder, Conditions(settle=False):
        base = Path(folder)
        if args.only in (None, "notebook"):
            trivial, hostile = base / "trivial.ipynb", base / "hostile.ipynb"
            notebook(trivial, 0)
            notebook(hostile, args.outputs)
            for label, path in (("trivial notebook", trivial), ("hostile notebook", hostile)):
                wall, peak, out = run(_NOTEBOOK_CASE, path)
                size = path.stat().st_size / 1e6
                print(
                    f"{label} ({size:.1f} MB): process {wall:.1f} s, "
                    f"peak {peak} MB with its children; {out}"
                )
        if args.only in (None, "archive"):
            scratch = base / "scratch"
            scratch.mkdir()
            zip_bomb_index(scratch / "best.keras", args.entries)
            (scratch / "best_model.json").write_text("{}", encoding="utf-8")
            size = (scratch / "best.keras").stat().st_size / 1e6
            wall, peak, out = run(_ARCHIVE_CASE, scratch)
            print(
                f"archive of {args.entries} entries ({size:.0f} MB): process {wall:.1f} s, "
                f"peak {peak} MB; {out[:400]}"
            )
        if args.only == "largest":
            images, code = base / "images.ipynb", base / "code.py"
            largest(images, code)
            for path in (images, code):
                wall, peak, out = run(
                    _NOTEBOOK_CASE.replace('"ipynb"', repr(path.suffix[1:])), path
                )
                size = path.stat().st_size / 1e6
                print(f"{path.name} ({size:.1f} MB): process {wall:.1f} s, peak {peak} MB; {out}")


if __name__ == "__main__":
    main()
