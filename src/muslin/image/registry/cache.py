"""Content-addressed cache of registry blobs and manifests, plus tag -> digest records.

Layout under ``$MUSLIN_CACHE_DIR`` (default ``platformdirs.user_cache_dir("muslin")``)::

    blobs/sha256/<hex>       verified content (layers, configs, manifests)
    refs/<sha256 of ref>.json  {"reference", "digest", "media_type"} for offline use

A blob is written to a temporary file beside its final name and renamed into
place only after its digest verified, so the cache never holds bad content.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from muslin.errors import CorruptImageError, UnsupportedImageError

_DIGEST = re.compile(r"^(sha256):([a-f0-9]{64})$|^(sha512):([a-f0-9]{128})$")


def cache_root() -> Path:
    """``$MUSLIN_CACHE_DIR`` if set, else the user cache dir for muslin."""
    override = os.environ.get("MUSLIN_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir("muslin"))


def split_digest(digest: str) -> tuple[str, str]:
    """``sha256:<hex>`` -> ``("sha256", "<hex>")``; anything else is rejected."""
    match = _DIGEST.match(digest)
    if not match:
        if re.match(r"^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$", digest):
            raise UnsupportedImageError(f"unsupported digest algorithm: {digest.split(':', 1)[0]}")
        raise CorruptImageError(f"malformed digest: {digest[:80]!r}")
    algorithm = match.group(1) or match.group(3)
    hexdigest = match.group(2) or match.group(4)
    return algorithm, hexdigest


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """``algorithm:<hex>`` of ``data``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


@dataclass(frozen=True)
class RefRecord:
    """What a tag (or digest) reference resolved to when it was last pulled."""

    reference: str
    digest: str
    media_type: str | None


class BlobCache:
    """Verified blobs by digest, and references resolved earlier."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_root()

    def path(self, digest: str) -> Path:
        algorithm, hexdigest = split_digest(digest)
        return self.root / "blobs" / algorithm / hexdigest

    def get(self, digest: str, size: int | None = None) -> Path | None:
        """The cached file for ``digest`` (size checked when given), or None."""
        path = self.path(digest)
        try:
            actual = path.stat().st_size
        except OSError:
            return None
        if size is not None and actual != size:
            path.unlink(missing_ok=True)
            return None
        return path

    def read(self, digest: str) -> bytes | None:
        """Cached content re-verified against its digest; a bad entry is dropped."""
        path = self.get(digest)
        if path is None:
            return None
        data = path.read_bytes()
        if digest_bytes(data, split_digest(digest)[0]) != digest:
            path.unlink(missing_ok=True)
            return None
        return data

    def put_stream(self, digest: str, chunks: Iterable[bytes], what: str, size: int | None = None) -> Path:
        """Write ``chunks``; keep them as ``digest`` only if they hash to it (and have ``size``)."""
        algorithm, _ = split_digest(digest)
        final = self.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.new(algorithm)
        written = 0
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    written += len(chunk)
                    if size is not None and written > size:
                        raise CorruptImageError(f"{what}: more data than the {size} bytes declared")
                    out.write(chunk)
            actual = f"{algorithm}:{hasher.hexdigest()}"
            if actual != digest:
                raise CorruptImageError(f"{what}: digest mismatch (expected {digest}, got {actual})")
            if size is not None and written != size:
                raise CorruptImageError(f"{what}: {written} bytes, {size} declared")
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def put_bytes(self, digest: str, data: bytes, what: str) -> Path:
        return self.put_stream(digest, [data], what, len(data))

    def _ref_path(self, reference: str) -> Path:
        name = hashlib.sha256(reference.encode()).hexdigest()
        return self.root / "refs" / f"{name}.json"

    def save_ref(self, record: RefRecord) -> None:
        """Remember what ``record.reference`` resolved to (atomically replaced)."""
        path = self._ref_path(record.reference)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"reference": record.reference, "digest": record.digest,
                   "media_type": record.media_type}
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(payload, out)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def load_ref(self, reference: str) -> RefRecord | None:
        try:
            data = json.loads(self._ref_path(reference).read_text(encoding="utf-8"))
            record = RefRecord(str(data["reference"]), str(data["digest"]), data.get("media_type"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if record.reference != reference:
            return None
        try:
            split_digest(record.digest)
        except CorruptImageError:
            return None
        return record
