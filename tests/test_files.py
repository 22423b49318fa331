"""grader.files: the parent's one atomic write and one file hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from grader import files


def test_atomic_write_takes_bytes_text_or_a_writer(tmp_path: Path) -> None:
    assert files.atomic_write(tmp_path / "a" / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert files.atomic_write(tmp_path / "t.txt", "é\n").read_bytes() == "é\n".encode()
    files.atomic_write(tmp_path / "w.bin", lambda fh: fh.write(b"abc"))
    assert (tmp_path / "w.bin").read_bytes() == b"abc"
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = files.atomic_write(tmp_path / "x.json", "old")

    def broken(fh: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, broken)
    monkeypatch.setattr(files.os, "replace", lambda *_: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(OSError, match="no"):
        files.atomic_write(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.json"]


def test_file_sha256_reads_in_chunks(tmp_path: Path) -> None:
    content = os.urandom(10_000)
    (tmp_path / "f").write_bytes(content)
    assert files.file_sha256(tmp_path / "f", chunk=999) == hashlib.sha256(content).hexdigest()
