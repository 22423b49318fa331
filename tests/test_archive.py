"""grader.archive: a zip from the child is bounded before zipfile reads its directory."""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
from pathlib import Path

import pytest

from grader import archive, artifacts, evaluate
from grader.archive import ArchiveRefused, directory_size, read_member
from grader.boundary import BestModel

CONFIG = {"compile_config": {"optimizer": {"class_name": "SGD", "config": {"momentum": 0.9}}}}
BEST = BestModel("0", {}, None, "best_model.json", "best.weights.h5", "best.keras", None)


def keras_like(path: Path, config: dict = CONFIG, **extra: bytes) -> Path:
    """A .keras file as Keras writes it: a zip of metadata, config and weights."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", b"\x89HDF" + b"\0" * 1000)
        for name, data in extra.items():
            zf.writestr(name, data)
    return path


def directory_bomb(path: Path, entries: int, *, listed: int | None = None, zip64: bool = False):
    """One empty stored member listed `entries` times in the central directory; the end
    record says `listed` entries (default: the truth, as far as 16 bits hold it)."""
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    rows = []
    for i in range(entries):
        name = format(i, "x").encode()
        rows.append(
            struct.pack(
                "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0,
                0, 0, 0,
            )
            + name
        )  # fmt: skip
    directory = b"".join(rows)
    count = entries if listed is None else listed
    tail = b""
    if zip64:
        record = len(local) + len(directory)
        tail = struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory),
            len(local),
        ) + struct.pack("<4sLQL", b"PK\x06\x07", 0, record, 1)  # fmt: skip
        count = 0xFFFF
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
        len(directory), len(local), 0,
    )  # fmt: skip
    path.write_bytes(local + directory + tail + end)
    return path


def read(path: Path, name: str = "config.json", limit: int = 1 << 20) -> bytes:
    with path.open("rb") as handle:
        return read_member(handle, name, limit=limit)


def test_a_keras_file_reads_as_zipfile_reads_it(tmp_path: Path) -> None:
    path = keras_like(tmp_path / "best.keras")
    assert json.loads(read(path)) == CONFIG
    with path.open("rb") as handle:
        assert directory_size(handle)[0] == 3


def test_a_directory_of_a_huge_number_of_entries_is_refused_before_zipfile_reads_it(
    tmp_path: Path,
) -> None:
    """Three million entries (155 MB) kept zipfile 22 s and 1.4 GB per open (bench/
    RESULTS.md); 300,000 show the same: refused from the end record, in milliseconds."""
    path = directory_bomb(tmp_path / "best.keras", 300_000)
    start = time.monotonic()
    with pytest.raises(ArchiveRefused, match="over 100"):
        read(path, "0")
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("zip64", [False, True])
def test_an_end_record_that_lies_about_the_count_is_still_refused(
    tmp_path: Path, zip64: bool
) -> None:
    """zipfile reads the directory by its size, not its count: both are capped."""
    path = directory_bomb(tmp_path / "best.keras", 20_000, listed=3, zip64=zip64)
    with pytest.raises(ArchiveRefused, match="directory takes"):
        read(path, "0")


def test_a_zip64_end_record_gives_the_true_count(tmp_path: Path) -> None:
    path = directory_bomb(tmp_path / "best.keras", 200, zip64=True)
    with path.open("rb") as handle:
        assert directory_size(handle)[0] == 200
    with pytest.raises(ArchiveRefused, match="200 entries"):
        read(path, "0")


def test_zipfile_never_reads_more_than_the_cap_at_once(tmp_path: Path) -> None:
    """Even a directory zipfile found where the end-record check did not look is read in
    one call, and that call is refused."""
    wrapped = archive._BoundedReads(io.BytesIO(b"x" * (archive.MAX_READ + 1)))
    assert len(wrapped.read(archive.MAX_READ)) == archive.MAX_READ
    wrapped.seek(0)
    with pytest.raises(ArchiveRefused):
        wrapped.read()


def test_a_member_larger_than_it_says_is_never_inflated_past_its_listed_size(
    tmp_path: Path,
) -> None:
    """A deflated member whose directory entry claims 10 bytes but inflates to 10 MB: the
    read stops at the listed size and the checksum refuses it."""
    path = keras_like(tmp_path / "best.keras", **{"bomb.json": b"0" * 10_000_000})
    data = bytearray(path.read_bytes())
    at = data.find(b"bomb.json", data.find(b"PK\x01\x02")) - 46  # its directory entry
    assert data[at : at + 4] == b"PK\x01\x02"
    struct.pack_into("<L", data, at + 24, 10)  # uncompressed size: 10 bytes
    path.write_bytes(bytes(data))
    with pytest.raises(zipfile.BadZipFile, match="CRC"):
        read(path, "bomb.json", limit=1000)


def test_members_over_the_cap_or_compressed_without_a_bound_are_refused(tmp_path: Path) -> None:
    path = keras_like(tmp_path / "best.keras")
    with pytest.raises(ArchiveRefused, match="over 10"):
        read(path, limit=10)
    bz2 = tmp_path / "bz2.keras"
    with zipfile.ZipFile(bz2, "w", compression=zipfile.ZIP_BZIP2) as zf:
        zf.writestr("config.json", json.dumps(CONFIG))
    with pytest.raises(ArchiveRefused, match="method 12"):
        read(bz2)
    with pytest.raises(KeyError):
        read(path, "missing.json")


def test_the_parent_reads_a_directory_bomb_without_waiting(tmp_path: Path) -> None:
    """Both readers of best.keras in the pipeline: the artifacts and the saved optimizer."""
    directory_bomb(tmp_path / "best.keras", 300_000)
    (tmp_path / "best_model.json").write_text("{}", encoding="utf-8")
    start = time.monotonic()
    found = artifacts.read_artifacts(tmp_path, BEST)
    assert evaluate.saved_optimizer(tmp_path) is None
    assert time.monotonic() - start < 2.0
    assert any("best.keras: refused, its directory lists" in p for p in found.problems)
    assert not found.compiled
    keras_like(tmp_path / "best.keras")
    assert evaluate.saved_optimizer(tmp_path) == CONFIG["compile_config"]["optimizer"]
