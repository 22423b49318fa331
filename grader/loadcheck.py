"""`python -m grader.loadcheck KIND MEGABYTES`: parse a submission's bytes under a memory cap.

The first half of `grader.submission.load_within`. The parent reads the file (no link, no
pipe, size capped) and writes its bytes to this process's stdin; this process caps its own
address space at MEGABYTES before reading them, parses them with the parent's own code
(`submission.parse`: nothing is executed) and exits `LOADCHECK_DONE` when the parse ended,
whatever its verdict, or `LOADCHECK_MEMORY` when it ran out of memory. The parent kills it
after the spec's `load_seconds`. Only the exit status crosses back: the parent then parses
the same bytes itself, knowing what that costs.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from grader import submission
from grader.discover import SUFFIXES, SubmissionRef
from grader.errors import SubmissionError


def main(argv: list[str]) -> int:
    kind, megabytes = argv
    if kind not in SUFFIXES.values():
        raise SystemExit(f"unknown kind {kind!r}")
    limit = int(megabytes) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:  # a lower cap set by the machine stays
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        data = sys.stdin.buffer.read()
        ref = SubmissionRef("loadcheck", Path(f"submission.{kind}"), kind)  # type: ignore[arg-type]
        submission.parse(data, ref)
    except submission.OverLimit:
        return submission.LOADCHECK_MEMORY
    except SubmissionError:
        return submission.LOADCHECK_DONE
    except MemoryError:
        return submission.LOADCHECK_MEMORY
    return submission.LOADCHECK_DONE


if __name__ == "__main__":
    # os._exit: no interpreter teardown (freeing a large parse costs seconds) and no
    # MemoryError raised by it after the verdict is decided.
    os._exit(main(sys.argv[1:]))
