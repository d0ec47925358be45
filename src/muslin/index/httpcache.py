"""The on-disk HTTP response cache (index pages, remote requirements files), without importing httpx.

Entries live under ``<root>/<sha256 of url+accept>.page``: one line of JSON (status,
headers, when stored, body id), then the body (one file per entry, and one flat
directory: a cold plan creates a few hundred entries, and creating a file or a directory
costs about the same).  Split from
:mod:`muslin.index.http` so a warm re-plan can check freshness cheaply.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from muslin.index.http import Response

DEFAULT_TTL = 600.0
"""Freshness (s) of cached responses that carry no ``Cache-Control`` header at all."""


def cache_root() -> Path:
    """``$MUSLIN_CACHE_DIR`` or the platform user cache directory for muslin."""
    env = os.environ.get("MUSLIN_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("muslin"))


def _parse_cache_control(value: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, val = part.partition("=")
        out[key.strip().lower()] = val.strip().strip('"') if val else None
    return out


@dataclass
class _CacheEntry:
    url: str
    status: int
    headers: dict[str, str]
    stored_at: float
    body_path: Path
    body_id: str = ""
    body_offset: int = 0
    """Where the body starts in ``body_path`` (after the header line)."""

    def read_body(self) -> bytes:
        with open(self.body_path, "rb") as fh:
            fh.seek(self.body_offset)
            return fh.read()

    def fresh(self, now: float, default_ttl: float = 0.0) -> bool:
        if "cache-control" not in self.headers:
            # No caching instructions at all (some mirrors): heuristic freshness.
            return now - self.stored_at < default_ttl
        cc = _parse_cache_control(self.headers.get("cache-control"))
        if "no-cache" in cc or "no-store" in cc:
            return False
        max_age = cc.get("max-age")
        if max_age is None:
            return False
        try:
            return now - self.stored_at < int(max_age)
        except ValueError:
            return False


class _PageCache:
    """On-disk cache of GET responses (pages, metadata files)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, url: str, accept: str) -> Path:
        digest = hashlib.sha256(f"{url}\n{accept}".encode()).hexdigest()
        return self.root / f"{digest}.page"

    def load(self, url: str, accept: str) -> _CacheEntry | None:
        path = self._path(url, accept)
        try:
            with open(path, "rb") as fh:
                line = fh.readline(_MAX_HEADER)
            if not line.endswith(b"\n"):
                return None
            meta = json.loads(line)
            return _CacheEntry(
                meta["url"],
                int(meta["status"]),
                dict(meta["headers"]),
                float(meta["stored_at"]),
                path,
                str(meta.get("body_id", "")),
                len(line),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, url: str, accept: str, resp: Response) -> None:
        cc = _parse_cache_control(resp.headers.get("cache-control"))
        if "no-store" in cc:
            return
        keep = {k: v for k, v in resp.headers.items() if k in _KEPT_HEADERS}
        self._write(url, accept, resp.url, resp.status, keep, resp.body_id, resp.content)

    def touch(self, url: str, accept: str, entry: _CacheEntry, headers: Mapping[str, str]) -> _CacheEntry:
        """Record a successful revalidation (304): new headers, new timestamp (the body is
        copied into the new file).  Returns the entry as it now is."""
        merged = dict(entry.headers)
        for k, v in headers.items():
            if k in _KEPT_HEADERS:
                merged[k] = v
        body = entry.read_body()
        stored_at, header = self._write(url, accept, entry.url, entry.status, merged, entry.body_id, body)
        return _CacheEntry(entry.url, entry.status, merged, stored_at, self._path(url, accept), entry.body_id, header)

    def _write(
        self, url: str, accept: str, final_url: str, status: int, headers: dict[str, str], body_id: str, body: bytes
    ) -> tuple[float, int]:
        """Write an entry; (when it was stored, where its body starts)."""
        now = time.time()
        meta = {"url": final_url, "status": status, "headers": headers, "stored_at": now, "body_id": body_id}
        header = json.dumps(meta).encode() + b"\n"
        _atomic_write(self._path(url, accept), header, body)
        return now, len(header)


_MAX_HEADER = 1 << 16
_KEPT_HEADERS = frozenset({"content-type", "etag", "last-modified", "cache-control", "content-length"})


def _atomic_write(path: Path, *parts: bytes) -> None:
    """Write ``parts`` one after another to ``path``, atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            for part in parts:
                fh.write(part)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def path_fingerprint(path: Path) -> str:
    """Identity of a local find-links location: its entries' names, sizes and mtimes (or its own)."""
    h = hashlib.sha256()
    try:
        if path.is_dir():
            for entry in sorted(os.scandir(path), key=lambda e: e.name):
                st = entry.stat()
                h.update(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        else:
            st = path.stat()
            h.update(f"{st.st_size}\0{st.st_mtime_ns}".encode())
    except OSError:
        return "missing"
    return h.hexdigest()
