"""The evaluator: a separate, persistent process that rebuilds best models and predicts.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.errors import SubmissionError
from grader.limits import Breach, KernelLimits, Limits, Watchdog, process_tree
from grader.sandbox import Sandbox

LOG_FILE = "evaluator.log"
ANSWER_LIMIT = 64 * 1024  # one answer line; anything longer is not ours
START_SECONDS = 600.0  # TensorFlow's import on a busy 2-core machine, with room to spare
_FOLDER_MB = 8192  # the watchdog's disk check: the parent writes this folder itself


class InitialWeights:
    """What the evaluator found comparing the child's initial weights with a fresh build."""

    SAME = "same"
    DIFFERENT = "different"
    UNCHECKED = "unchecked"  # nothing to compare, or the comparison could not be made


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
        sandbox: Sandbox | None = None,
        hidden: Sequence[Path] = (),
    ) -> None:
        self.memory_mb, self.threads = memory_mb, threads
        self.sandbox = sandbox or Sandbox(None)
        self.hidden = tuple(hidden)
        self.folder = Path(tempfile.mkdtemp(prefix="evaluator-", dir=_system_tmp()))
        self.starts = 0  # how many processes were started (tests read it)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: Watchdog | None = None
        self._kernel: KernelLimits | None = None
        self._images: dict[str, str] = {}
        self._count = 0
        self._ready = False  # the running process said it is ready

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
            answer = self._ask(request, seconds)
        if answer.get("status") != "ok":
            raise SubmissionError(str(answer.get("message", "the evaluator failed"))[:1000])
        iterations = answer.get("iterations")
        iterations = iterations if isinstance(iterations, int) else None
        if images is None:
            return Prediction(np.zeros((0, 0), np.float32), iterations, InitialWeights.UNCHECKED)
        output = Path(str(answer.get("predictions", "")))
        if output.parent != model.model_json.parent:
            raise SubmissionError("the evaluator answered with a file outside its request")
        try:
            probabilities = np.load(output, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SubmissionError(f"the model's predictions could not be read ({exc})") from None
        return Prediction(
            probabilities=probabilities,
            iterations=iterations,
            initial_weights=str(answer.get("initial_weights", InitialWeights.UNCHECKED)),
            initial_detail=str(answer.get("initial_detail", ""))[:500],
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
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        command = [sys.executable, "-m", "grader.evaluator", str(self.folder), str(self.threads)]
        command = self.sandbox.wrap(
            command, scratch=self.folder, readable=[], env=env, hidden=self.hidden
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
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except OSError:
            pass  # it died: the read below finds out why
        start = time.monotonic()
        answer = self._read_line(seconds)
        if answer is not None:
            return answer
        breach = self._watchdog.breach if self._watchdog else None
        oom = self._kernel is not None and self._kernel.oom_killed()
        elapsed = time.monotonic() - start
        alive = self._proc.poll() is None
        self._stop()
        if breach is not None or oom:
            breach = breach or Breach("memory", self.memory_mb * 1.25, self.memory_mb, "MB")
            raise EvaluatorLimit(
                f"evaluating the best model exceeded the grader's memory limit "
                f"({breach.describe()})",
                breach,
            )
        if alive or elapsed >= seconds:
            raise EvaluatorLimit(
                f"evaluating the best model took more than the grader's limit of {seconds:.0f} s"
            )
        raise SubmissionError("the grader's evaluator stopped while evaluating this model")

    def _read_line(self, seconds: float) -> dict[str, Any] | None:
        """One answer line within `seconds`, or None (timeout, death, garbage)."""
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        fd = stream.fileno()
        deadline = time.monotonic() + seconds
        buffer = bytearray()
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or len(buffer) > ANSWER_LIMIT:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            buffer += chunk
        try:
            answer = json.loads(buffer.split(b"\n", 1)[0])
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

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


_SHARED: dict[tuple[int, int, bool, tuple[Path, ...]], Evaluator] = {}
_SHARED_LOCK = threading.Lock()


def shared(
    *, memory_mb: int, threads: int, sandbox: Sandbox, hidden: Sequence[Path] = ()
) -> Evaluator:
    """This grading process's evaluator for these settings (one per process, reused).

    Settings other than the running evaluator's close it first: a process that grades
    with one set of settings after another (tests, `grade validate`) keeps one idle
    TensorFlow process alive, not one per set of settings (0.6 GB or more each).
    """
    key = (memory_mb, threads, sandbox.enabled, tuple(hidden))
    with _SHARED_LOCK:
        evaluator = _SHARED.get(key)
        if evaluator is None:
            for other in _SHARED.values():
                other.close()
            _SHARED.clear()
            evaluator = Evaluator(
                memory_mb=memory_mb, threads=threads, sandbox=sandbox, hidden=hidden
            )
            _SHARED[key] = evaluator
        return evaluator


@atexit.register
def close_all() -> None:
    with _SHARED_LOCK:
        for evaluator in _SHARED.values():
            evaluator.close()
        _SHARED.clear()


# --- the evaluator process ---------------------------------------------------------------


def main(argv: list[str]) -> int:
    """`python -m grader.evaluator FOLDER THREADS`: serve requests until stdin closes."""
    folder, threads = Path(argv[1]), int(argv[2])
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    # TensorFlow's start-up lines and any warning go to the log, never to the answers
    # channel nor to the instructor's terminal.
    log = os.open(folder / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    answers.write(json.dumps({"ready": True, "keras": keras.__version__}) + "\n")
    images: dict[str, np.ndarray] = {}
    for line in sys.stdin:
        try:
            answer = serve(json.loads(line), images)
        except Exception as exc:  # one bad model costs one answer, not the evaluator
            answer = {"status": "error", "message": _problem(exc)}
        answers.write(json.dumps(answer) + "\n")
    return 0


def serve(request: dict[str, Any], images: dict[str, np.ndarray]) -> dict[str, Any]:
    """One request: rebuild, load the weights, predict, read the step counter."""
    folder = Path(request["folder"])
    weights = Path(request["weights"])
    iterations = saved_iterations(weights)
    if request.get("images") is None:
        return {"status": "ok", "iterations": iterations}
    try:
        model = rebuild(Path(request["model_json"]).read_text(encoding="utf-8"))
        load_weights(model, weights)
    except Exception as exc:
        return {
            "status": "error",
            "message": "the best model could not be rebuilt safely from its architecture and "
            f"weights ({_problem(exc)}); use standard Keras layers only",
        }
    name = request["images"]
    if name not in images:
        images.clear()
        images[name] = np.load(name, allow_pickle=False)
    probabilities = np.asarray(model.predict(images[name], batch_size=1000, verbose=0))
    output = folder / "predictions.npy"
    np.save(output, probabilities.astype(np.float32), allow_pickle=False)
    state, detail = InitialWeights.UNCHECKED, "no initial weights were saved"
    if request.get("initial"):
        state, detail = compare_initial(
            Path(request["initial"]["model_json"]),
            Path(request["initial"]["weights"]),
            int(request["seed"]),
        )
    return {
        "status": "ok",
        "predictions": str(output),
        "iterations": iterations,
        "initial_weights": state,
        "initial_detail": detail,
    }


def rebuild(model_json: str) -> Any:
    """A model from its architecture in Keras' safe mode, with no custom objects at all."""
    import keras

    config = json.loads(model_json)
    if isinstance(config, dict):
        # Only the architecture is rebuilt (the compile config is read as data by
        # grader/artifacts.py): compiling it would need the student's own schedule class or
        # metric function (seed 003's RandomScheduler with get_config, its lr_spy), which
        # safe mode rightly refuses, and predicting needs no optimizer.
        config.pop("compile_config", None)
    model = keras.saving.deserialize_keras_object(config, custom_objects=None, safe_mode=True)
    if not isinstance(model, keras.Model):
        raise TypeError(f"the architecture describes a {type(model).__name__}, not a model")
    return model


def load_weights(model: Any, weights: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        # The file also holds the optimizer's state, which an uncompiled model skips.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(str(weights))


def saved_iterations(weights: Path) -> int | None:
    """The optimizer's step counter in a Keras 3 `.weights.h5` file, or None.

    Keras 3 stores the optimizer's variables under `optimizer/vars/<n>`, the step counter
    (`iterations`, an int64 scalar) first; nothing else is looked at.
    """
    import h5py

    try:
        with h5py.File(weights, "r") as store:
            counter = store.get("optimizer/vars/0")
            if not isinstance(counter, h5py.Dataset) or counter.shape != ():
                return None
            if counter.dtype.kind not in "iu":
                return None
            return int(counter[()])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compare_initial(model_json: Path, weights: Path, seed: int) -> tuple[str, str]:
    """Whether the child's saved initial weights are the ones Keras draws under `seed`.

    The child saved them right after seeding, from the first model `build(hp)` returned.
    A fresh build of the same architecture after the same seeding draws the same
    initializer seeds in the same order, so an honest build matches bit for bit.
    """
    import keras

    try:
        text = model_json.read_text(encoding="utf-8")
        keras.utils.set_random_seed(seed)
        fresh = rebuild(text)
        saved = rebuild(text)
        load_weights(saved, weights)
    except Exception as exc:
        return InitialWeights.UNCHECKED, f"not comparable ({_problem(exc)})"
    if len(fresh.weights) != len(saved.weights):
        return InitialWeights.UNCHECKED, "the saved initial weights do not fit the architecture"
    for drawn, given in zip(fresh.weights, saved.weights, strict=True):
        if not np.array_equal(np.asarray(drawn), np.asarray(given)):
            return InitialWeights.DIFFERENT, str(getattr(drawn, "path", drawn.name))
    return InitialWeights.SAME, ""


def _problem(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
