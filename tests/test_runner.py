"""The child process boundary: hard timeout, crashes, answers read as data only."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from grader import runner
from grader.limits import Limits
from grader.runner import ChildEnd


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch):
    """Replace the worker command by a small script, to test the boundary alone."""

    def use(script: str) -> None:
        monkeypatch.setattr(runner, "command_for", lambda req: [sys.executable, "-c", script])

    return use


def _request() -> dict:
    return {"protocol": 1, "seed": 23}


def test_hard_timeout_kills_the_whole_process_group(tmp_path: Path, fake_worker) -> None:
    pidfile = tmp_path / "grandchild.pid"
    fake_worker(
        "import subprocess, sys, time;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid));"
        "time.sleep(60)"
    )
    outcome = runner.run_child(_request(), tmp_path, hard_timeout=2, threads=1)
    assert outcome.end is ChildEnd.TIMEOUT
    assert outcome.seconds < 20
    assert not _running(int(pidfile.read_text()))


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


def test_exit_without_answer_is_a_crash(tmp_path: Path, fake_worker) -> None:
    fake_worker("import os; print('bye'); os._exit(3)")
    outcome = runner.run_child(_request(), tmp_path, hard_timeout=30, threads=1)
    assert outcome.end is ChildEnd.CRASHED
    assert outcome.returncode == 3
    assert "bye" in outcome.log_tail


def test_partial_answer_survives_a_crash(tmp_path: Path, fake_worker) -> None:
    trial = {
        "id": "0",
        "hyperparameters": {"lr": 0.3},
        "epochs": 1,
        "seconds": 1.0,
        "status": "completed",
    }
    partial = {
        "protocol": 1,
        "status": "running",
        "message": "",
        "stage": "search",
        "trials": [trial],
        "notes": [],
        "timings": {},
    }
    fake_worker(f"import json, os; json.dump({partial!r}, open('response.json', 'w')); os._exit(9)")
    outcome = runner.run_child(_request(), tmp_path, hard_timeout=30, threads=1)
    assert outcome.end is ChildEnd.CRASHED
    assert outcome.answer is not None and outcome.answer["trials"] == [trial]


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1, 2]", json.dumps({"protocol": 2, "trials": []}).encode()],
)
def test_malformed_answers_are_ignored(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "response.json"
    path.write_bytes(content)
    assert runner.read_answer(path) is None


def test_oversized_answer_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "response.json"
    path.write_text(json.dumps({"protocol": 1, "trials": [], "pad": "x" * 2000}))
    monkeypatch.setattr(runner, "RESPONSE_LIMIT", 1000)
    assert runner.read_answer(path) is None


def test_child_environment_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    env = runner.child_env(seed=23, threads=2, home=tmp_path)
    assert "KERASTUNER_TUNER_ID" not in env and "TF_FORCE_GPU_ALLOW_GROWTH" not in env
    assert env["PYTHONHASHSEED"] == "23" and env["HOME"] == str(tmp_path)
    assert env["KERAS_BACKEND"] == "tensorflow" and env["OMP_NUM_THREADS"] == "2"


def test_log_keeps_only_the_tail(tmp_path: Path, fake_worker) -> None:
    fake_worker("print('A' * 100000); print('THE END')")
    outcome = runner.run_child(
        _request(), tmp_path, hard_timeout=30, threads=1, limits=Limits(output_kb=8)
    )
    assert len(outcome.log_tail) <= 8 * 1024 + 100
    assert outcome.log_tail.rstrip().endswith("THE END")
