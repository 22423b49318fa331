"""Resource limits for one child: memory, processes, scratch disk, output size.

Limits are enforced from outside the child. A watchdog thread in the parent reads the
process tree's resident memory and size from /proc and the scratch folder's size, and
kills the whole tree at a limit (the verdict is `resource_limit`, with the figure). Where
the machine lets us create cgroups (v1 `pids`, `memory`), the kernel adds hard ceilings
the watchdog cannot be outrun by: a fork bomb meets `pids.max`, a sudden allocation meets
`memory.limit_in_bytes`. The child's output is drained through a pipe and only its head
and tail are kept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from grader import i18n
from grader.boundary import HostileFile, open_child_file
from grader.child.protocol import (
    PROGRESS_LIMIT,
    PROGRESS_LINE_LIMIT,
    PROGRESS_NAME,
    ProgressEvent,
    ProgressLine,
)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_POLL_SECONDS = 0.1
# The kernel ceiling counts threads too, and TensorFlow starts dozens per process.
_TASKS_PER_PROCESS = 16


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096  # resident memory of the whole process tree
    processes: int = 32  # processes in the tree (threads not counted)
    scratch_mb: int = 1024  # disk used in the scratch folder
    output_kb: int = 256  # the child's stdout/stderr kept for the report
    # The parent's evaluation of the best model (grader/evaluate.py, grader/evaluator.py),
    # checked on the architecture before anything is built. The exam's MLP has 636,010
    # parameters and as many multiply-adds per image.
    eval_max_params: int = 50_000_000  # parameters of the best model
    eval_max_macs: int = 200_000_000  # multiply-adds per image
    eval_seconds: int = 120  # rebuilding it and predicting the test images
    eval_memory_mb: int = 3072  # the evaluator process (TensorFlow alone is ~0.6 GB)
    # One declaration (grader/training.py): the student's build and a recorded fit, no
    # training; about a second for the exam, a few for a callback simulated per batch.
    declare_seconds: int = 60
    # Loading the submission (grader/submission.py's load_within): reading and parsing it,
    # nothing executed, first in a process of its own. The exam notebook takes 0.1 s; the
    # largest file the caps let through (64 MB of outputs, 1 MB of code) is measured in
    # bench/RESULTS.md, well within both.
    load_seconds: int = 30
    load_memory_mb: int = 1024  # address space of the checking process


@dataclass(frozen=True)
class Breach:
    """Which limit was hit, and the figure that hit it."""

    limit: str  # "memory", "processes", "scratch"
    observed: float
    allowed: float
    unit: str

    def describe(self) -> str:
        observed, allowed = f"{self.observed:.0f}", f"{self.allowed:.0f}"
        return f"{self.limit}: {observed} {self.unit} > limit {allowed} {self.unit}"


def process_tree(root: int) -> list[int]:
    """`root` and all its living descendants, from /proc (no third-party dependency).

    Read from each process's own list of children (/proc/PID/task/TID/children), which
    costs a few reads per process in the tree; the watchdogs call this ten times a second,
    and a scan of every process on the machine cost 5 ms a call here. Kernels without
    those lists get the scan.
    """
    if not _CHILDREN_LISTS:
        return _tree_by_scan(root)
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        if _state(pid) in ("Z", "X"):
            continue
        tree.append(pid)
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                path = f"/proc/{pid}/task/{tid}/children"
                with contextlib.suppress(OSError), open(path) as listing:
                    stack.extend(int(child) for child in listing.read().split())
    return tree or [root]


def stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, parent, ...); None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces and parentheses: split after the last ')'.
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _state(pid: int) -> str:
    fields = stat_fields(pid)
    return fields[0] if fields else "X"


def _tree_by_scan(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = stat_fields(entry.name)
        if not fields or fields[0] in ("Z", "X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


_CHILDREN_LISTS = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def resident_kb(pid: int) -> int:
    """Resident memory from /proc/PID/statm: a read that costs microseconds.

    It counts pages a process shares after a fork in every process that shares them, so a
    sum over a tree can only be too high: `proportional_kb` settles a sum above a limit.
    """
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def proportional_kb(pid: int) -> int:
    """Proportional resident memory (PSS): pages shared after a fork count once in all.

    Plain RSS would count a forked TensorFlow process's shared gigabyte again for every
    child; PSS splits shared pages among their users. But the kernel walks every page
    table to compute it (30 ms for one TensorFlow process here), so the watchdog reads it
    only when the cheap RSS sum is over the limit. VmRSS is the fallback.
    """
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return 0


def folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


class Watchdog:
    """Polls one child's process tree and scratch folder; kills the tree at a limit."""

    def __init__(self, root: int, scratch: Path, limits: Limits, kill: Callable[[], None]):
        self.root, self.scratch, self.limits, self.kill = root, scratch, limits, kill
        self.breach: Breach | None = None
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grader-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last_disk = 0.0
        while not self._stop.wait(_POLL_SECONDS):
            breach = self._memory_and_processes()
            if breach is None and time.monotonic() - last_disk > 1.0:
                last_disk = time.monotonic()
                used = folder_bytes(self.scratch) / 2**20
                if used > self.limits.scratch_mb:
                    breach = Breach("scratch", used, self.limits.scratch_mb, "MB")
            if breach is not None:
                self.breach = breach
                self.kill()
                return

    def _memory_and_processes(self) -> Breach | None:
        tree = process_tree(self.root)
        # bubblewrap's own small processes are in the tree; they count, as they must.
        if len(tree) > self.limits.processes:
            return Breach("processes", len(tree), self.limits.processes, "processes")
        rss_mb = sum(resident_kb(pid) for pid in tree) / 1024
        if rss_mb > self.limits.memory_mb:  # RSS >= PSS: only then is the costly figure needed
            rss_mb = sum(proportional_kb(pid) for pid in tree) / 1024
        self.peak_rss_mb = max(self.peak_rss_mb, rss_mb)
        if rss_mb > self.limits.memory_mb:
            return Breach("memory", rss_mb, self.limits.memory_mb, "MB")
        return None


