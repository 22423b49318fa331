"""Run one submission's child process and read its answer as data.

One child per submission, in its own session (process group), so a crash, a hang or
a leak costs only that submission: the parent kills the whole group at the hard
limit. The child's answer is JSON read with a size limit; its output goes to a log
file of which only the tail is kept. (A later stage wraps the command in a sandbox;
`command_for` is the one place to do it.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from grader.worker import PROTOCOL

RESPONSE_LIMIT = 32 * 1024 * 1024
LOG_TAIL = 8 * 1024

# Variables from the grader's environment that must not steer the student's run.
_SCRUBBED_PREFIXES = ("KERASTUNER_", "KERAS_", "TF_", "CUDA_", "PYTHON", "OMP_", "MKL_")


class ChildEnd(StrEnum):
    FINISHED = "finished"  # exited and wrote a final answer
    TIMEOUT = "timeout"  # killed at the hard wall-clock limit
    CRASHED = "crashed"  # exited without a final answer (os._exit, segfault, kill)


@dataclass(frozen=True)
class ChildOutcome:
    end: ChildEnd
    returncode: int | None
    seconds: float
    answer: dict[str, Any] | None  # last answer written, possibly partial
    log_tail: str


def child_env(*, seed: int, threads: int, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        HOME=str(home),
        KERAS_HOME=str(home / ".keras"),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_DETERMINISTIC_OPS="1",
        TF_ENABLE_ONEDNN_OPTS="0",
        PYTHONHASHSEED=str(seed),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",  # a crash still leaves its last output in the log
        OMP_NUM_THREADS=str(threads),
        MPLBACKEND="Agg",
        CUDA_VISIBLE_DEVICES="",
    )
    # The child imports the grader itself (worker, probe, search): keep it importable
    # without relying on the current directory.
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = package_root
    return env


def command_for(request_path: Path) -> list[str]:
    return [sys.executable, "-m", "grader.worker", str(request_path)]


def run_child(
    request: dict[str, Any], scratch: Path, *, hard_timeout: float, threads: int
) -> ChildOutcome:
    scratch.mkdir(parents=True, exist_ok=True)
    request_path = scratch / "request.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    log_path = scratch / "child.log"
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    start = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command_for(request_path),
            cwd=scratch,
            env=child_env(seed=int(request["seed"]), threads=threads, home=home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode: int | None = proc.wait(timeout=hard_timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
        finally:
            _kill_group(proc)
    seconds = time.monotonic() - start
    answer = read_answer(scratch / "response.json")
    if timed_out:
        end = ChildEnd.TIMEOUT
    elif answer is None or answer.get("status") not in ("ok", "error"):
        end = ChildEnd.CRASHED
    else:
        end = ChildEnd.FINISHED
    return ChildOutcome(end, returncode, seconds, answer, _tail(log_path))


def read_answer(path: Path) -> dict[str, Any] | None:
    """The child's answer, or None if absent, oversized or not the protocol's shape."""
    try:
        if path.stat().st_size > RESPONSE_LIMIT:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("protocol") != PROTOCOL:
        return None
    if not isinstance(data.get("trials"), list):
        return None
    return data


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The student's code may have started processes of its own; they share the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return ("[…]" if size > LOG_TAIL else "") + text
