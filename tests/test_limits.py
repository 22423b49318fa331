"""The watchdog's figures: which processes are the child's, and how much memory they hold.

The watchdogs read these ten times a second for every child and evaluator, so they must
be cheap as well as right: the process tree comes from each process's own list of
children, and memory from statm, with the page-table walk of PSS only to settle a sum
that is over the limit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader import limits
from grader.limits import Limits, Watchdog, process_tree, proportional_kb, resident_kb

# A parent that starts a child from a second thread (TensorFlow's threads start processes
# too) and a grandchild from that child, then waits.
FAMILY = textwrap.dedent(
    """
    import subprocess, sys, threading, time
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    def start():
        subprocess.Popen([sys.executable, "-c",
            "import subprocess, sys, time; subprocess.Popen(%r); time.sleep(60)" % (sleeper,)])
    threading.Thread(target=start).start()
    print("started", flush=True)
    time.sleep(60)
    """
)


def _family() -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "started\n"
    return proc


def _wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_tree_holds_children_started_by_any_thread_and_their_children() -> None:
    proc = _family()
    try:
        _wait_for(lambda: len(process_tree(proc.pid)) == 3)
        tree = process_tree(proc.pid)
        assert tree[0] == proc.pid
        assert sorted(tree) == sorted(limits._tree_by_scan(proc.pid))
    finally:
        for pid in reversed(process_tree(proc.pid)):
            subprocess.run(["kill", "-9", str(pid)], check=False)
        proc.wait()


def test_a_zombie_is_not_in_the_tree_and_a_dead_root_is_itself() -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    _wait_for(lambda: limits._state(zombie.pid) == "Z")
    assert process_tree(zombie.pid) == [zombie.pid]  # the root is always named, for the kill
    zombie.wait()
    assert process_tree(zombie.pid) == [zombie.pid]


def test_resident_memory_is_never_below_the_proportional_figure() -> None:
    proc = _family()
    try:
        _wait_for(lambda: len(process_tree(proc.pid)) == 3)
        for pid in process_tree(proc.pid):
            rss, pss = resident_kb(pid), proportional_kb(pid)
            assert rss > 0 and pss > 0 and rss >= pss
    finally:
        for pid in reversed(process_tree(proc.pid)):
            subprocess.run(["kill", "-9", str(pid)], check=False)
        proc.wait()


@pytest.mark.parametrize(("memory_mb", "breach"), [(4096, False), (1, True)])
def test_the_watchdog_reads_pss_only_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_mb: int, breach: bool
) -> None:
    calls: list[int] = []

    def counted(pid: int) -> int:
        calls.append(pid)
        return proportional_kb(pid)

    monkeypatch.setattr(limits, "proportional_kb", counted)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed: list[bool] = []
    try:
        with Watchdog(
            proc.pid, tmp_path, Limits(memory_mb=memory_mb), lambda: killed.append(True)
        ) as dog:
            _wait_for(lambda: dog.peak_rss_mb > 0 or dog.breach is not None)
            time.sleep(0.3)
        assert (dog.breach is not None) is breach and bool(killed) is breach
        assert bool(calls) is breach  # under the limit: statm only, never the page walk
        if breach:
            assert dog.breach.limit == "memory" and dog.breach.observed > 1
    finally:
        proc.kill()
        proc.wait()