class KernelLimits:
    """cgroup v1 ceilings (pids, memory) when the machine allows creating them.

    `enter()` runs in the child between fork and exec (Popen's preexec_fn), so the
    child is inside the cgroups before it can start a single process of its own.
    """

    def __init__(self, limits: Limits) -> None:
        self.groups: list[Path] = []
        name = f"grader-{uuid.uuid4().hex[:12]}"
        pids = _own_group("pids")
        if pids is not None and _make(pids / name):
            self._write(pids / name / "pids.max", limits.processes * _TASKS_PER_PROCESS)
            self.groups.append(pids / name)
        memory = _own_group("memory")
        if memory is not None and _make(memory / name):
            # A backstop above the watchdog's limit: the watchdog reports the figure,
            # the kernel only stops what the watchdog was too slow for.
            ceiling = int(limits.memory_mb * 1.25) * 2**20
            self._write(memory / name / "memory.limit_in_bytes", ceiling)
            self.groups.append(memory / name)

    @staticmethod
    def _write(path: Path, value: int) -> None:
        with contextlib.suppress(OSError):
            path.write_text(str(value))

    def enter(self) -> None:
        for group in self.groups:
            with contextlib.suppress(OSError):
                (group / "cgroup.procs").write_text(str(os.getpid()))

    def oom_killed(self) -> bool:
        """Whether the kernel's memory ceiling killed a process of the child."""
        for group in self.groups:
            with contextlib.suppress(OSError, ValueError):
                for line in (group / "memory.oom_control").read_text().splitlines():
                    if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                        return True
        return False

    def close(self) -> None:
        for group in self.groups:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except OSError:
                    _kill_members(group)
                    time.sleep(0.05)


