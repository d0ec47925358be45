"""Reading a wheel's METADATA through range reads (muslin.index.wheelmeta), on real zip files."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from muslin.errors import NetworkError
from muslin.index.wheelmeta import TAIL_BYTES, metadata_from_ranges, metadata_from_zip

METADATA = b"Metadata-Version: 2.1\nName: bigpkg\nVersion: 1.0\nRequires-Dist: beta>=1\n\n" + b"x" * 3000


def _wheel(
    members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            zf.writestr(info, data)
    return buf.getvalue()


def _modules(count: int) -> list[tuple[str, bytes]]:
    noise = random.Random(0).randbytes(2_000_000)
    mods = [(f"bigpkg/mod_{i:04d}/__init__.py", f"x = {i}\n".encode()) for i in range(count)]
    return [*mods, ("bigpkg/_blob.bin", noise)]


def _dist_info(metadata: bytes = METADATA) -> list[tuple[str, bytes]]:
    return [
        ("bigpkg-1.0.dist-info/METADATA", metadata),
        ("bigpkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nTag: py3-none-any\n"),
        ("bigpkg-1.0.dist-info/RECORD", b"".join(f"bigpkg/mod_{i:04d}/__init__.py,,\n".encode() for i in range(1500))),
    ]


class Remote:
    """A wheel's bytes read the way the finder reads them: its tail, then ranges."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ranges: list[tuple[int, int]] = []

    def fetch(self, start: int, end: int) -> bytes:
        self.ranges.append((start, end))
        return self.data[start:end]

    def read(self) -> bytes | None:
        start = max(0, len(self.data) - TAIL_BYTES)
        return metadata_from_ranges(self.fetch, len(self.data), start, self.data[start:], "bigpkg-1.0-py3-none-any.whl")

    @property
    def fetched(self) -> int:
        return sum(end - start for start, end in self.ranges)


def test_big_directory_metadata_in_one_exact_read() -> None:
    data = _wheel(_modules(1500) + _dist_info())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.infolist()[-1].filename.endswith("RECORD")
        directory = len(data) - zf.start_dir
    assert directory > 3 * TAIL_BYTES  # the directory is far bigger than the tail
    remote = Remote(data)
    assert remote.read() == METADATA
    # one request after the tail, for the METADATA member only (not the 100 KB directory)
    assert len(remote.ranges) == 1
    assert remote.fetched <= TAIL_BYTES


def test_big_metadata_before_a_small_directory_in_one_read() -> None:
    """pydantic-like: the directory is all in the tail, METADATA (26 KB compressed) is not."""
    text = random.Random(2).choices("abcdefghijklmnopqrstuvwxyz \n", k=60_000)
    metadata = METADATA + "".join(text).encode()
    data = _wheel(_modules(100) + _dist_info(metadata))
    remote = Remote(data)
    assert remote.read() == metadata
    assert len(remote.ranges) == 1
    ((_start, end),) = remote.ranges
    assert end == len(data) - TAIL_BYTES  # only what the tail did not hold


def test_stored_metadata_member() -> None:
    data = _wheel(_modules(1500) + _dist_info(), compression=zipfile.ZIP_STORED)
    remote = Remote(data)
    assert remote.read() == METADATA
    assert len(remote.ranges) == 1


def test_metadata_far_from_the_end_is_read_through_the_directory() -> None:
    data = _wheel(_dist_info() + _modules(1500))
    remote = Remote(data)
    assert remote.read() == METADATA
    assert 1 < len(remote.ranges) <= 3


def test_small_wheel_needs_no_more_than_the_tail() -> None:
    data = _wheel([("small/__init__.py", b""), *_dist_info(METADATA)[:2]])
    assert len(data) < TAIL_BYTES
    remote = Remote(data)
    assert remote.read() == METADATA
    assert remote.ranges == []


def test_a_signature_inside_a_name_is_not_an_entry() -> None:
    tricky = [("bigpkg/PK\x01\x02PK\x05\x06.txt", b"PK\x01\x02" * 50)]
    data = _wheel(_modules(1500) + _dist_info() + tricky)
    remote = Remote(data)
    assert remote.read() == METADATA


def test_corrupt_member_is_not_returned() -> None:
    data = bytearray(_wheel(_modules(1500) + _dist_info(), compression=zipfile.ZIP_STORED))
    at = bytes(data).index(b"Requires-Dist: beta>=1")
    data[at : at + 4] = b"XXXX"  # the CRC-32 no longer matches
    assert Remote(bytes(data)).read() is None


def test_not_a_zip_is_none() -> None:
    assert Remote(random.Random(1).randbytes(100_000)).read() is None


def test_whole_wheel_without_metadata() -> None:
    with pytest.raises(NetworkError, match=r"has no \.dist-info/METADATA"):
        metadata_from_zip(_wheel([("x/__init__.py", b"")]), "x-1.0-py3-none-any.whl")
