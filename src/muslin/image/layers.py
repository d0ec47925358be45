"""Apply image layers, streamed, into an in-memory :class:`VirtualTree`.

Each layer blob is read once, front to back: compression is detected from its
magic bytes (gzip, zstd, xz, bzip2 or a plain tar), the compressed bytes are
hashed against the blob digest and the tar stream against the ``diff_id``
while they pass, member data the inspection does not need is skipped (seeked
over when nothing has to be hashed), and only the files ``wanted`` selects are
kept.  Nothing is written to disk.  Layers are read concurrently (hashing and
decompression release the GIL) and applied bottom-up with OCI whiteouts.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Protocol, cast

import zstandard

from muslin.errors import CorruptImageError, UnsupportedImageError
from muslin.facts.tree import normalize
from muslin.image.vfs import DIR, FILE, OTHER, SYMLINK, Node, VirtualTree

CHUNK = 1 << 20
MAX_RETAINED = 512 << 20
"""Upper bound on the content kept for wanted files of one layer."""

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

_HASHES = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class LayerBlob:
    """One layer as a source hands it over: how to open it and what it must hash to."""

    digest: str | None
    """Digest of the blob as stored (compressed bytes), checked when given."""
    media_type: str | None
    size: int | None
    """Size of the blob as stored, checked when given."""
    opener: Callable[[], BinaryIO]
    """Returns a fresh readable (ideally seekable) file positioned at the blob's start."""
    diff_id: str | None = None
    """Digest of the uncompressed tar, checked when given."""

    @property
    def label(self) -> str:
        return self.digest or self.diff_id or "layer"


# --- which files are read -----------------------------------------------------

_FIXED = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        "etc/alpine-release",
        "etc/apk/repositories",
        "etc/apk/arch",
        "etc/apk/world",
        "lib/apk/db/installed",
        "usr/lib/apk/db/installed",
    }
)
_PATTERNS = re.compile(
    r"(?:usr/)?(?:local/)?lib(?:64)?/(?:ld-musl-[^/]+\.so\.1|libc\.musl-[^/]+)"
    r"|(?:.*/)?[^/]+\.(?:dist-info|egg-info)(?:/.*)?"
    r"|usr/(?:local/)?include/python3\.\d+[^/]*/patchlevel\.h"
    r"|(?:.*/)?python3\.\d+[^/]*/EXTERNALLY-MANAGED"
    r"|(?:.*/)?pyvenv\.cfg"
)
_SITE = re.compile(
    r"(?:.*/)?(?:site|dist)-packages/"
    r"(?:[^/]+\.(?:egg-link|pth|egg)"
    r"|[^/]+\.egg/EGG-INFO/.+)"
)


def is_interesting(path: str) -> bool:
    """True for the files inspection reads (release files, apk db, musl loader, Python metadata)."""
    return path in _FIXED or bool(_PATTERNS.fullmatch(path)) or bool(_SITE.fullmatch(path))


# --- streams ------------------------------------------------------------------


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def _hasher(digest: str, label: str) -> Any:
    algorithm, _, hexpart = digest.partition(":")
    if _HASHES.get(algorithm) != len(hexpart):
        raise UnsupportedImageError(f"layer {label}: unsupported digest {digest!r}")
    return hashlib.new(algorithm)


class _Counted:
    """Reads from ``raw``, counting and hashing the bytes that pass."""

    def __init__(self, raw: _Readable, hashes: list[Any]) -> None:
        self.raw = raw
        self.hashes = hashes
        self.count = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n if n >= 0 else CHUNK)
        if data:
            self.count += len(data)
            for h in self.hashes:
                h.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class GzipReader:
    """gzip (multi-member) decompression as a bounded-output reader; truncation is an error."""

    def __init__(self, src: _Readable, label: str) -> None:
        self.src = src
        self.label = label
        self.d = zlib.decompressobj(wbits=31)
        self.pending = b""
        self.done = False

    def read(self, n: int = -1, /) -> bytes:
        n = n if n > 0 else CHUNK
        while not self.done:
            if self.d.eof:
                rest = self.d.unused_data or self.src.read(CHUNK)
                rest = rest.lstrip(b"\0")
                while not rest:
                    more = self.src.read(CHUNK)
                    if not more:
                        self.done = True
                        return b""
                    rest = more.lstrip(b"\0")
                self.d = zlib.decompressobj(wbits=31)
                data = rest
            elif self.d.unconsumed_tail:
                data = self.d.unconsumed_tail
            else:
                data = self.src.read(CHUNK)
                if not data:
                    raise CorruptImageError(f"{self.label}: truncated gzip stream")
            try:
                out = self.d.decompress(data, n)
            except zlib.error as exc:
                raise CorruptImageError(f"{self.label}: corrupt gzip data ({exc})") from None
            if out:
                return out
        return b""


