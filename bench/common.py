"""What the benchmarks share: the machine's description, the reference submission, a
RunSettings on the full data, the child environment the grader uses, the MLP's FLOPs."""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader import data  # noqa: E402
from grader import spec as spec_module  # noqa: E402
from grader.discover import SubmissionRef, discover  # noqa: E402
from grader.limits import process_tree, proportional_kb, stat_fields  # noqa: E402
from grader.runner import child_env  # noqa: E402
from grader.settings import RunSettings  # noqa: E402

# The exam's MLP and batch: 784 -> 800 (relu) -> 10 (softmax), batch 256.
LAYERS = ((784, 800), (800, 10))
BATCH = 256


def machine() -> str:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; load average {load}"
    )


# Command lines that mean "someone else is training or testing on these cores".
_HEAVY = (
    "grader.child.worker",
    "grader.trainer",
    "grader.evaluator",
    "pytest",
    "bench/",
    "grade ",
    "fidelity",
)


def _others(me: int) -> list[str]:
    """Heavy processes that are not `me` or started by it. Ancestry is read after `ps`, per
    process: a tree taken before it missed a grader child started in between, and called
    the benchmark's own child "other"."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        pid_text, _, args = line.strip().partition(" ")
        if not pid_text.isdigit() or "ps -eo" in args:
            continue
        pid = int(pid_text)
        # Neither its own children nor what started it (`timeout 900 python bench/...`,
        # counted as "other" before: its command line names the benchmark).
        if any(marker in args for marker in _HEAVY) and not (
            _descends(pid, me) or _descends(me, pid)
        ):
            found.append(args[:120])
    return found


def _descends(pid: int, ancestor: int) -> bool:
    """Whether `ancestor` is `pid` or one of its parents (a process gone by now: no)."""
    while pid > 1:
        if pid == ancestor:
            return True
        fields = stat_fields(pid)
        if not fields:
            return False
        pid = int(fields[1])
    return False


def others_training() -> int:
    """How many training or test processes not started by this benchmark are running now."""
    return len(_others(os.getpid()))


class Conditions:
    """What else ran during a benchmark: load average and other training processes at its
    start and end, and every few seconds in between. A benchmark prints `verdict()` with
    its figures: "quiet", or "DISTURBED" with what was seen, so no number taken while other
    work shared the two cores is quoted as a measurement.

    Disturbed means: another training/test process at any sample, or a 1-minute load
    average above `START_LOAD` at the start (work that just stopped still slows caches and
    leaves the load high for a minute).
    """

    START_LOAD = 1.0
    SETTLE_SECONDS = 240.0

    def __init__(self, every: float = 5.0, *, settle: bool = True) -> None:
        self.every, self.settle = every, settle
        self.start_load = self.end_load = 0.0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.seen.update(_others(os.getpid()))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> Conditions:
        # Benchmarks run back to back: let the previous one's load decay first (the 1-minute
        # average needs about a minute), for at most SETTLE_SECONDS.
        waited = 0.0
        while self.settle and os.getloadavg()[0] > self.START_LOAD and waited < self.SETTLE_SECONDS:
            time.sleep(5.0)
            waited += 5.0
        if waited:
            print(f"waited {waited:.0f} s for the load average to settle", flush=True)
        self.start_load = os.getloadavg()[0]
        self._sample()
        print(f"start: {machine()}; other processes: {len(self.seen)}", flush=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.end_load = os.getloadavg()[0]
        print(self.verdict(), flush=True)

    @property
    def disturbed(self) -> bool:
        return bool(self.seen) or self.start_load > self.START_LOAD

    def verdict(self) -> str:
        head = (
            f"load average (1 min) {self.start_load:.2f} at start, {self.end_load:.2f} at end; "
            f"other training/test processes seen: {len(self.seen)}"
        )
        if not self.disturbed:
            return f"conditions: quiet ({head})"
        detail = "; ".join(sorted(self.seen)[:5])
        return f"conditions: DISTURBED ({head}{': ' + detail if detail else ''})"


def submission(sid: str) -> SubmissionRef:
    return next(r for r in discover([ROOT / "submissions"]).submissions if r.id == sid)


# The assignment every benchmark grades: the exam (six are shipped, so `grade` needs it named).
EXAM = "fashion-mnist-polynomial-decay"


TIME_SCALE_HELP = (
    "multiply the budget's time limits (on a loaded machine: the numbers do not depend on "
    "speed, only a time limit could cut a trial; the wall time is then not a measurement)"
)


def settings(
    budget: str = "default", time_scale: float = 1.0, **extra: Any
) -> tuple[RunSettings, data.TestSet]:
    """Full-data settings with the budget's committed calibration (never recomputed here),
    its time limits multiplied by `time_scale` (said on stdout when not 1)."""
    from grader import calibrate

    spec = spec_module.load(EXAM)
    cache = data.prepare()
    test = data.load_test(cache, num_classes=spec.num_classes)
    chosen = spec.budget(budget)
    if time_scale != 1.0:
        chosen = dataclasses.replace(
            chosen,
            trial_seconds=chosen.trial_seconds * time_scale,
            submission_seconds=chosen.submission_seconds * time_scale,
        )
        print(
            f"time limits x{time_scale}: trial {chosen.trial_seconds:.0f} s, "
            f"submission {chosen.submission_seconds:.0f} s",
            flush=True,
        )
    base = RunSettings(spec=spec, budget=chosen, cache=cache, lang="en", **extra)
    _, found = calibrate.locate(base)
    summary = found.summary() if found else None
    return dataclasses.replace(base, calibration=summary), test


def grader_env(home: Path, threads: int, seed: int = 23) -> dict[str, str]:
    """The environment the grader gives its child, for a baseline that runs like it."""
    home.mkdir(parents=True, exist_ok=True)
    return child_env(seed=seed, threads=threads, home=home)


def children_peak_rss_mib() -> float:
    """Largest resident set of any finished child of this process so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


class PeakMemory:
    """Polls this process's descendants (not itself) and keeps the peak of their summed
    proportional resident memory (grader.limits.proportional_kb), the figure the grader's
    watchdog settles a breach with. Each read costs the kernel a page-table walk (30 ms for
    one TensorFlow process here), so this polls five times a second, not ten.
    """

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.every):
            tree = [pid for pid in process_tree(me) if pid != me]
            total = sum(proportional_kb(pid) for pid in tree) / 1024
            self.peak_mib = max(self.peak_mib, total)


def train_step_flops(batch: int = BATCH) -> int:
    """Matmul FLOPs of one training step: forward X·W for both layers, backward dW for
    both and dX for the second only (the input's gradient is never needed)."""
    (a, b), (_, c) = LAYERS
    forward = 2 * batch * (a * b + b * c)
    backward = 2 * batch * (a * b + b * c) + 2 * batch * c * b
    return forward + backward
