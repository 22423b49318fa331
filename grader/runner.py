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
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

from grader.boundary import (
    AnswerStatus,
    ChildAnswer,
    HostileFile,
    IncompleteAnswer,
    parse_answer,
    read_child_file,
)
from grader.child.declaration import (
    DECLARATION_LIMIT,
    Declaration,
    DeclarationError,
    DeclareRequest,
)
from grader.child.protocol import RESPONSE_NAME, WAIT, ChildRequest
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


REQUEST_SLOT = "{request}"


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


@dataclass(frozen=True)
class Launch:
    """What a child's process is started with, besides its request: a spare started with
    the same `Launch` is the same process the request would have started."""

    seed: int  # PYTHONHASHSEED is fixed when the interpreter starts
    threads: int
    sandbox: Sandbox
    limits: Limits
    readable: tuple[Path, ...]
    hidden: tuple[Path, ...]
    # `command_for`'s command with `REQUEST_SLOT` for the request's path: a spare runs it
    # with `--wait` there. (A command that does not end with the path, as the tests' fake
    # workers, gets no spare.)
    worker: tuple[str, ...] = ()


class _Process:
    """A started child: the sandboxed process, its output drain and its kernel limits."""

    def __init__(self, launch: Launch, scratch: Path, argv: list[str], *, stdin: int) -> None:
        self.scratch = scratch  # where the child sees its scratch folder, for its whole life
        home = scratch / "home"
        home.mkdir(exist_ok=True)
        (home / "tmp").mkdir(exist_ok=True)
        env = child_env(seed=launch.seed, threads=launch.threads, home=home)
        command = launch.sandbox.wrap(
            argv, scratch=scratch, readable=launch.readable, env=env, hidden=launch.hidden
        )
        self.kernel = KernelLimits(launch.limits)
        try:
            self.proc = subprocess.Popen(
                command,
                cwd=scratch,
                env=env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self.kernel.enter,  # in the cgroups before the child's first fork
            )
        except BaseException:
            self.kernel.close()
            raise
        assert self.proc.stdout is not None
        self.drain = _Drain(self.proc.stdout, launch.limits.output_kb * 1024)

    def discard(self) -> None:
        """Kill an unused spare and everything it started; free its cgroups and folder."""
        _kill_tree(self.proc.pid)
        self.proc.wait()
        self.kernel.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class Spares:
    """Children started ahead of their submission, each waiting for its request.

    Most of a child's start-up is importing TensorFlow, Keras and keras-tuner (8-10 s of
    CPU here) before it reads its request. A batch that says more children will follow
    (`expect`) gets, each time a child starts, a spare started beside it with the same
    `Launch`: `python -m grader.child.worker --wait` in its own sandbox and scratch folder,
    which imports and then blocks on stdin. The next `run_child` with that `Launch` moves
    the spare's folder onto its own (a rename: the sandbox's bind mount follows the folder,
    so the child still sees it where it was) and writes the request's path to its stdin.

    Isolation is unchanged: each spare serves exactly one submission, in its own sandbox,
    and nothing of a submission reaches it before its request. Without the sandbox no
    spare is made (the child would lose its folder's path with the rename). One spare at
    a time per process; unused ones are killed by `close` (and die with this process).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[Launch, _Process]] = []
        self._more = 0

    def expect(self, more: int) -> None:
        """How many more children this process will probably start after the next one."""
        with self._lock:
            self._more = max(0, more)

    def claim(self, launch: Launch, scratch: Path) -> _Process | None:
        """A living spare with `launch`, moved onto the empty folder `scratch`; or None."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        found = None
        for key, spare in waiting:
            if found is None and key == launch and spare.proc.poll() is None:
                try:
                    # rename(2) replaces an empty folder in one step; a spare on another
                    # file system (EXDEV) or a folder that is not empty is not used.
                    os.rename(spare.scratch, scratch)
                except OSError:
                    pass
                else:
                    found = spare
                    continue
            spare.discard()
        return found

    def replenish(self, launch: Launch, folder: Path) -> None:
        """Start a spare in `folder` if more children are expected and none is waiting."""
        if not launch.sandbox.enabled or launch.worker[-1:] != (REQUEST_SLOT,):
            return
        with self._lock:
            if self._more <= 0 or self._waiting:
                return
            self._more -= 1
        scratch: Path | None = None
        try:  # a spare that cannot start costs the next child its head start, nothing else
            scratch = Path(tempfile.mkdtemp(prefix="spare-", dir=folder))
            argv = [*launch.worker[:-1], WAIT]
            spare = _Process(launch, scratch, argv, stdin=subprocess.PIPE)
        except (OSError, subprocess.SubprocessError):  # the latter: preexec_fn failed
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            return
        with self._lock:
            self._waiting.append((launch, spare))

    def close(self) -> None:
        """Kill every waiting spare and remove its folder."""
        with self._lock:
            waiting, self._waiting, self._more = self._waiting, [], 0
        for _, spare in waiting:
            spare.discard()


