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
    """`root` and all its descendants, from /proc (no third-party dependency)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def resident_kb(pid: int) -> int:
    """Proportional resident memory (PSS): pages shared after a fork count once in all.

    Plain RSS would count a forked TensorFlow process's shared gigabyte again for every
    child; PSS splits shared pages among their users. VmRSS is the fallback.
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
