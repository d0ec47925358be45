"""A wheel's ``.dist-info/METADATA``, read from the whole file or through HTTP range requests.

For an index without PEP 658 metadata files, reading a remote wheel's METADATA takes:

1. one request for the last :data:`TAIL_BYTES` of the file.  It holds the zip directory's
   end record and, in a small wheel, the whole directory and the METADATA just before it;
2. the directory's *last* entries are in the tail even in a big wheel (numpy's directory is
   ~150 KB), and wheels put their ``.dist-info`` files last: when METADATA's entry is
   among them, one exact request for that member (when it is not in the tail already);
3. otherwise :mod:`zipfile` reads the directory and the member through
   :class:`RangeReader` (a request each).

The bytes of a ranged read cannot be checked against the wheel's sha256; the member's CRC-32
is checked, and the file itself is hash-checked when it is downloaded for installing.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from muslin.errors import NetworkError

TAIL_BYTES = 16 * 1024
"""First range request: the end of the wheel.  A round trip costs far less than the bytes
a bigger guess brings for nothing (64 KiB to 1 MiB per wheel used to add 12 MB to a plan of
100 packages)."""

RangeFetch = Callable[[int, int], bytes]
"""``fetch(start, end)``: bytes ``start`` to ``end - 1`` of the remote file (or raise OSError)."""

_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_EOCD_SIG = b"PK\x05\x06"
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL_SIG = b"PK\x03\x04"


def metadata_member(names: list[str], filename: str) -> str:
    """The archive path of the wheel's own ``.dist-info/METADATA`` among ``names``."""
    members = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if not members:
        raise NetworkError(f"wheel {filename} has no .dist-info/METADATA")
    if len(members) > 1:
        stem = filename.split("-")[0].lower()
        for n in members:
            if n.lower().startswith(stem + "-"):
                return n
    return members[0]


def metadata_from_zip(data: bytes, filename: str) -> bytes:
    """METADATA out of a whole wheel's bytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.read(metadata_member(zf.namelist(), filename))
    except zipfile.BadZipFile:
        raise NetworkError(f"wheel {filename} is not a valid zip file") from None


def metadata_from_ranges(fetch: RangeFetch, size: int, tail_start: int, tail: bytes, filename: str) -> bytes | None:
    """METADATA of a remote wheel of ``size`` bytes whose last bytes (from ``tail_start``) are ``tail``.

    None when the file does not read as a wheel this way (the caller then downloads it).
    """
    reader = RangeReader(fetch, size, tail_start, tail)
    try:
        found = _metadata_from_directory_tail(reader, filename)
        if found is not None:
            return found
        with zipfile.ZipFile(reader) as zf:
            return zf.read(metadata_member(zf.namelist(), filename))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error, struct.error):
        return None


@dataclass(frozen=True)
class _Entry:
    name: str
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    offset: int


def _metadata_from_directory_tail(reader: RangeReader, filename: str) -> bytes | None:
    """METADATA found through the directory entries that are already in the tail, or None."""
    tail_start, tail = reader.chunks[0]
    at = tail.rfind(_EOCD_SIG)
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    _sig, _disk, _cd_disk, _here, total, cd_size, cd_offset, _comment = _EOCD.unpack_from(tail, at)
    if total == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_offset + cd_size != tail_start + at:
        return None  # zip64, or data before the archive: zipfile copes with those
    members = _directory_run(tail, max(0, cd_offset - tail_start), at)
    if members is None or len(members) != 1:
        return None  # no run of entries, none for METADATA, or a choice better made with the whole directory
    return _read_member(reader, members[0])


_NAME_LENGTHS = struct.Struct("<3H")
"""A directory entry's name, extra-field and comment lengths (at offset 28 of its header)."""
_METADATA_SUFFIX = b".dist-info/METADATA"