# This process's spares: a batch's runner says how many children will follow.
SPARES = Spares()


@dataclass(frozen=True)
class Confinement:
    """Where a child running student code is kept and what it may touch: the sandbox, the
    resource limits, the folders it may read and those it must not see.

    `sandbox` has no default, on purpose: whether student code runs in bubblewrap is
    decided by the caller (`grader.sandbox.resolve`, or a deliberate `Sandbox(None)`), and
    a caller that forgets to decide gets a `TypeError`, never an unsandboxed child.
    """

    sandbox: Sandbox
    limits: Limits = field(default_factory=Limits)
    readable: tuple[Path, ...] = ()  # e.g. the prepared split (grader.datasets.prepare_split)
    hidden: tuple[Path, ...] = ()  # every copy of the test set, the instructors' material


def run_child(
    request: ChildRequest,
    scratch: Path,
    confinement: Confinement,
    *,
    hard_timeout: float,
    threads: int,
) -> ChildOutcome:
    """Run `python -m grader.child.worker` on `request` in `scratch`; never raises for the child.

    A waiting spare with the same `Launch` is used when there is one (`Spares`); its
    import does not count in the hard timeout or the outcome's seconds, as it happened
    before the request.
    """
    child, start = _start(request, scratch, threads, confinement, keep=False)
    return _supervise(
        child, request, scratch, start, hard_timeout=hard_timeout, limits=confinement.limits
    )


class ChildSession:
    """A child started in serve mode (issue 20: the child declares, the grader trains).

    It runs the student's statements and the probe, then answers declaration requests
    written on its stdin, one `declare-<n>.json` each in its scratch folder, until it is
    told to end (or to run the search itself: the sandbox fallback). It is watched the
    whole time by `_supervise` (limits, hard timeout), in a thread; `finish` returns its
    `ChildOutcome` as `run_child` would.
    """

    POLL = 0.02  # seconds between looks at the scratch folder

    def __init__(self, child: _Process, request: ChildRequest, scratch: Path, start: float,
                 *, hard_timeout: float, limits: Limits) -> None:  # fmt: skip
        self.child, self.scratch = child, scratch
        self.outcome: ChildOutcome | None = None
        self._thread = threading.Thread(
            target=self._watch,
            args=(request, start, hard_timeout, limits),
            name="child-session",
            daemon=True,
        )
        self._thread.start()

    def _watch(self, request: ChildRequest, start: float, hard: float, limits: Limits) -> None:
        self.outcome = _supervise(
            self.child, request, self.scratch, start, hard_timeout=hard, limits=limits
        )

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.child.proc.poll() is None

    def serving(self, objective: str) -> ChildAnswer | None:
        """Wait until the child serves (its answer says "serving") or ends; its answer
        then, or None when it ended without one it serves with."""
        while self.alive:
            try:
                answer = read_answer(self.scratch, objective=objective)
            except SubmissionError:
                return None
            if answer is not None and answer.status is AnswerStatus.SERVING:
                return answer
            if answer is not None and answer.status is not AnswerStatus.RUNNING:
                return None
            time.sleep(self.POLL)
        return None

    def declare(self, request: DeclareRequest, seconds: float) -> Declaration:
        """The child's declaration for `request`; `SubmissionError` when it does not
        answer within `seconds`, dies, or answers with something that is not one."""
        name = f"declare-{request.n}.json"
        self._send(request.to_json())
        deadline = time.monotonic() + seconds
        while True:
            try:
                raw = read_child_file(self.scratch, name, limit=DECLARATION_LIMIT)
            except FileNotFoundError:
                raw = None
            if raw is not None:
                try:
                    declaration = Declaration.from_json(raw)
                except DeclarationError as exc:
                    raise SubmissionError(f"the child's declaration was refused: {exc}") from None
                if declaration.n != request.n:
                    raise SubmissionError("the child answered another request")
                return declaration
            if not self.alive:
                raise ChildEnded("the child ended while declaring")
            if time.monotonic() >= deadline:
                raise DeclarationTimeout(seconds)
            time.sleep(self.POLL)

    def search_here(self) -> None:
        """Let the child train the search itself (a submission that cannot be declared)."""
        self._send(json.dumps({"op": "search"}))
        self._close()

    def finish(self) -> ChildOutcome:
        """End the child (it answers `ok`) and return how it went."""
        self._close()
        self._thread.join()
        assert self.outcome is not None
        return self.outcome

    def stop(self) -> ChildOutcome:
        """Kill the child now (it did not declare in time, or what it declared was refused:
        nothing more is asked of it) and return how it went. Once ended, it stays ended."""
        if self.outcome is None:
            _kill_tree(self.child.proc.pid)
        return self.finish()

    def _send(self, line: str) -> None:
        stdin = self.child.proc.stdin
        with contextlib.suppress(OSError, ValueError):  # dead: the next look finds out
            assert stdin is not None
            stdin.write(line.encode("utf-8") + b"\n")
            stdin.flush()

    def _close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.child.proc.stdin is not None:
                self.child.proc.stdin.close()