_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE = 0x184D2A50


class _ZstdFrames:
    """Follows the zstd frame/block structure of the bytes passing through.

    The zstd stream reader reports nothing when its input stops mid-frame;
    this pass-through notices it: at end of input the last frame must be
    complete (magic, header, blocks up to the last one, optional checksum).
    """

    def __init__(self, src: _Readable, label: str) -> None:
        self.src = src
        self.label = label
        self.state = "magic"
        self.after = "magic"
        self.buf = b""
        self.need = 4
        self.skip = 0
        self.frames = 0
        self.checksum = False

    def read(self, n: int = -1, /) -> bytes:
        data = self.src.read(n if n > 0 else CHUNK)
        if data:
            self._feed(data)
        elif self.state != "magic" or self.buf or self.skip or not self.frames:
            raise CorruptImageError(f"{self.label}: truncated zstd stream")
        return data

    def _feed(self, data: bytes) -> None:
        i, end = 0, len(data)
        while i < end:
            if self.skip:
                take = min(self.skip, end - i)
                self.skip -= take
                i += take
                if not self.skip:
                    self._goto(self.after)
                continue
            take = min(self.need - len(self.buf), end - i)
            self.buf += data[i:i + take]
            i += take
            if len(self.buf) == self.need:
                header, self.buf = self.buf, b""
                self._advance(header)

    def _goto(self, state: str, need: int = 0) -> None:
        self.state = state
        self.need = need or {"magic": 4, "fhd": 1, "block": 3, "checksum": 4, "skipsize": 4}.get(state, 1)

    def _advance(self, header: bytes) -> None:
        value = int.from_bytes(header, "little")
        if self.state == "magic":
            if value == _ZSTD_MAGIC:
                self.frames += 1
                self._goto("fhd")
            elif value & 0xFFFFFFF0 == _SKIPPABLE:
                self._goto("skipsize")
            else:
                raise CorruptImageError(f"{self.label}: corrupt zstd stream (bad frame magic)")
        elif self.state == "skipsize":
            self.skip, self.after = value, "magic"
            self._goto("skipping") if value else self._goto("magic")
        elif self.state == "fhd":
            fcs_flag, single, did_flag = value >> 6, (value >> 5) & 1, value & 3
            self.checksum = bool((value >> 2) & 1)
            rest = (0 if single else 1) + (0, 1, 2, 4)[did_flag]
            rest += (1 if single else 0, 2, 4, 8)[fcs_flag]
            self._goto("fhrest", rest) if rest else self._goto("block")
        elif self.state == "fhrest":
            self._goto("block")
        elif self.state == "block":
            last, kind, size = value & 1, (value >> 1) & 3, value >> 3
            if kind == 3:
                raise CorruptImageError(f"{self.label}: corrupt zstd stream (reserved block type)")
            self.after = ("checksum" if self.checksum else "magic") if last else "block"
            self.skip = 1 if kind == 1 else size
            if self.skip:
                self.state = "skipping"
            else:
                self._goto(self.after)
        elif self.state == "checksum":
            self._goto("magic")


class _Unzstd:
    def __init__(self, src: _Readable, label: str) -> None:
        self.label = label
        self.r = zstandard.ZstdDecompressor().stream_reader(
            _ZstdFrames(src, f"layer {label}"),  # type: ignore[arg-type]
            read_size=CHUNK, read_across_frames=True, closefd=False
        )

    def read(self, n: int = -1, /) -> bytes:
        try:
            return bytes(self.r.read(n if n > 0 else CHUNK))
        except zstandard.ZstdError as exc:
            raise CorruptImageError(f"layer {self.label}: corrupt zstd data ({exc})") from None


class _Decomp:
    """xz / bzip2 via the standard library's incremental decompressors."""

    def __init__(self, src: _Readable, label: str, kind: str) -> None:
        self.src = src
        self.label = label
        self.kind = kind
        self.d: Any = lzma.LZMADecompressor() if kind == "xz" else bz2.BZ2Decompressor()
        self.done = False

    def read(self, n: int = -1, /) -> bytes:
        n = n if n > 0 else CHUNK
        while not self.done:
            if self.d.eof:
                self.done = True
                break
            data = b"" if self.d.needs_input is False else self.src.read(CHUNK)
            if self.d.needs_input and not data:
                raise CorruptImageError(f"layer {self.label}: truncated {self.kind} stream")
            try:
                out: bytes = self.d.decompress(data, n)
            except (OSError, EOFError, ValueError) as exc:
                raise CorruptImageError(f"layer {self.label}: corrupt {self.kind} data ({exc})") from None
            if out:
                return out
        return b""


