"""Run one child process (student code) and read its answer as data.

One child per submission run, inside the sandbox (`grader.sandbox`), under the
resource limits (`grader.limits`), with a hard wall-clock limit. A crash, hang, leak or
hostile act costs only that run: at any limit the parent kills the whole process tree.
What the child says is data: its answer is JSON, size-limited and checked against
grader/schema/child-answer.schema.json; its output is drained through a pipe and only
its head and tail are kept.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import IO, Any

import jsonschema

from grader.child.protocol import PROTOCOL
from grader.limits import Breach, KernelLimits, Limits, Watchdog, process_tree
from grader.sandbox import Sandbox

RESPONSE_LIMIT = 32 * 1024 * 1024
ANSWER_SCHEMA = Path(__file__).resolve().parent / "schema" / "child-answer.schema.json"


class ChildEnd(StrEnum):
    FINISHED = "finished"  # exited and wrote a final answer
    TIMEOUT = "timeout"  # killed at the hard wall-clock limit
    RESOURCE_LIMIT = "resource_limit"  # killed at a memory/process/disk limit
    CRASHED = "crashed"  # exited without a valid final answer (os._exit, signal, kill)


@dataclass(frozen=True)
class ChildOutcome:
    end: ChildEnd
    returncode: int | None
    seconds: float
    answer: dict[str, Any] | None  # last valid answer written, possibly partial
    log_tail: str  # head and tail of the child's output
    output_bytes: int = 0  # all the child printed, of which log_tail keeps a part
    breach: Breach | None = None
    peak_rss_mb: float = 0.0


def child_env(*, seed: int, threads: int, home: Path) -> dict[str, str]:
    """The child's whole environment, built from nothing: no variable of ours leaks in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "KERAS_HOME": str(home / ".keras"),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_DETERMINISTIC_OPS": "1",
        # oneDNN stays on, as in a student's notebook: with fixed threads it is
        # deterministic here (two fresh runs gave bit-identical weights) and 20-25 % faster.
        "PYTHONHASHSEED": str(seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # a crash still leaves its last output
        "OMP_NUM_THREADS": str(threads),
        "MPLBACKEND": "Agg",
        "CUDA_VISIBLE_DEVICES": "",
        # The child imports the grader (worker, probe, search) from the read-only package.
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }


def command_for(request_path: Path) -> list[str]:
    return [sys.executable, "-m", "grader.child.worker", str(request_path)]


class _Drain:
    """Reads the child's output as it comes, keeping only its head and tail."""

    def __init__(self, stream: IO[bytes], keep: int) -> None:
        self.stream, self.head_size, self.tail_size = stream, keep // 4, keep - keep // 4
        self.head = bytearray()
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_bytes = 0
        self.total = 0
        self.thread = threading.Thread(target=self._run, name="grader-drain", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for chunk in iter(lambda: self.stream.read(65536), b""):
            self.total += len(chunk)
            room = self.head_size - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail.append(chunk)
                self.tail_bytes += len(chunk)
                while self.tail_bytes - len(self.tail[0]) >= self.tail_size:
                    self.tail_bytes -= len(self.tail.popleft())

    def text(self) -> str:
        self.thread.join(timeout=5)
        tail = b"".join(self.tail)[-self.tail_size :]
        omitted = self.total - len(self.head) - len(tail)
        middle = f"\n[… {omitted} bytes of output omitted …]\n".encode() if omitted > 0 else b""
        return (bytes(self.head) + middle + tail).decode("utf-8", "replace")


def run_child(
    request: dict[str, Any],
    scratch: Path,
    *,
    hard_timeout: float,
    threads: int,
    sandbox: Sandbox | None = None,
    limits: Limits | None = None,
    readable: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
) -> ChildOutcome:
    """Run `python -m grader.child.worker` on `request` in `scratch`; never raises for the child."""
    sandbox = sandbox or Sandbox(None)
    limits = limits or Limits()
    scratch.mkdir(parents=True, exist_ok=True)
    request_path = scratch / "request.json"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    env = child_env(seed=int(request["seed"]), threads=threads, home=home)
    command = sandbox.wrap(
        command_for(request_path), scratch=scratch, readable=readable, env=env, hidden=hidden
    )
    kernel = KernelLimits(limits)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            cwd=scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=kernel.enter,  # in the cgroups before the child's first fork
        )
        assert proc.stdout is not None
        drain = _Drain(proc.stdout, limits.output_kb * 1024)
        with Watchdog(proc.pid, scratch, limits, lambda: _kill_tree(proc.pid)) as watchdog:
            try:
                returncode: int | None = proc.wait(timeout=hard_timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out, returncode = True, None
            finally:
                _kill_tree(proc.pid)
                proc.wait()
        log = drain.text()
        oom = kernel.oom_killed()
    finally:
        kernel.close()
    seconds = time.monotonic() - start
    answer = read_answer(scratch / "response.json")
    breach = watchdog.breach
    if breach is None and oom:
        breach = Breach("memory", limits.memory_mb * 1.25, limits.memory_mb, "MB")
    if breach is None and returncode == -signal.SIGXFSZ:
        breach = Breach("scratch", limits.scratch_mb, limits.scratch_mb, "MB")
    if breach is not None:
        end = ChildEnd.RESOURCE_LIMIT
    elif timed_out:
        end = ChildEnd.TIMEOUT
    elif answer is None or answer.get("status") not in ("ok", "error"):
        end = ChildEnd.CRASHED
    else:
        end = ChildEnd.FINISHED
    return ChildOutcome(
        end=end,
        returncode=returncode,
        seconds=seconds,
        answer=answer,
        log_tail=log,
        output_bytes=drain.total,
        breach=breach,
        peak_rss_mb=round(watchdog.peak_rss_mb, 1),
    )


@cache
def _answer_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(ANSWER_SCHEMA.read_text(encoding="utf-8")))


def read_answer(path: Path) -> dict[str, Any] | None:
    """The child's answer, or None if absent, oversized or not of the protocol's shape."""
    try:
        if path.is_symlink() or path.stat().st_size > RESPONSE_LIMIT:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("protocol") != PROTOCOL:
        return None
    if not _answer_validator().is_valid(data):
        return None
    return data


def _kill_tree(root: int) -> None:
    """SIGKILL the child and everything it started, whatever session or group they chose."""
    for pid in reversed(process_tree(root)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, signal.SIGKILL)
