"""The parent's handle on the trainer (`grader/trainer/`): a persistent process of the
grader's own that trains what a submission declared, and rebuilds and predicts with a
model the sandboxed child trained (a submission that cannot be declared).

`search` runs a submission's search in it, relaying its requests for declarations to the
caller (who asks the child and checks the answer); `predict` evaluates a child's model.
The parent never imports TensorFlow or Keras. Rebuilding a model and predicting the test
images costs memory and time the submission decides (its architecture), and the weights
file is the student's bytes handed to HDF5, so all of that happens here, in a process of
its own, under limits:

- one evaluator per grading process, started on first use (TensorFlow's import costs
  seconds; paying it once per batch, not once per submission, keeps grading cheap);
- inside the sandbox when there is one, with its own folder (the parent's copies of the
  model files, never the child's scratch) and its output in `evaluator.log`, not on the
  instructor's terminal;
- each request is timed (`seconds`) and its memory watched (`Watchdog`, and the kernel's
  cgroup ceiling where the machine allows it); a breach kills the evaluator, that
  submission gets `resource_limit` with the figure, and the next request starts a new
  evaluator.

Requests and answers are one JSON line each over the evaluator's stdin and stdout;
arrays travel as .npy files read with `allow_pickle=False`. The evaluator builds in
Keras' safe mode, with no custom objects: no student code runs here.

Besides the predictions an answer holds the optimizer's step counter stored with the
weights (`iterations`, read with h5py as data) and whether a model built fresh from the
initial architecture under the run's seed has the initial weights the child saved.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from grader.child.declaration import Declaration
from grader.child.protocol import ProgressLine
from grader.errors import SubmissionError
from grader.limits import Breach, KernelLimits, Limits, Watchdog, process_tree
from grader.sandbox import Sandbox
from grader.trainer.wire import (
    LOG_FILE,
    NEED_DECLARATION,
    PROGRESS,
    InitialWeights,
    PredictAnswer,
    SearchAnswer,
    SearchRequest,
    TrainerStatus,
)

__all__ = ["LOG_FILE", "Evaluator", "EvaluatorLimit", "InitialWeights", "ModelFiles"]
# One message line. The trainer is the grader's own process, but what it relays is the
# submission's (trials, histories, hyperparameters): a line past this is not ours.
LINE_LIMIT = 32 * 1024 * 1024
START_SECONDS = 600.0  # TensorFlow's import on a busy 2-core machine, with room to spare
_FOLDER_MB = 8192  # the watchdog's disk check: the parent writes this folder itself


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # (images, classes), float32
    iterations: int | None  # the optimizer's step counter saved with the weights
    initial_weights: str  # an InitialWeights value
    initial_detail: str = ""  # why UNCHECKED, or where the weights differ


@dataclass(frozen=True)
class ModelFiles:
    """Copies the parent made (grader.boundary.copy_child_file) of one model's files."""

    model_json: Path
    weights: Path


class EvaluatorLimit(SubmissionError):
    """A request broke the evaluator's time or memory limit (status `resource_limit`)."""

    def __init__(self, message: str, breach: Breach | None = None) -> None:
        super().__init__(message, status="resource_limit")
        self.breach = breach