def _own_group(controller: str) -> Path | None:
    """This process's cgroup folder for a v1 controller, if it exists and is writable."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            return folder if os.access(folder, os.W_OK) else None
    return None


def _make(folder: Path) -> bool:
    try:
        folder.mkdir()
    except OSError:
        return False
    return True


def _kill_members(group: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)


# ---------------------------------------------------------------------------------------
# Wall-clock per trial, from progress.jsonl (grader.child.protocol.ProgressLine).
#
# The child's own trial time limit is a Keras callback in the student's process: code that
# trains without `Model.fit` (the backend trainer's function, a loop of train_on_batch)
# steps around it. So the parent times each trial itself: its own clock starts when it
# first sees a trial's start line, and the child is killed when one stretch of the search
# runs past trial_seconds + grace. Once the first trial started, the clock never stops: the
# time after a trial's end line counts against the next trial (or, after the last one,
# against the search's wrap-up), so a child cannot declare a trial over and keep training.
# A child that never writes a line is still bounded by the hard limit (grader.runner).

_PROGRESS_POLL_SECONDS = 0.25
_PROGRESS_READ = 1 << 20  # bytes read per poll at most: a flood is read over several polls

# What the parent says when it refuses the progress file, {name} being the file's name.
# The [progress_refusals] table of grader/i18n/<lang>.toml.
PROGRESS_REFUSALS = i18n.messages("progress_refusals")


def trial_grace(trial_seconds: float) -> float:
    """How long past `trial_seconds` the parent lets a trial run: max(10 s, 10 %).

    The child stops an honest trial itself at trial_seconds (at a batch boundary); what
    still runs after that is the cut epoch's validation pass (one pass over at most 10 000
    images: about 1 s here, a few seconds with both cores busy), the tuner's best-epoch
    checkpoint, the answer's rewrite and the parent's poll (0.25 s). 10 s covers that with a
    wide margin; 10 % of a long exam trial (180 s of 1800 s) also covers one slow epoch
    boundary when another job shares the cores.
    """
    return max(10.0, 0.1 * trial_seconds)


@dataclass(frozen=True)
class ProgressRefusal:
    """Why the parent stopped reading progress.jsonl (and stopped the child)."""

    reason: str  # a key of PROGRESS_REFUSALS
    values: tuple[tuple[str, int | str], ...] = ()

    def text(self, lang: str) -> str:
        return PROGRESS_REFUSALS[self.reason][lang].format(name=PROGRESS_NAME, **dict(self.values))


class ProgressRefused(Exception):
    """Raised by `ProgressReader.read`; carries the refusal."""

    def __init__(self, refusal: ProgressRefusal) -> None:
        super().__init__(refusal.text("en"))
        self.refusal = refusal


@dataclass(frozen=True)
class TrialOverrun:
    """A stretch of the search that ran past its limit, measured by the parent's clock."""

    trial: int  # the trial that overran (1-based); after the last one: the wrap-up
    trials: int  # max_trials
    seconds: float  # how long it had run when the parent stopped it
    limit: float  # trial_seconds
    grace: float
    after_last: bool = False  # the stretch after the last trial's end line (the wrap-up)

    @property
    def over(self) -> float:
        return self.seconds - self.limit


class ProgressReader:
    """Reads the complete lines the child appended to progress.jsonl since the last read.

    Only through `grader.boundary.open_child_file` (no link followed, a pipe never blocks,
    a file over the cap refused before reading), from the offset where it stopped, at most
    _PROGRESS_READ bytes a call, each line at most PROGRESS_LINE_LIMIT bytes. Any breach
    raises `ProgressRefused`; the reader then stays refused.
    """

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.offset = 0
        self.lines_read = 0
        self.latest: ProgressLine | None = None
        self._pending = b""
        self._inode: tuple[int, int] | None = None
        self.refusal: ProgressRefusal | None = None

    def read(self) -> list[ProgressLine]:
        """New lines, in order; [] while the file does not exist."""
        if self.refusal is not None:
            raise ProgressRefused(self.refusal)
        try:
            # The size is checked here, not by the boundary's cap, to name the reason.
            fd, size = open_child_file(self.scratch, PROGRESS_NAME, limit=2**62)
        except FileNotFoundError:
            if self._inode is not None:
                self._refuse("replaced")
            return []
        except HostileFile:
            self._refuse("not_regular")
        try:
            if size > PROGRESS_LIMIT:
                self._refuse("too_big", limit=PROGRESS_LIMIT)
            info = os.fstat(fd)
            inode = (info.st_dev, info.st_ino)
            if self._inode is None:
                self._inode = inode
            if inode != self._inode or size < self.offset:
                self._refuse("replaced")
            chunk = os.pread(fd, min(size - self.offset, _PROGRESS_READ), self.offset)
        finally:
            os.close(fd)
        self.offset += len(chunk)
        return self._lines(chunk)

    def _lines(self, chunk: bytes) -> list[ProgressLine]:
        *complete, self._pending = (self._pending + chunk).split(b"\n")
        if len(self._pending) > PROGRESS_LINE_LIMIT:
            self._refuse("line_too_long", limit=PROGRESS_LINE_LIMIT)
        parsed: list[ProgressLine] = []
        for raw in complete:
            self.lines_read += 1
            if len(raw) > PROGRESS_LINE_LIMIT:
                self._refuse("line_too_long", limit=PROGRESS_LINE_LIMIT)
            line = ProgressLine.parse(raw)
            if line is None:
                self._refuse("bad_line", line=self.lines_read)
            parsed.append(line)
            self.latest = line
        return parsed

    def _refuse(self, reason: str, **values: int | str) -> NoReturn:
        self.refusal = ProgressRefusal(reason, tuple(values.items()))
        raise ProgressRefused(self.refusal)