class _Peek:
    """Lets the first bytes be looked at, then replays them."""

    def __init__(self, raw: _Readable) -> None:
        self.raw = raw
        self.head = b""

    def peek(self, n: int) -> bytes:
        while len(self.head) < n:
            more = self.raw.read(n - len(self.head))
            if not more:
                break
            self.head += more
        return self.head[:n]

    def read(self, n: int = -1, /) -> bytes:
        if self.head:
            out = self.head if n < 0 else self.head[:n]
            self.head = self.head[len(out):]
            return out
        return self.raw.read(n)


class _TarInput:
    """What tarfile reads from: forward-only seeks (skips), exact positions.

    When nothing has to be hashed and the source is seekable, skips become
    real seeks; otherwise the skipped bytes are read (and hashed).  The last
    512-byte read is remembered so the end-of-archive block can be checked.
    """

    def __init__(self, src: _Readable, seekable: IO[bytes] | None) -> None:
        self.src = src
        self.seekable = seekable
        self.pos = 0
        self.want = 0
        self.last_block: tuple[int, bytes] | None = None
        self.eof = False

    def tell(self) -> int:
        return self.want

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self.want
        elif whence != 0:
            raise OSError("unsupported seek")
        if pos < self.pos:
            raise OSError("backward seek in a layer stream")
        self.want = pos
        return pos

    def _catch_up(self) -> None:
        gap = self.want - self.pos
        if gap <= 0:
            return
        if self.seekable is not None:
            self.seekable.seek(gap, os.SEEK_CUR)
            self.pos = self.want
            return
        while gap > 0:
            data = self.src.read(min(gap, CHUNK))
            if not data:
                self.eof = True
                return
            gap -= len(data)
            self.pos += len(data)

    def read(self, n: int = -1) -> bytes:
        self._catch_up()
        if self.pos < self.want:
            return b""
        start = self.pos
        if n < 0:
            raise OSError("unbounded read of a layer stream")
        parts = []
        left = n
        while left > 0:
            data = self.src.read(left)
            if not data:
                self.eof = True
                break
            parts.append(data)
            left -= len(data)
        out = b"".join(parts)
        self.pos += len(out)
        self.want = self.pos
        if n == tarfile.BLOCKSIZE:
            self.last_block = (start, out)
        return out


# --- reading one layer --------------------------------------------------------

Entry = tuple[str, str, str | None, bytes | None, int]
"""(kind or "hardlink"/"whiteout"/"opaque", path, link target, retained data, size)."""


def _open_stream(blob: LayerBlob, hashes: list[tuple[str, Any]]) -> tuple[
    _TarInput, _Counted, _Counted | None, BinaryIO
]:
    """Stack hashing, decompression and the tar input over a freshly opened blob."""
    raw = blob.opener()
    label = blob.label
    outer_hashes: list[Any] = []
    if blob.digest:
        h = _hasher(blob.digest, label)
        outer_hashes.append(h)
        hashes.append(("digest", h))
    try:
        seekable = bool(raw.seekable())
    except (AttributeError, OSError, ValueError):
        seekable = False
    outer = _Counted(raw, outer_hashes)
    src: _Readable
    if seekable:
        start = raw.tell()
        head = raw.read(6)
        raw.seek(start)
        src = outer
    else:
        peek = _Peek(outer)
        head = peek.peek(6)
        src = peek
    decomp: _Readable | None = None
    if head[:2] == b"\x1f\x8b":
        decomp = GzipReader(src, f"layer {label}")
    elif head[:4] == b"\x28\xb5\x2f\xfd":
        decomp = _Unzstd(src, label)
    elif head == b"\xfd7zXZ\x00":
        decomp = _Decomp(src, label, "xz")
    elif head[:3] == b"BZh":
        decomp = _Decomp(src, label, "bzip2")
    if decomp is not None:
        inner_hashes: list[Any] = []
        if blob.diff_id:
            h = _hasher(blob.diff_id, label)
            inner_hashes.append(h)
            hashes.append(("diff_id", h))
        inner = _Counted(decomp, inner_hashes)
        return _TarInput(inner, None), outer, inner, raw
    if blob.diff_id and blob.diff_id != blob.digest:
        h = _hasher(blob.diff_id, label)
        outer_hashes.append(h)
        hashes.append(("diff_id", h))
    return _TarInput(src, raw if seekable and not outer_hashes else None), outer, None, raw


