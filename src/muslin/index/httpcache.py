"""The on-disk HTTP response cache (pages, metadata files), without importing httpx.

Entries live under ``<root>/<sha256 of url+accept>`` as a ``.json`` header record and
a ``.body`` file (one flat directory: a cold plan creates a few hundred entries, and
each extra directory cost as much as a file).  Split from
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

    def _key(self, url: str, accept: str) -> Path:
        digest = hashlib.sha256(f"{url}\n{accept}".encode()).hexdigest()
        return self.root / digest

    def load(self, url: str, accept: str) -> _CacheEntry | None:
        base = self._key(url, accept)
        meta_path = base.with_suffix(".json")
        body_path = base.with_suffix(".body")
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            if not body_path.is_file():
                return None
            return _CacheEntry(
                meta["url"],
                int(meta["status"]),
                dict(meta["headers"]),
                float(meta["stored_at"]),
                body_path,
                str(meta.get("body_id", "")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, url: str, accept: str, resp: Response) -> None:
        cc = _parse_cache_control(resp.headers.get("cache-control"))
        if "no-store" in cc:
            return
        base = self._key(url, accept)
        base.parent.mkdir(parents=True, exist_ok=True)
        keep = {k: v for k, v in resp.headers.items() if k in _KEPT_HEADERS}
        meta = {
            "url": resp.url,
            "status": resp.status,
            "headers": keep,
            "stored_at": time.time(),
            "body_id": resp.body_id,
        }
        _atomic_write(base.with_suffix(".body"), resp.content)
        _atomic_write(base.with_suffix(".json"), json.dumps(meta).encode())

    def touch(self, url: str, accept: str, entry: _CacheEntry, headers: Mapping[str, str]) -> None:
        """Record a successful revalidation (304): new headers, new timestamp."""
        merged = dict(entry.headers)
        for k, v in headers.items():
            if k in _KEPT_HEADERS:
                merged[k] = v
        meta = {
            "url": entry.url,
            "status": entry.status,
            "headers": merged,
            "stored_at": time.time(),
            "body_id": entry.body_id,
        }
        _atomic_write(self._key(url, accept).with_suffix(".json"), json.dumps(meta).encode())


_KEPT_HEADERS = frozenset({"content-type", "etag", "last-modified", "cache-control", "content-length"})


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
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
