"""Random access to blobs stored in files and in (uncompressed) tar archives.

A tar member is one contiguous byte range of the archive, so it can be read
through a :class:`FileSlice` without extracting anything.  A compressed
archive is first decompressed into an anonymous temporary file (deleted when
closed, never visible in the file system) to get that random access.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import zstandard

from muslin.errors import CorruptImageError, ImageNotFoundError
from muslin.facts.tree import normalize
from muslin.image.layers import GzipReader

_CHUNK = 1 << 20


class FileSlice(io.RawIOBase):
    """A read-only, seekable window ``[start, start + size)`` of a file (own handle)."""

    def __init__(self, path: str | os.PathLike[str], start: int, size: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY)
        self._start = start
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        left = self._size - self._pos
        n = min(len(buffer), left)
        if n <= 0:
            return 0
        data = os.pread(self._fd, n, self._start + self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._pos
        n = left if n < 0 else min(n, left)
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._start + self._pos)
        self._pos += len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def open_file(path: Path) -> BinaryIO:
    """A whole file as a seekable FileSlice."""
    return FileSlice(path, 0, path.stat().st_size)  # type: ignore[return-value]


def sniff(path: Path) -> str:
    """``gzip``, ``zstd`` or ``plain`` from a file's first bytes."""
    with path.open("rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "plain"


def decompress_to_temp(path: Path, kind: str) -> BinaryIO:
    """Decompress ``path`` into an anonymous temporary file (caller closes it)."""
    out = tempfile.TemporaryFile(prefix="muslin-")  # noqa: SIM115 (returned open)
    try:
        with path.open("rb") as src:
            reader: Any
            if kind == "gzip":
                reader = GzipReader(src, str(path))
                while chunk := reader.read(_CHUNK):
                    out.write(chunk)
            else:
                reader = zstandard.ZstdDecompressor().stream_reader(src, read_across_frames=True)
                while chunk := reader.read(_CHUNK):
                    out.write(chunk)
    except (zlib.error, zstandard.ZstdError, EOFError) as exc:
        out.close()
        raise CorruptImageError(f"{path}: corrupt {kind} archive ({exc})") from None
    except BaseException:
        out.close()
        raise
    out.flush()
    out.seek(0)
    return out


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int
    kind: str  # "file", "dir", "symlink", "hardlink"
    link: str | None


class TarArchive:
    """Index of an uncompressed (or temp-decompressed) tar: members as byte ranges."""

    def __init__(self, path: Path) -> None:
        self.display = str(path)
        if not path.exists():
            raise ImageNotFoundError(f"no such archive: {path}")
        if not path.is_file():
            raise ImageNotFoundError(f"not a file: {path}")
        self._temp: BinaryIO | None = None
        kind = sniff(path)
        if kind != "plain":
            self._temp = decompress_to_temp(path, kind)
            self.path = Path(f"/proc/self/fd/{self._temp.fileno()}")
        else:
            self.path = path
        self.members: dict[str, _Member] = {}
        try:
            with self.path.open("rb") as f, tarfile.TarFile(fileobj=f, mode="r") as tf:
                while (ti := tf.next()) is not None:
                    cast(Any, tf).members.clear()
                    name = normalize(ti.name)
                    if name is None or name == "":
                        continue
                    if ti.isreg():
                        self.members[name] = _Member(ti.offset_data, ti.size, "file", None)
                    elif ti.isdir():
                        self.members[name] = _Member(0, 0, "dir", None)
                    elif ti.issym():
                        self.members[name] = _Member(0, 0, "symlink", ti.linkname)
                    elif ti.islnk():
                        self.members[name] = _Member(0, 0, "hardlink", ti.linkname)
        except (tarfile.TarError, OSError, EOFError) as exc:
            self.close()
            raise CorruptImageError(f"{path}: not a readable tar archive ({exc})") from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._temp is not None:
            self._temp.close()
            self._temp = None

    def __enter__(self) -> TarArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _find(self, name: str) -> _Member | None:
        norm = normalize(name)
        for _ in range(16):
            if norm is None:
                return None
            member = self.members.get(norm)
            if member is None or member.kind in ("file", "dir"):
                return member
            link = member.link or ""
            if member.kind == "symlink" and not link.startswith("/"):
                parent = norm.rpartition("/")[0]
                link = f"{parent}/{link}" if parent else link
            norm = normalize(link)
        return None

    def has(self, name: str) -> bool:
        member = self._find(name)
        return member is not None and member.kind == "file"

    def names(self) -> list[str]:
        return sorted(self.members)

    def size(self, name: str) -> int | None:
        member = self._find(name)
        return member.size if member is not None and member.kind == "file" else None

    def open(self, name: str) -> BinaryIO:
        """A seekable slice over member ``name``; CorruptImageError if it is missing."""
        member = self._find(name)
        if member is None or member.kind != "file":
            raise CorruptImageError(f"{self.display}: {name} is missing from the archive")
        if member.offset + member.size > self.path.stat().st_size:
            raise CorruptImageError(f"{self.display}: {name} is truncated")
        return FileSlice(self.path, member.offset, member.size)  # type: ignore[return-value]

    def read(self, name: str, limit: int) -> bytes:
        """A whole (small) member; CorruptImageError if missing or larger than ``limit``."""
        size = self.size(name)
        if size is not None and size > limit:
            raise CorruptImageError(f"{self.display}: {name} is too large ({size} bytes)")
        with self.open(name) as f:
            return f.read()