class Evaluator:
    """The parent's handle on one evaluator process; `predict` starts it when needed."""

    def __init__(
        self,
        *,
        memory_mb: int,
        threads: int,
        sandbox: Sandbox,
        hidden: Sequence[Path] = (),
        readable: Sequence[Path] = (),
        seed: int = 0,
    ) -> None:
        self.memory_mb, self.threads = memory_mb, threads
        self.sandbox = sandbox
        self.hidden = tuple(hidden)
        self.readable = tuple(readable)  # the prepared split the trainer trains on
        self.seed = seed  # PYTHONHASHSEED, as the child's (grader.runner.child_env)
        self.folder = Path(tempfile.mkdtemp(prefix="evaluator-", dir=_system_tmp()))
        self.starts = 0  # how many processes were started (tests read it)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: Watchdog | None = None
        self._kernel: KernelLimits | None = None
        self._images: dict[str, str] = {}
        self._count = 0
        self._ready = False  # the running process said it is ready
        self._buffer = bytearray()  # what was read past the last message line

    # --- parent side -----------------------------------------------------------------

    def request_folder(self) -> Path:
        """A new empty folder of this evaluator's, for the caller's copies of one request."""
        with self._lock:
            self._count += 1
            folder = self.folder / f"request-{self._count:05d}"
        folder.mkdir()
        return folder

    def predict(
        self,
        model: ModelFiles,
        images: np.ndarray | None,
        *,
        seconds: float,
        seed: int,
        initial: ModelFiles | None = None,
    ) -> Prediction:
        """Rebuild `model` safely, predict `images`; raise `SubmissionError` when it cannot.

        With `images` None nothing is built: only the step counter is read (a model the
        grader will not rebuild still has one). `EvaluatorLimit` when the request takes
        more than `seconds` or more memory than the limit; a plain `SubmissionError`
        when the model cannot be rebuilt safely.
        """
        with self._lock:
            self._ensure_started()
            request = {
                "folder": str(model.model_json.parent),
                "model_json": str(model.model_json),
                "weights": str(model.weights),
                "images": None if images is None else self._images_file(images),
                "seed": seed,
                "initial": None
                if initial is None
                else {"model_json": str(initial.model_json), "weights": str(initial.weights)},
            }
            answer = PredictAnswer.from_json(self._ask(request, seconds))
        if answer.status != TrainerStatus.OK:
            raise SubmissionError(answer.message)
        iterations = answer.iterations
        if images is None:
            return Prediction(np.zeros((0, 0), np.float32), iterations, InitialWeights.UNCHECKED)
        output = Path(answer.predictions or "")
        if output.parent != model.model_json.parent:
            raise SubmissionError("the evaluator answered with a file outside its request")
        try:
            probabilities = np.load(output, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SubmissionError(f"the model's predictions could not be read ({exc})") from None
        return Prediction(
            probabilities=probabilities,
            iterations=iterations,
            initial_weights=answer.initial_weights,
            initial_detail=answer.initial_detail,
        )

    def close(self) -> None:
        with self._lock:
            self._stop()
        with contextlib.suppress(OSError):
            for path in sorted(self.folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
            self.folder.rmdir()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _images_file(self, images: np.ndarray) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(images).view(np.uint8)).hexdigest()[:16]
        name = self._images.get(digest)
        if name is None:
            name = str(self.folder / f"images-{digest}.npy")
            np.save(name, np.ascontiguousarray(images, dtype=np.float32), allow_pickle=False)
            self._images[digest] = name
        return name

    def warm(self) -> None:
        """Start the process now without waiting for it: its TensorFlow import (about 10 s
        here, one core) then runs while the child imports its own on the other core, and
        the first `predict` only waits for what is left of it."""
        with self._lock:
            self._spawn_if_down()

    def _ensure_started(self) -> None:
        self._spawn_if_down()
        if self._ready:
            return
        ready = self._read_line(START_SECONDS)
        if ready is None or ready.get("ready") is not True:
            self._stop()
            raise SubmissionError(
                f"the grader's evaluator did not start (see {self.folder / LOG_FILE}); "
                "this is not the student's fault"
            )
        self._ready = True

    def _spawn_if_down(self) -> None:
        """A new process unless one is running (a dead one is cleaned up first)."""
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            self._spawn()

    def _spawn(self) -> None:
        self._ready = False
        self._buffer = bytearray()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.folder),
            "TMPDIR": str(self.folder),
            "KERAS_HOME": str(self.folder / ".keras"),
            "KERAS_BACKEND": "tensorflow",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "OMP_NUM_THREADS": str(self.threads),
            "CUDA_VISIBLE_DEVICES": "",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": str(self.seed),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        command = [
            sys.executable, "-m", "grader.trainer.server", str(self.folder), str(self.threads)
        ]  # fmt: skip
        command = self.sandbox.wrap(
            command, scratch=self.folder, readable=self.readable, env=env, hidden=self.hidden
        )
        limits = Limits(memory_mb=self.memory_mb, processes=32, scratch_mb=_FOLDER_MB)
        self._kernel = KernelLimits(limits)
        self._proc = subprocess.Popen(
            command,
            cwd=self.folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the evaluator sends its own output to its log
            start_new_session=True,
            preexec_fn=self._kernel.enter,
        )
        self.starts += 1
        self._watchdog = Watchdog(self._proc.pid, self.folder, limits, self._kill)
        self._watchdog.__enter__()

    def _ask(self, request: dict[str, Any], seconds: float) -> dict[str, Any]:
        start = time.monotonic()
        self._write(request)
        answer = self._read_line(seconds)
        if answer is not None:
            return answer
        self._fail(seconds, start, what="evaluating the best model")

    def _fail(self, seconds: float, start: float, *, what: str) -> NoReturn:
        """The process said nothing in time, or died: why, as the submission's error."""
        assert self._proc is not None
        breach = self._watchdog.breach if self._watchdog else None
        oom = self._kernel is not None and self._kernel.oom_killed()
        elapsed = time.monotonic() - start
        alive = self._proc.poll() is None
        self._stop()
        if breach is not None or oom:
            breach = breach or Breach("memory", self.memory_mb * 1.25, self.memory_mb, "MB")
            raise EvaluatorLimit(
                f"{what} exceeded the grader's memory limit ({breach.describe()})", breach
            )
        if alive or elapsed >= seconds:
            raise EvaluatorLimit(f"{what} took more than the grader's limit of {seconds:.0f} s")
        raise SubmissionError(f"the grader's trainer stopped while {what}")

    def _read_line(self, seconds: float) -> dict[str, Any] | None:
        """One message line within `seconds`, or None (timeout, death, garbage).

        Lines after the first one read stay in the buffer for the next call: a search
        sends several (requests for declarations, progress) before its answer.
        """
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + seconds
        buffer = self._buffer
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or len(buffer) > LINE_LIMIT:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            buffer += chunk
        line, _, rest = bytes(buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        try:
            answer = json.loads(line)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def search(
        self,
        request: SearchRequest,
        *,
        images: np.ndarray | None,
        relay: Callable[[str, dict[str, Any]], Declaration | str],
        on_progress: Callable[[ProgressLine], None] | None = None,
        seconds: float,
    ) -> SearchAnswer:
        """Run `request` in the trainer, answering its requests for declarations.

        `relay(purpose, hyperparameters)` returns the checked declaration to train, or a
        text: why the search must stop (the trainer then answers "aborted"). Raises
        `EvaluatorLimit` past `seconds` or the memory limit, like `predict`.
        """
        with self._lock:
            self._ensure_started()
            assert self._proc is not None
            if images is not None:
                request = dataclasses.replace(request, images=self._images_file(images))
            self._write(request.to_line())
            try:
                return self._converse(relay, on_progress, seconds)
            except BaseException:
                # Whatever broke the conversation, the process is mid-search, waiting for a
                # line that will not come: the next request must find a fresh one.
                if self._proc is not None:
                    self._stop()
                raise

    def _converse(
        self,
        relay: Callable[[str, dict[str, Any]], Declaration | str],
        on_progress: Callable[[ProgressLine], None] | None,
        seconds: float,
    ) -> SearchAnswer:
        """Read the search's lines, answering its requests, until its answer."""
        deadline = time.monotonic() + seconds
        while True:
            message = self._read_line(max(0.0, deadline - time.monotonic()))
            if message is None:
                self._fail(seconds, deadline - seconds, what="training the submission")
            if message.get("need") == NEED_DECLARATION:
                reply = relay(str(message.get("purpose")), message.get("hyperparameters") or {})
                if isinstance(reply, str):
                    self._write({"abort": reply})
                else:  # numbered as the trainer asked (the child's own count differs)
                    numbered = dataclasses.replace(reply, n=int(message.get("n", 0)))
                    self._write({"declaration": numbered.to_data()})
            elif PROGRESS in message:
                line = ProgressLine.parse(str(message[PROGRESS]).encode("utf-8"))
                if line is not None and on_progress is not None:
                    on_progress(line)
            else:
                return SearchAnswer.from_json(message)

    def _write(self, message: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except OSError:
            pass  # it died: the next read finds out why

    def _kill(self) -> None:
        if self._proc is None:
            return
        for pid in reversed(process_tree(self._proc.pid)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def _stop(self) -> None:
        if self._proc is not None:
            self._kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                with contextlib.suppress(OSError):
                    if stream is not None:
                        stream.close()
            self._proc = None
        self._ready = False
        if self._watchdog is not None:
            self._watchdog.__exit__(None, None, None)
            self._watchdog = None
        if self._kernel is not None:
            self._kernel.close()
            self._kernel = None


def _system_tmp() -> str:
    # Not tempfile.gettempdir(): the batch points it at the scratch folder of the
    # submission being graded, and this folder must outlive that submission.
    return os.environ.get("TMPDIR") or "/tmp"


_SHARED: dict[tuple[Any, ...], Evaluator] = {}
_SHARED_LOCK = threading.Lock()


def shared(
    *,
    memory_mb: int,
    threads: int,
    sandbox: Sandbox,
    hidden: Sequence[Path] = (),
    readable: Sequence[Path] = (),
    seed: int = 0,
) -> Evaluator:
    """This grading process's evaluator for these settings (one per process, reused).

    Settings other than the running evaluator's close it first: a process that grades
    with one set of settings after another (tests, `grade validate`) keeps one idle
    TensorFlow process alive, not one per set of settings (0.6 GB or more each).
    """
    key = (memory_mb, threads, sandbox.enabled, tuple(hidden), tuple(readable), seed)
    with _SHARED_LOCK:
        evaluator = _SHARED.get(key)
        if evaluator is None:
            for other in _SHARED.values():
                other.close()
            _SHARED.clear()
            evaluator = Evaluator(
                memory_mb=memory_mb,
                threads=threads,
                sandbox=sandbox,
                hidden=hidden,
                readable=readable,
                seed=seed,
            )
            _SHARED[key] = evaluator
        return evaluator


@atexit.register
def close_all() -> None:
    with _SHARED_LOCK:
        for evaluator in _SHARED.values():
            evaluator.close()
        _SHARED.clear()