def _directory_run(tail: bytes, begin: int, end: int) -> list[_Entry] | None:
    """The ``*.dist-info/METADATA`` entries among the directory entries from the first one wholly
    in ``tail[begin:]`` up to the end record at ``end``; None when there is no such run.

    The run must chain exactly from one header to the next and land on the end record, so a
    stray signature inside a name or an extra field is not taken for an entry.  Only the
    entries named like METADATA are read in full (a big wheel's tail holds thousands).
    """
    header = _CENTRAL.size
    start = tail.find(_CENTRAL_SIG, begin)
    while 0 <= start < end:
        members: list[_Entry] = []
        pos = start
        seen = 0
        while pos + header <= end and tail.startswith(_CENTRAL_SIG, pos):
            name_len, extra_len, comment_len = _NAME_LENGTHS.unpack_from(tail, pos + 28)
            name_end = pos + header + name_len
            if tail.endswith(_METADATA_SUFFIX, pos + header, name_end):
                entry = _entry(tail, pos, name_end)
                if entry is None:
                    break
                if entry.name.count("/") == 1:
                    members.append(entry)
            seen += 1
            pos = name_end + extra_len + comment_len
        if pos == end and seen:
            return members
        start = tail.find(_CENTRAL_SIG, start + 1)
    return None


def _entry(tail: bytes, pos: int, name_end: int) -> _Entry | None:
    f = _CENTRAL.unpack_from(tail, pos)
    try:
        name = tail[pos + _CENTRAL.size : name_end].decode("utf-8" if f[3] & 0x800 else "cp437")
    except UnicodeDecodeError:
        return None
    return _Entry(name, f[3], f[4], f[7], f[8], f[9], f[16])


def _read_member(reader: RangeReader, entry: _Entry) -> bytes | None:
    if entry.flags & 0x1 or entry.method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None  # encrypted, or a compression a wheel does not use
    # one request for the whole member (header, name, extra field of unknown size, data)
    reader.ensure(entry.offset, entry.offset + _LOCAL.size + 2 * len(entry.name.encode()) + 512 + entry.compressed)
    reader.seek(entry.offset)
    header = reader.read(_LOCAL.size)
    if len(header) != _LOCAL.size:
        return None
    f = _LOCAL.unpack(header)
    if f[0] != _LOCAL_SIG:
        return None
    name = reader.read(f[9])
    reader.read(f[10])
    if name.decode("utf-8", "replace") != entry.name and name.decode("cp437") != entry.name:
        return None
    data = reader.read(entry.compressed)
    if len(data) != entry.compressed:
        return None
    if entry.method == zipfile.ZIP_DEFLATED:
        inflate = zlib.decompressobj(-15)
        data = inflate.decompress(data) + inflate.flush()
    if len(data) != entry.size or zlib.crc32(data) != entry.crc:
        return None
    return data


class RangeReader(io.RawIOBase):
    """A seekable read-only view of a remote file, filled by range requests."""

    def __init__(self, fetch: RangeFetch, size: int, start: int, data: bytes) -> None:
        super().__init__()
        self.fetch = fetch
        self.size = size
        self.pos = 0
        self.chunks: list[tuple[int, bytes]] = [(start, data)]

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self.pos = offset
        elif whence == 1:
            self.pos += offset
        else:
            self.pos = self.size + offset
        return self.pos

    def ensure(self, start: int, end: int) -> None:
        """Have bytes ``start`` to ``end - 1`` at hand, in one request at most."""
        end = min(end, self.size)
        if self._cached(start, end) is not None:
            return
        tail_start, tail = self.chunks[0]
        if start < tail_start <= end:
            # the end is already here: ask only for what comes before it, and keep one chunk
            got = self.fetch(start, tail_start)
            if len(got) != tail_start - start:
                raise OSError("short range response")
            self.chunks[0] = (start, got + tail)
        else:
            self.chunks.append((start, self.fetch(start, end)))

    def _cached(self, start: int, end: int) -> bytes | None:
        for cstart, cdata in self.chunks:
            if cstart <= start and end <= cstart + len(cdata):
                return cdata[start - cstart : end - cstart]
        return None

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        end = min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        data = self._cached(self.pos, end)
        if data is None:
            # read ahead: zipfile reads a member's local header, then its data right after it
            fetch_end = min(self.size, max(end, self.pos + TAIL_BYTES))
            got = self.fetch(self.pos, fetch_end)
            self.chunks.append((self.pos, got))
            data = self._cached(self.pos, end)
            if data is None:
                raise OSError("short range response")
        self.pos += len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