def _read_layer(blob: LayerBlob, index: int, total: int, wanted: Callable[[str], bool]) -> list[Entry]:
    label = f"{index + 1}/{total} ({blob.label})"
    hashes: list[tuple[str, Any]] = []
    raw: BinaryIO | None = None
    try:
        tar_in, outer, inner, raw = _open_stream(blob, hashes)
        entries = _read_tar(tar_in, label, wanted)
        if hashes:
            (inner or outer).drain()
            if inner is not None:
                outer.drain()
    except CorruptImageError as exc:
        message = exc.message.replace(f"layer {blob.label}:", f"layer {label}:")
        raise type(exc)(message) from None
    except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError) as exc:
        raise CorruptImageError(f"layer {label}: corrupt or truncated tar ({exc})") from None
    finally:
        if raw is not None:
            raw.close()
    if blob.size is not None and hashes and outer.count != blob.size:
        raise CorruptImageError(
            f"layer {label}: size {outer.count} does not match the expected {blob.size}"
        )
    for kind, h in hashes:
        expected = blob.digest if kind == "digest" else blob.diff_id
        got = f"{h.name}:{h.hexdigest()}"
        if got != expected:
            what = "blob digest" if kind == "digest" else "diff_id"
            raise CorruptImageError(f"layer {label}: {what} mismatch (got {got})")
    return entries


def _read_tar(tar_in: _TarInput, label: str, wanted: Callable[[str], bool]) -> list[Entry]:
    entries: list[Entry] = []
    try:
        tf = tarfile.TarFile(fileobj=tar_in, mode="r")  # type: ignore[arg-type]
    except tarfile.ReadError:
        if tar_in.eof and tar_in.pos == 0:
            return entries  # an empty blob: an empty layer
        raise
    retained = 0
    while True:
        ti = tf.next()
        cast(Any, tf).members.clear()  # keep memory flat: forget parsed headers
        if ti is None:
            break
        path = normalize(ti.name)
        if path is None:
            continue  # climbs above the root: dropped
        parent, _, base = path.rpartition("/")
        if ti.isdir():
            entries.append((DIR, path, None, None, 0))
        elif ti.isreg() and base == OPAQUE_MARKER:
            entries.append(("opaque", parent, None, None, 0))
        elif ti.isreg() and base.startswith(WHITEOUT_PREFIX):
            if not base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
                name = base[len(WHITEOUT_PREFIX):]
                entries.append(("whiteout", f"{parent}/{name}" if parent else name, None, None, 0))
        elif ti.isreg():
            data = None
            if wanted(path):
                retained += ti.size
                if retained > MAX_RETAINED:
                    raise UnsupportedImageError(
                        f"layer {label}: more than {MAX_RETAINED >> 20} MiB of metadata files"
                    )
                fobj = tf.extractfile(ti)
                assert fobj is not None
                data = fobj.read()
            entries.append((FILE, path, None, data, ti.size))
        elif ti.issym():
            entries.append((SYMLINK, path, ti.linkname, None, 0))
        elif ti.islnk():
            entries.append(("hardlink", path, ti.linkname, None, 0))
        else:
            entries.append((OTHER, path, None, None, 0))
    start, block = tar_in.last_block or (-1, b"")
    if start != tf.offset or block != b"\0" * tarfile.BLOCKSIZE:
        raise CorruptImageError(f"layer {label}: truncated or corrupt tar (no end-of-archive block)")
    return entries


# --- applying -------------------------------------------------------------------


def _apply(tree: VirtualTree, entries: Sequence[Entry], stamp: int) -> None:
    for kind, path, link, data, size in entries:
        if kind == "whiteout":
            if path:
                tree.whiteout(path, stamp)
        elif kind == "opaque":
            tree.opaque(path, stamp)
        elif path == "":
            if kind == DIR:
                tree.put_root(stamp)
        elif kind == "hardlink":
            source = tree.link_source(link or "")
            if source is None or source.kind == DIR:
                continue  # unknown or outside target: dropped
            tree.put(path, Node(source.kind, stamp, target=source.target, data=source.data, size=source.size))
        elif kind == SYMLINK:
            tree.put(path, Node(SYMLINK, stamp, target=link))
        else:
            tree.put(path, Node(kind, stamp, data=data, size=size))


def apply_layers(
    layers: Iterable[LayerBlob],
    *,
    wanted: Callable[[str], bool] = is_interesting,
    workers: int | None = None,
) -> VirtualTree:
    """Read and verify every layer, then apply them bottom-up into a VirtualTree.

    Raises CorruptImageError naming the layer on a digest/diff_id/size mismatch
    or a truncated or corrupt stream.
    """
    blobs = list(layers)
    tree = VirtualTree()
    if not blobs:
        return tree
    count = workers or min(len(blobs), os.cpu_count() or 1, 4)
    if count <= 1:
        for i, blob in enumerate(blobs):
            _apply(tree, _read_layer(blob, i, len(blobs), wanted), i + 1)
        return tree
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="muslin-layer") as pool:
        futures = [
            pool.submit(_read_layer, blob, i, len(blobs), wanted) for i, blob in enumerate(blobs)
        ]
        try:
            for i, future in enumerate(futures):
                _apply(tree, future.result(), i + 1)
        finally:
            for future in futures:
                future.cancel()
    return tree
