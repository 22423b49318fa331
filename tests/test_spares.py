"""Spare children (grader.runner.Spares): started ahead, each serves one submission.

A fake worker stands in for `grader.child.worker` (it speaks the same `--wait` protocol
without importing TensorFlow), so these tests check the runner's mechanics: the spare is
used only with the same launch, it sees its folder where its sandbox was made while the
parent reads it at the claimed path, and nothing is left behind. That a real spare trains
exactly as a fresh child does is tested end to end in tests/test_reuse.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from grader import runner, sandbox
from grader.child.protocol import ChildRequest
from grader.runner import SPARES, ChildEnd

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")

# Writes what it saw (its start time, whether it waited, the request's path as it had it)
# into its scratch folder, then a final answer.
WORKER = r"""
import json, os, sys, time
from pathlib import Path
started = time.time()
arg = sys.argv[-1]
waited = arg == "--wait"
if waited:
    arg = sys.stdin.readline().strip()
    if not arg:
        sys.exit(0)
scratch = Path(arg).parent
request = json.loads(Path(arg).read_text())
seen = {"started": started, "waited": waited, "request": arg,
        "hashseed": os.environ["PYTHONHASHSEED"], "cwd": os.getcwd(),
        "tag": request["submission_id"]}
(scratch / "seen.json").write_text(json.dumps(seen))
answer = {"protocol": 1, "status": "ok", "stage": "search", "timings": {}}
(scratch / "response.json").write_text(json.dumps(answer))
"""


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Like the real command, the request's path is the last argument (so spares are made).
    monkeypatch.setattr(runner, "command_for", lambda req: [sys.executable, "-c", WORKER, str(req)])


@pytest.fixture
def spares():
    yield SPARES
    SPARES.close()


def _run(scratch: Path, tag: str, *, seed: int = 23) -> dict:
    scratch.mkdir(parents=True)
    outcome = runner.run_child(
        ChildRequest(seed=seed, submission_id=tag),
        scratch,
        runner.Confinement(sandbox.resolve(no_sandbox=False)),
        hard_timeout=60,
        threads=1,
    )
    assert outcome.end is ChildEnd.FINISHED, outcome.log_tail
    return json.loads((scratch / "seen.json").read_text())


def _waiting(spares) -> list:
    return [spare for _, spare in spares._waiting]


def test_the_next_child_is_the_spare_started_while_the_first_ran(
    tmp_path: Path, fake_worker, spares
) -> None:
    spares.expect(1)
    first = _run(tmp_path / "a" / "grader-one", "one")
    assert not first["waited"]
    (spare,) = _waiting(spares)
    inside = spare.scratch  # where the spare's sandbox shows its folder
    assert inside.parent == tmp_path / "a"  # beside the child that was running
    time.sleep(0.5)  # it has started and is blocked on its stdin
    before = time.time()
    second = _run(tmp_path / "b" / "grader-two", "two")
    assert second["waited"] and second["tag"] == "two"
    assert second["started"] < before  # it was running before its request existed
    # The child still had its folder at the old path; the parent read it at the new one.
    assert second["request"] == str(inside / "request.json")
    assert second["cwd"] == str(inside)
    assert not inside.exists() and (tmp_path / "b" / "grader-two" / "seen.json").exists()
    assert _waiting(spares) == []  # none expected after it: no spare left running


def test_a_spare_for_another_launch_is_discarded_not_used(
    tmp_path: Path, fake_worker, spares
) -> None:
    spares.expect(1)
    _run(tmp_path / "a" / "grader-one", "one", seed=23)
    (spare,) = _waiting(spares)
    # PYTHONHASHSEED is fixed when an interpreter starts: another seed needs a fresh one.
    second = _run(tmp_path / "b" / "grader-two", "two", seed=24)
    assert not second["waited"] and second["hashseed"] == "24"
    assert spare.proc.poll() is not None and not spare.scratch.exists()


def test_close_kills_waiting_spares_and_removes_their_folders(
    tmp_path: Path, fake_worker, spares
) -> None:
    spares.expect(3)
    _run(tmp_path / "a" / "grader-one", "one")
    (spare,) = _waiting(spares)  # one at a time, however many are expected
    spares.close()
    assert spare.proc.poll() is not None and not spare.scratch.exists()
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["grader-one"]
    with pytest.raises(ProcessLookupError):
        os.kill(spare.proc.pid, 0)


def test_no_spare_without_a_sandbox_or_when_none_is_expected(
    tmp_path: Path, fake_worker, spares
) -> None:
    _run(tmp_path / "a" / "grader-one", "one")  # nothing expected
    assert _waiting(spares) == []
    spares.expect(2)
    (tmp_path / "b").mkdir()
    runner.run_child(
        ChildRequest(seed=23, submission_id="bare"),
        tmp_path / "b",
        runner.Confinement(sandbox.Sandbox(None)),
        hard_timeout=60,
        threads=1,
    )
    assert _waiting(spares) == []  # unsandboxed: a renamed folder would lose the child's path


def test_a_spare_that_died_while_waiting_is_replaced_by_a_fresh_child(
    tmp_path: Path, fake_worker, spares
) -> None:
    spares.expect(1)
    _run(tmp_path / "a" / "grader-one", "one")
    (spare,) = _waiting(spares)
    runner._kill_tree(spare.proc.pid)
    spare.proc.wait()
    second = _run(tmp_path / "b" / "grader-two", "two")
    assert not second["waited"] and not spare.scratch.exists()
