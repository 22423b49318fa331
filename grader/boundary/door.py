"""The parent's only door into the child's scratch folder: everything there is hostile.

The child runs student code, and student code can put anything in its scratch folder: a
symbolic link to the reference solution or to the test labels, a named pipe that blocks a
reader forever, a device, a file of many gigabytes, a folder where a file is expected. So
the parent never opens a child's file by path with `open()`, never follows a link, never
copies by path (`shutil.copy` follows links) and never reads more than a cap:

- `open_child_file` opens one name directly inside the scratch folder with
  `O_NOFOLLOW | O_NONBLOCK` (a pipe cannot block the open nor the read), then checks with
  `fstat` on the open descriptor (not the path, which could be swapped in between) that it
  is a regular file within the size cap;
- `read_child_file` reads it whole (bounded), `copy_child_file` copies its bytes from that
  descriptor to a file the parent creates itself (exclusively, never following a link).

Any refusal is a `HostileFile` (a `SubmissionError`): it ends that submission with a
message that says which file and why, never the batch.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.errors import SubmissionError

_CHUNK = 1 << 20


class HostileFile(SubmissionError):
    """A file the child left is not a plain, bounded, regular file inside its scratch."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status="error")


def _check_name(name: str) -> None:
    # One path component only: no "..", no sub-folder through which a link could lead out.
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise HostileFile(f"the grader refused the file name {name!r} from the child")


def open_child_file(scratch: Path, name: str, *, limit: int) -> tuple[int, int]:
    """An open descriptor on `scratch/name` and its size; the caller closes it.

    Raises `HostileFile` for a link, anything but a regular file, or a file over `limit`
    bytes; `FileNotFoundError` when there is no such file (for the caller to decide).
    """
    _check_name(name)
    dir_fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fd = os.open(
                name,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                dir_fd=dir_fd,
            )
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            # ELOOP: a symbolic link (O_NOFOLLOW); ENXIO: a socket; anything else unreadable.
            raise HostileFile(
                f"the child's file {name} is not a regular file the grader may read "
                f"({exc.strerror or exc}); a link, a pipe or a device is refused"
            ) from None
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise HostileFile(
                f"the child's file {name} is not a regular file (a pipe, a device or a "
                "folder); the grader does not read it"
            )
        if info.st_size > limit:
            raise HostileFile(
                f"the child's file {name} is {info.st_size} bytes, over the grader's cap of "
                f"{limit} bytes"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def read_child_file(scratch: Path, name: str, *, limit: int) -> bytes:
    """The bytes of `scratch/name`, read through `open_child_file` (at most `limit`)."""
    fd, _ = open_child_file(scratch, name, limit=limit)
    try:
        parts: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # the file grew after fstat
                raise HostileFile(f"the child's file {name} grew past the cap of {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def copy_child_file(scratch: Path, name: str, target: Path, *, limit: int) -> int:
    """Copy `scratch/name` into `target` (a new file of the parent's); returns its size.

    The bytes come from the descriptor `open_child_file` checked, never from a path that
    could be a link; `target` is created exclusively and not followed if it is a link.
    """
    fd, _ = open_child_file(scratch, name, limit=limit)
    try:
        out = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        total = 0
        try:
            while chunk := os.read(fd, _CHUNK):
                total += len(chunk)
                if total > limit:
                    raise HostileFile(f"the child's file {name} grew past the cap of {limit} bytes")
                os.write(out, chunk)
        finally:
            os.close(out)
        return total
    finally:
        os.close(fd)
