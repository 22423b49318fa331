"""Nothing but the grader's own lines on the instructor's terminal (grader/terminal.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader import terminal

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"
# What TensorFlow and absl print at start-up (measured with TensorFlow 2.21, no GPU).
NATIVE = ("oneDNN", "cuda", "absl", "I0000", "E0000", "W0000", "cpu_feature_guard")


@pytest.mark.parametrize(
    "line",
    [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1796012744.829321   11789 cudart_stub.cc:31] Could not find cuda drivers",
        b"E0000 00:00:1796012810.216913   12130 cuda_platform.cc:52] failed call to cuInit",
        b"W1130 10:21:03.123456    4242 external/local_tsl/tsl/x.cc:9] something",
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild ...",
        b"WARNING:absl:Compiled the loaded model, but the compiled metrics have yet to be built.",
    ],
)
def test_native_lines_are_recognised(line: bytes) -> None:
    assert terminal.is_native_log(line)


@pytest.mark.parametrize(
    "line",
    [b"error: no submission found in x", b"[1/3] ana: graded 7/10", b"Traceback (most recent)"],
)
def test_grader_lines_are_kept(line: bytes) -> None:
    assert not terminal.is_native_log(line)


def test_filter_drops_native_lines_written_to_descriptor_2() -> None:
    # As TensorFlow's C++ does: straight to descriptor 2, from this process and a child.
    script = textwrap.dedent(
        """
        import os, subprocess, sys
        from grader import terminal
        terminal.quiet_native_logs()
        os.write(2, b"I0000 00:00:1.5   11 cudart_stub.cc:31] Could not find cuda drivers\\n")
        print("error: the grader's own line", file=sys.stderr)
        subprocess.run([sys.executable, "-c",
            "import os; os.write(2, b'E0000 00:00:1.5   12 cuda_platform.cc:52] cuInit\\\\n');"
            "os.write(2, b'child line\\\\n')"])
        os.write(2, b"last line without newline")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "error: the grader's own line",
        "child line",
        "last line without newline",
    ]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
@pytest.mark.parametrize("jobs", [1, 2])
def test_grade_prints_no_tensorflow_lines(tmp_path: Path, jobs: int) -> None:
    """`grade` as the instructor runs it: its own process (evaluation) and, with --jobs 2,
    its worker processes start TensorFlow; none of its start-up lines may show."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(SUBMISSIONS / "reference_py.py", folder / "ana.py")
    if jobs > 1:
        shutil.copy(SUBMISSIONS / "adam.ipynb", folder / "bea.ipynb")
    command = [sys.executable, "-m", "grader", str(folder), "--budget", "smoke"]
    command += ["--assignment", "fashion-mnist-polynomial-decay", "--lang", "en"]
    command += ["--subset", "300", "--jobs", str(jobs), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ana: graded" in done.stdout
    for line in (done.stdout + done.stderr).splitlines():
        assert not any(word.lower() in line.lower() for word in NATIVE), line
