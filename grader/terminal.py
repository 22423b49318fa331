"""Only the grader's own lines on the instructor's terminal.

TensorFlow, wherever a grader process imports it (the parent's evaluation, the `--jobs N`
worker processes), prints start-up lines through absl before absl's logging is set up:
"WARNING: All log messages before absl::InitializeLog() ...", "I0000 ... cudart_stub.cc:31]
Could not find cuda drivers", "... cpu_feature_guard.cc ...". `TF_CPP_MIN_LOG_LEVEL` hides
only what comes after that set-up (measured with TensorFlow 2.21: level 3 still prints the
cudart lines), and they are written by C++ straight to file descriptor 2, where no Python
`sys.stderr` redirection reaches them.

So `quiet_native_logs()` puts a pipe on descriptor 2 itself and forwards to the real stderr
every line except absl's and TensorFlow's (`is_native_log`). Everything else, the
grader's own errors and Python tracebacks included, still reaches the terminal. Processes
started afterwards inherit the filtered descriptor; student code never writes here (its
child's output is drained through a pipe by `grader.runner`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading

# absl's line prefix: severity letter, MMDD, time, thread id, file:line]
_ABSL_LINE = re.compile(rb"^[IWEF]\d{4} [\d:.]+\s+\d+ [\w.\-/]+:\d+\] ")
_NATIVE_PREFIXES = (
    b"WARNING: All log messages before absl::InitializeLog()",
    b"WARNING:absl:",  # Python's absl.logging, used by TensorFlow and Keras
    b"To enable the following instructions:",  # the cpu_feature_guard line's second line
)

_installed = False


def is_native_log(line: bytes) -> bool:
    """Whether `line` was written by absl / TensorFlow's start-up, not by the grader."""
    return bool(_ABSL_LINE.match(line)) or line.startswith(_NATIVE_PREFIXES)


def quiet_native_logs() -> None:
    """Set TF_CPP_MIN_LOG_LEVEL and filter this process's descriptor 2 (once per process).

    Call it before anything imports TensorFlow: `grade`'s entry point does, and so does
    every local worker process as it starts (its pool's initializer).
    """
    global _installed
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if _installed:
        return
    try:
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return  # no descriptor 2 to filter (a daemon): nothing reaches a terminal anyway
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    os.set_inheritable(2, True)
    forwarder = threading.Thread(
        target=_forward, args=(read_end, terminal), name="grader-stderr", daemon=True
    )
    forwarder.start()
    atexit.register(_restore, terminal, forwarder)
    _installed = True


def _forward(read_end: int, terminal: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_native_log(line))
        if kept:
            _write_all(terminal, kept)
    if pending and not is_native_log(pending):
        _write_all(terminal, pending)
    os.close(read_end)


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data) :]


def _restore(terminal: int, forwarder: threading.Thread) -> None:
    # Putting the terminal back on descriptor 2 closes our end of the pipe: the forwarder
    # reads to the end and stops (unless a process we started still holds the pipe).
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.dup2(terminal, 2)
    forwarder.join(timeout=2)
