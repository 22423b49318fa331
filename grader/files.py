"""The parent's two file helpers: one atomic write and one SHA-256 of a file.

`atomic_write` writes through a temporary file in the target's folder (a unique name,
created exclusively), flushes and fsyncs it, then `os.replace`s it over the target: a reader
sees the old file or the new one, never a part, and two processes writing the same target at
once each rename a whole file. The mode is the umask's, as a plain `open()` would give
(tempfile would make the reports private to the grading user).

`file_sha256` hashes a file the grader trusts (a dataset file, the reference solution) in
chunks. A submission's file is hashed from the bounded, link-refusing `submission.read_file`
instead. The child keeps its own atomic write (`grader/child/worker.py`): it may import only
`grader.child.*`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Writer = Callable[[BinaryIO], object]


def atomic_write(
    path: Path, data: bytes | str | Writer, *, encoding: str = "utf-8", mkdir: bool = True
) -> Path:
    """Write `data` (bytes, text in `encoding`, or a function that writes to the open binary
    file) to `path` so that readers see the old file or the new one, never a part; return
    `path`. On any failure the temporary file is removed and the old file is left as it was."""
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, str):
                fh.write(data.encode(encoding))
            elif isinstance(data, bytes | bytearray | memoryview):
                fh.write(data)
            else:
                data(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a trusted file's bytes, as hex, read in chunks of `chunk` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
