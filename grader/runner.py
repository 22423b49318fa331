"""Run one child process (student code) and read its answer as data.

One child per submission run, inside the sandbox (`grader.sandbox`), under the
resource limits (`grader.limits`), with a hard wall-clock limit. A crash, hang, leak or
hostile act costs only that run: at any limit the parent kills the whole process tree.
What the child says is data: its answer is read through `grader.boundary` (no link, no
pipe, a size cap) and parsed there once into a checked `ChildAnswer`; its output is
drained through a pipe and only its head and tail are kept.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from grader.boundary import (
    AnswerStatus,
    ChildAnswer,
    HostileFile,
    IncompleteAnswer,
    parse_answer,
    read_child_file,
)
from grader.child.protocol import RESPONSE_NAME
from grader.errors import SubmissionError
from grader.limits import (
    Breach,
    KernelLimits,
    Limits,
    ProgressRefusal,
    TrialClock,
    TrialOverrun,
    Watchdog,
    process_tree,
)
from grader.sandbox import Sandbox

RESPONSE_LIMIT = 32 * 1024 * 1024


class ChildEnd(StrEnum):
    FINISHED = "finished"  # exited and wrote a final answer
    TIMEOUT = "timeout"  # killed at the hard wall-clock limit or a trial's (see `overrun`)
    RESOURCE_LIMIT = "resource_limit"  # killed at a memory/process/disk limit
    CRASHED = "crashed"  # exited without a valid final answer (os._exit, signal, kill)
    REFUSED = "refused"  # killed: its progress file broke the protocol (see `progress_refusal`)


@dataclass(frozen=True)
class ChildOutcome:
    end: ChildEnd
    returncode: int | None
    seconds: float
    answer: ChildAnswer | None  # last answer written, possibly partial, checked
    log_tail: str  # head and tail of the child's output
    output_bytes: int = 0  # all the child printed, of which log_tail keeps a part
    breach: Breach | None = None
    peak_rss_mb: float = 0.0
    overrun: TrialOverrun | None = None  # the trial the parent's own clock stopped
    progress_refusal: ProgressRefusal | None = None
    # Why the parent refused to read the child's answer (grader.boundary's message): a
    # link or pipe as response.json, an out-of-range value. `answer` is then None.
    answer_refusal: str | None = None


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
        # TensorFlow's defaults, as in a student's notebook: oneDNN on (20-25 % faster),
        # no TF_DETERMINISTIC_OPS (it changes the numbers). With fixed threads two fresh
        # runs repeat bit for bit here (tests/test_determinism.py).
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
        clock = _trial_clock(request, scratch, lambda: _kill_tree(proc.pid))
        with (
            Watchdog(proc.pid, scratch, limits, lambda: _kill_tree(proc.pid)) as watchdog,
            clock,
        ):
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
    answer, answer_refusal = _answer_of(request, scratch)
    breach = watchdog.breach
    if breach is None and oom:
        breach = Breach("memory", limits.memory_mb * 1.25, limits.memory_mb, "MB")
    if breach is None and returncode == -signal.SIGXFSZ:
        breach = Breach("scratch", limits.scratch_mb, limits.scratch_mb, "MB")
    if breach is not None:
        end = ChildEnd.RESOURCE_LIMIT
    elif clock.refusal is not None:
        end = ChildEnd.REFUSED
    elif timed_out or clock.overrun is not None:
        end = ChildEnd.TIMEOUT
    elif answer is None or answer.status is AnswerStatus.RUNNING:
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
        overrun=clock.overrun if breach is None else None,
        progress_refusal=clock.refusal if breach is None else None,
        answer_refusal=answer_refusal,
    )


def _trial_clock(request: dict[str, Any], scratch: Path, kill: Callable[[], None]) -> TrialClock:
    """The parent's per-trial clock over the child's progress.jsonl (grader.limits).

    A request without a search (the predict child, tests' bare requests) gets a clock that
    can never fire: no trial line is expected, and any line is refused as out of order.
    """
    budget = request.get("budget") or {}
    return TrialClock(
        scratch,
        trial_seconds=float(budget.get("trial_seconds", float("inf"))),
        max_trials=int(budget.get("max_trials", 0)) if request.get("search", True) else 0,
        kill=kill,
    )


def read_answer(scratch: Path, *, objective: str) -> ChildAnswer | None:
    """The child's answer in `scratch`, checked; None while there is none to read.

    None for a missing, empty or unfinished (not whole JSON) response.json: the child
    died before or while writing it. A link, a pipe, a folder, an oversized file or a
    value out of range raises the `SubmissionError` of `grader.boundary` that says why.
    """
    try:
        raw = read_child_file(scratch, RESPONSE_NAME, limit=RESPONSE_LIMIT)
    except FileNotFoundError:
        return None
    except OSError as exc:  # e.g. the child took the permissions off its scratch folder
        raise HostileFile(
            f"the grader could not read the child's {RESPONSE_NAME} ({exc.strerror or exc})"
        ) from None
    try:
        return parse_answer(raw, objective=objective)
    except IncompleteAnswer:
        return None


def _answer_of(request: dict[str, Any], scratch: Path) -> tuple[ChildAnswer | None, str | None]:
    """`read_answer` for `run_child`: the answer, or the reason it was refused."""
    # The tests' bare requests name no objective; the child then reports no trials.
    objective = str(request.get("objective", "val_accuracy"))
    try:
        return read_answer(scratch, objective=objective), None
    except SubmissionError as exc:
        return None, exc.message


def _kill_tree(root: int) -> None:
    """SIGKILL the child and everything it started, whatever session or group they chose."""
    for pid in reversed(process_tree(root)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(root, signal.SIGKILL)
