"""Peer: the reference notebook run the way notebook graders run it, against `grade`.

    .venv/bin/python bench/bench_peer.py [--budget default]

Notebook graders (nbgrader, otter-grader, ...) execute every cell of the student's
notebook in a Jupyter kernel (nbclient). For the same work, the notebook's search is cut
to the budget's trials and epochs (its `max_trials=10` and `epochs=100` are rewritten)
and it reads Fashion-MNIST from a Keras cache linked to the same files; its kernel gets
the grader child's environment. Back to back in this run: grade_one on the unchanged
notebook under the budget (sandbox, probe, bounded search, evaluation, rubric), then
nbclient on the rewritten one. Prints both times and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbclient
import nbformat
from common import Conditions, grader_env, machine, others_training, settings, submission

from grader import data
from grader.pipeline import grade_one


def rewritten(source: Path, max_trials: int, epochs: int, workdir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(source, as_version=4)
    edits = {
        "max_trials=10": f"max_trials={max_trials}",
        "epochs=100": f"epochs={epochs}",
        'directory="/tmp"': f'directory="{workdir}"',
    }
    text = "\n".join(c.source for c in nb.cells)
    missing = [old for old in edits if old not in text]
    if missing:
        raise SystemExit(f"the notebook no longer contains {missing}; update bench_peer.py")
    for cell in nb.cells:
        for old, new in edits.items():
            cell.source = cell.source.replace(old, new)
    return nb


def keras_cache(home: Path) -> None:
    """Keras' load_data reads $KERAS_HOME/datasets/fashion-mnist/*.gz: link the files."""
    source = data.locate()
    target = home / ".keras" / "datasets" / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name in data.FILE_NAMES:
        (target / name).symlink_to(source.directory / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="default")
    args = parser.parse_args()
    run_settings, test = settings(args.budget)
    budget = run_settings.budget
    ref = submission("reference")
    print(f"machine: {machine()}; grader children of others running: {others_training()}")

    t = time.monotonic()
    result = grade_one(ref, run_settings, test)
    grade_seconds = time.monotonic() - t

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "home"
        env = grader_env(home, run_settings.threads)
        keras_cache(home)
        nb = rewritten(ref.path, budget.max_trials, budget.max_epochs, work)
        client = nbclient.NotebookClient(
            nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
        )
        t = time.monotonic()
        client.execute(env=env)
        peer_seconds = time.monotonic() - t
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    accuracy = next((line for line in printed.splitlines() if "Precisión" in line), "?")
    print(
        f"budget {budget.name} ({budget.max_trials} trials x {budget.max_epochs} epochs): "
        f"grade test {100 * (result.test_accuracy or 0):.2f}%, notebook {accuracy}"
    )
    print(f"grade (grade_one):              {grade_seconds:7.1f} s")
    print(f"notebook grader (nbclient):     {peer_seconds:7.1f} s")
    print(f"ratio grade / nbclient:         {grade_seconds / peer_seconds:7.2f}x")


if __name__ == "__main__":
    with Conditions():  # prints "quiet" or "DISTURBED" with what else ran
        main()