class ChildEnded(SubmissionError):
    """The child died while declaring: its outcome (a limit, a crash) says why."""


class DeclarationTimeout(SubmissionError):
    """The child did not answer a declaration request in time (it trains, loops, waits)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the submission took more than {seconds:.0f} s to declare its model", status="timeout"
        )
        self.seconds = seconds


def start_session(
    request: ChildRequest,
    scratch: Path,
    confinement: Confinement,
    *,
    hard_timeout: float,
    threads: int,
) -> ChildSession:
    """`run_child` for a request with "serve": the child is kept for declarations."""
    child, start = _start(request, scratch, threads, confinement, keep=True)
    return ChildSession(
        child, request, scratch, start, hard_timeout=hard_timeout, limits=confinement.limits
    )


def _start(
    request: ChildRequest,
    scratch: Path,
    threads: int,
    confinement: Confinement,
    *,
    keep: bool,
) -> tuple[_Process, float]:
    """Start the child for `request` (a waiting spare with the same `Launch` when there is
    one), with its stdin kept open for requests when `keep`; the child and its start."""
    launch = Launch(
        request.seed,
        threads,
        confinement.sandbox,
        confinement.limits,
        tuple(confinement.readable),
        tuple(confinement.hidden),
        worker=tuple(command_for(Path(REQUEST_SLOT))),
    )
    scratch.mkdir(parents=True, exist_ok=True)
    child = SPARES.claim(launch, scratch)
    request_path = scratch / "request.json"
    request_path.write_text(request.to_json(), encoding="utf-8")
    start = time.monotonic()
    if child is None:
        stdin = subprocess.PIPE if keep else subprocess.DEVNULL
        child = _Process(launch, scratch, command_for(request_path), stdin=stdin)
    else:
        # The path as the spare sees it: where its folder was when its sandbox was made.
        assert child.proc.stdin is not None
        with contextlib.suppress(OSError):  # a spare that died now is a crash like any
            child.proc.stdin.write(f"{child.scratch / 'request.json'}\n".encode())
            child.proc.stdin.flush()
            if not keep:
                child.proc.stdin.close()
    SPARES.replenish(launch, scratch.parent)
    return child, start


def _supervise(
    child: _Process,
    request: ChildRequest,
    scratch: Path,
    start: float,
    *,
    hard_timeout: float,
    limits: Limits,
) -> ChildOutcome:
    """Watch `child` to its end under the limits and read its answer in `scratch`."""
    proc, kernel = child.proc, child.kernel
    try:
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
        log = child.drain.text()
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
    elif answer is None or answer.status in (AnswerStatus.RUNNING, AnswerStatus.SERVING):
        end = ChildEnd.CRASHED
    else:
        end = ChildEnd.FINISHED
    return ChildOutcome(
        end=end,
        returncode=returncode,
        seconds=seconds,
        answer=answer,
        log_tail=log,
        output_bytes=child.drain.total,
        breach=breach,
        peak_rss_mb=round(watchdog.peak_rss_mb, 1),
        overrun=clock.overrun if breach is None else None,
        progress_refusal=clock.refusal if breach is None else None,
        answer_refusal=answer_refusal,
    )


def _trial_clock(request: ChildRequest, scratch: Path, kill: Callable[[], None]) -> TrialClock:
    """The parent's per-trial clock over the child's progress.jsonl (grader.limits).

    A request without a search (the predict child, tests' bare requests) gets a clock that
    can never fire: no trial line is expected, and any line is refused as out of order.
    """
    budget = request.budget
    return TrialClock(
        scratch,
        trial_seconds=float(budget.trial_seconds),
        # A serving child (grader.training) trains only when told to: the sandbox fallback.
        max_trials=int(budget.max_trials) if request.search or request.serve else 0,
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


def _answer_of(request: ChildRequest, scratch: Path) -> tuple[ChildAnswer | None, str | None]:
    """`read_answer` for `run_child`: the answer, or the reason it was refused."""
    objective = request.objective
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