class TrialClock:
    """Times each trial of one child from its progress lines; kills the tree at an overrun.

    Runs beside `Watchdog` while the parent waits for the child. `overrun` or `refusal`
    says why it killed the child (at most one of them is set).
    """

    def __init__(
        self,
        scratch: Path,
        *,
        trial_seconds: float,
        max_trials: int,
        kill: Callable[[], None],
        grace: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = ProgressReader(scratch)
        self.trial_seconds, self.max_trials, self.kill = trial_seconds, max_trials, kill
        self.grace = trial_grace(trial_seconds) if grace is None else grace
        self.clock = clock
        self.overrun: TrialOverrun | None = None
        self.refusal: ProgressRefusal | None = None
        self.trial = 0  # the last trial whose start line was seen
        self.ended = 0  # the last trial whose end line was seen
        self.since: float | None = None  # the parent's time the running stretch began
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grader-trial-clock", daemon=True)

    def __enter__(self) -> TrialClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.overrun is None and self.refusal is None:
            self._read_rest()

    def _run(self) -> None:
        while not self._stop.wait(_PROGRESS_POLL_SECONDS):
            if self.poll():
                self.kill()
                return

    def _read_rest(self) -> None:
        """After the child's end: lines it wrote since the last poll are checked too, so a
        bad line written just before exiting is refused whatever the poll's timing."""
        now = self.clock()
        for _ in range(PROGRESS_LIMIT // _PROGRESS_READ + 2):
            try:
                lines = self.reader.read()
            except ProgressRefused as exc:
                self.refusal = exc.refusal
                return
            except OSError:
                return
            if not lines or not all(self._follow(line, now) for line in lines):
                return

    def poll(self) -> bool:
        """Read new lines and check the running stretch; True when the child must stop."""
        try:
            lines = self.reader.read()
        except ProgressRefused as exc:
            self.refusal = exc.refusal
            return True
        except OSError:  # the scratch folder is being removed: nothing left to time
            return False
        now = self.clock()
        for line in lines:
            if not self._follow(line, now):
                return True
        if self.since is not None and now - self.since > self.trial_seconds + self.grace:
            # Between an end line and the next start line the clock runs for the next trial.
            waiting = self.ended == self.trial
            self.overrun = TrialOverrun(
                trial=min(self.trial + 1, self.max_trials) if waiting else self.trial,
                trials=self.max_trials,
                seconds=round(now - self.since, 1),
                limit=self.trial_seconds,
                grace=self.grace,
                after_last=waiting and self.trial >= self.max_trials,
            )
            return True
        return False

    def _follow(self, line: ProgressLine, now: float) -> bool:
        if line.trials != self.max_trials or line.trial > self.max_trials:
            return self._out_of_order(line)
        if line.event is ProgressEvent.TRIAL_START:
            if line.trial != self.trial + 1 or self.ended != self.trial:
                return self._out_of_order(line)
            self.trial = line.trial
            if self.since is None:
                self.since = now
            # Otherwise the clock has run for this trial since the previous trial's end line.
        elif line.event is ProgressEvent.TRIAL_END:
            if line.trial != self.trial or self.ended == self.trial:
                return self._out_of_order(line)
            self.ended = line.trial
            self.since = now  # the next stretch: the next trial, or the wrap-up
        elif line.trial != self.trial or self.ended == self.trial:
            return self._out_of_order(line)  # an epoch outside a running trial
        return True

    def _out_of_order(self, line: ProgressLine) -> bool:
        self.refusal = ProgressRefusal(
            "out_of_order",
            (
                ("trial", line.trial),
                ("trials", line.trials),
                ("previous", self.trial),
                ("max_trials", self.max_trials),
            ),
        )
        return False
