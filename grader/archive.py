"""The parent's one reader of a zip the child wrote (`best.keras`): bounded before it is read.

`zipfile.ZipFile` reads a zip's whole central directory into memory, one `ZipInfo` per entry,
before anything can be checked, and trusts the sizes it lists: a `best.keras` of 155 MB
whose directory lists three million entries held the parent 45 s at 1.5 GB (bench/
RESULTS.md), well within the file's size cap. So `read_member`:

1. reads the End Of Central Directory record (and its ZIP64 form) itself, from the file's
   last 64 KiB, and refuses a directory of more than `MAX_ENTRIES` entries or
   `MAX_DIRECTORY_BYTES` bytes before zipfile sees the file;
2. hands zipfile a view of the file that refuses any single read over `MAX_READ`, so even a
   directory zipfile located elsewhere than step 1 did could not be read whole (zipfile
   reads the directory in one call);
3. reads one member, stored or deflated only (bzip2 and LZMA decompress without a bound),
   whose listed size is within the caller's cap, in chunks, stopping past the cap (the
   listed size can lie).

Every refusal is an `ArchiveRefused` (a `ValueError`) that says which cap.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from typing import IO

MAX_ENTRIES = 100  # a .keras file holds 3 (metadata.json, config.json, model.weights.h5)
MAX_DIRECTORY_BYTES = 64 * 1024  # those 3 entries take about 200 bytes
MAX_READ = 128 * 1024  # zipfile's largest legitimate read: the 64 KiB tail it searches
_CHUNK = 64 * 1024

_EOCD = struct.Struct("<4s4H2LH")  # signature, disks, entries (disk, total), size, offset
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_TAIL = _EOCD.size + 0xFFFF  # the record and the longest comment after it


class ArchiveRefused(ValueError):
    """The zip is over one of this module's caps; the message says which."""


def read_member(handle: IO[bytes], name: str, *, limit: int) -> bytes:
    """The bytes of member `name` of the zip open on `handle` (at most `limit` of them).

    `handle` is the caller's checked descriptor (grader/boundary/door.py: no link, a regular
    file). Raises `ArchiveRefused` over a cap, `KeyError` when there is no such member,
    `zipfile.BadZipFile` or `OSError` when the file is not a readable zip.
    """
    entries, directory = directory_size(handle)
    if entries > MAX_ENTRIES:
        raise ArchiveRefused(f"its directory lists {entries} entries, over {MAX_ENTRIES}")
    if directory > MAX_DIRECTORY_BYTES:
        raise ArchiveRefused(f"its directory takes {directory} bytes, over {MAX_DIRECTORY_BYTES}")
    with zipfile.ZipFile(_BoundedReads(handle)) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ArchiveRefused(f"it holds {len(infos)} entries, over {MAX_ENTRIES}")
        info = archive.getinfo(name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArchiveRefused(f"{name} is compressed with method {info.compress_type}")
        if info.file_size > limit:
            raise ArchiveRefused(f"{name} is {info.file_size} bytes, over {limit}")
        parts: list[bytes] = []
        total = 0
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                total += len(chunk)
                if total > limit:  # the size in the directory lied (a zip bomb)
                    raise ArchiveRefused(f"{name} holds more than {limit} bytes")
                parts.append(chunk)
        return b"".join(parts)


def directory_size(handle: IO[bytes]) -> tuple[int, int]:
    """(entries, bytes) of the central directory, from the End Of Central Directory record.

    Found as zipfile finds it: the last record signature in the file's last 64 KiB + 22
    bytes; the ZIP64 record, when its locator sits right before it, has the true figures.
    """
    size = handle.seek(0, os.SEEK_END)
    start = max(0, size - _TAIL)
    handle.seek(start)
    tail = handle.read(size - start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise zipfile.BadZipFile("no end of central directory record")
    _, _, _, _, entries, directory, _, _ = _EOCD.unpack_from(tail, at)
    locator = at - _EOCD64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        _, _, record, _ = _EOCD64_LOCATOR.unpack_from(tail, locator)
        if record + _EOCD64.size > size:
            raise zipfile.BadZipFile("the ZIP64 record lies past the end of the file")
        handle.seek(record)
        fields = _EOCD64.unpack(handle.read(_EOCD64.size))
        if fields[0] == b"PK\x06\x06":
            entries, directory = fields[7], fields[8]
    return entries, directory


class _BoundedReads(io.RawIOBase):
    """`handle` as zipfile sees it: every read of at most `MAX_READ` bytes, or refused."""

    def __init__(self, handle: IO[bytes]) -> None:
        super().__init__()
        self._handle = handle

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            here = self._handle.tell()
            size = self._handle.seek(0, os.SEEK_END) - here
            self._handle.seek(here)
        if size > MAX_READ:
            raise ArchiveRefused(f"a read of {size} bytes, over {MAX_READ}")
        return self._handle.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
