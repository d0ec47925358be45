"""Resolution cache: a warm re-plan with unchanged inputs reuses the last resolution.

An entry is keyed by a hash of everything resolution depends on (target,
installed distributions, requirements and constraints, index settings with
pins and strategy, ``--upgrade-system``, ``--pre``, the muslin version) and
records the HTTP cache key and body identity of every project page the
resolver read.  It is used only while each of those pages is still in the
HTTP cache with the same body and still fresh by its ``Cache-Control``
(in ``--offline`` mode freshness is not required, as for the pages
themselves), and every local find-links location still lists the same files
(names, sizes, mtimes); otherwise the plan is resolved again and the entry rewritten.
Wheel metadata needs no check: it is cached by the wheel's sha256.
``--refresh`` bypasses the lookup.  Nothing here imports httpx or resolvelib.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from muslin import __version__
from muslin.index.candidate import Candidate
from muslin.index.httpcache import DEFAULT_TTL, _atomic_write, _PageCache, path_fingerprint
from muslin.plan.model import Artifact

if TYPE_CHECKING:
    from muslin.facts.model import Distribution
    from muslin.index.config import IndexSettings
    from muslin.resolve.provider import Req
    from muslin.resolve.resolver import Resolution
    from muslin.target.target import Target

log = logging.getLogger(__name__)

FORMAT = 1


def _req_ident(req: Req) -> list[Any]:
    return [
        req.name, str(req.specifier), sorted(req.extras), req.url, sorted(req.hashes),
        req.text, req.source, str(req.marker) if req.marker is not None else None,
    ]


def resolution_key(
    *,
    requirements: Iterable[Req],
    constraints: Iterable[Req],
    settings: IndexSettings,
    target: Target,
    installed: Mapping[NormalizedName, Distribution],
    upgrade_system: Iterable[str],
    allow_prereleases: bool,
) -> str:
    """sha256 over every input of a resolution (URLs without credentials)."""
    ident = {
        "format": FORMAT,
        "muslin": __version__,
        "requirements": [_req_ident(r) for r in requirements],
        "constraints": [_req_ident(c) for c in constraints],
        "indexes": [
            [ix.name, ix.redacted_url, ix.has_credentials, ix.explicit, ix.default, ix.accept_linux_tags, ix.kind]
            for ix in settings.indexes
        ],
        "pins": [[p.package, p.index, str(p.marker) if p.marker is not None else None] for p in settings.pins],
        "strategy": str(settings.strategy.value),
        "only_binary": sorted(settings.only_binary),
        "no_binary": sorted(settings.no_binary),
        "target": dataclasses.asdict(target),
        "markers": target.markers(),
        "installed": {name: dist.to_dict() for name, dist in sorted(installed.items())},
        "upgrade_system": sorted(upgrade_system),
        "pre": allow_prereleases,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def _path(root: Path, key: str) -> Path:
    return root / "resolutions" / f"{key}.json"


def _candidate(c: Candidate) -> dict[str, Any]:
    return {
        "name": c.name, "version": str(c.version), "artifact": c.artifact.to_dict(), "tag_rank": c.tag_rank,
        "yanked": c.yanked, "requires_python": c.requires_python, "metadata_url": c.metadata_url,
    }


def store_resolution(
    root: Path,
    key: str,
    resolution: Resolution,
    pages: Mapping[tuple[str, str], str],
    paths: Mapping[str, str] | None = None,
) -> None:
    """Record ``resolution``, the pages (``(url, accept) -> body id``) and local locations it was made from."""
    doc = {
        "format": FORMAT,
        "pages": [[url, accept, body_id] for (url, accept), body_id in sorted(pages.items())],
        "paths": sorted([path, fp] for path, fp in (paths or {}).items()),
        "packages": [
            {
                "name": p.name, "display_name": p.display_name, "version": str(p.version),
                "extras": list(p.extras), "installed": p.installed is not None,
                "wheel": _candidate(p.wheel) if p.wheel is not None else None,
                "index": p.index, "also_on": list(p.also_on), "requested_by": list(p.requested_by),
                "replaces": p.replaces is not None,
            }
            for p in resolution.packages
        ],
    }
    try:
        _atomic_write(_path(root, key), json.dumps(doc, separators=(",", ":")).encode())
    except OSError as exc:
        log.warning("cannot write the resolution cache (%s)", type(exc).__name__)


def _pages_valid(root: Path, pages: list[list[str]], offline: bool) -> bool:
    cache = _PageCache(root / "http" / "pages")
    now = time.time()
    for url, accept, body_id in pages:
        entry = cache.load(url, accept)
        if entry is None or entry.body_id != body_id or not body_id:
            return False
        if not offline and not entry.fresh(now, DEFAULT_TTL):
            return False
    return True


def load_resolution(
    root: Path, key: str, installed: Mapping[NormalizedName, Distribution], *, offline: bool = False
) -> Resolution | None:
    """The cached resolution for ``key`` if every page it used is unchanged and fresh, else None."""
    from muslin.resolve.resolver import Resolution, ResolvedPackage

    path = _path(root, key)
    try:
        doc = json.loads(path.read_bytes())
        if doc.get("format") != FORMAT or not _pages_valid(root, doc["pages"], offline):
            return None
        if any(path_fingerprint(Path(path)) != fp for path, fp in doc["paths"]):
            return None
        packages = []
        for p in doc["packages"]:
            name = NormalizedName(p["name"])
            kept = installed.get(name) if p["installed"] else None
            replaced = installed.get(name) if p["replaces"] else None
            if (p["installed"] and kept is None) or (p["replaces"] and replaced is None):
                return None
            w = p["wheel"]
            wheel = None
            if w is not None:
                wheel = Candidate(
                    name=NormalizedName(w["name"]),
                    version=Version(w["version"]),
                    artifact=Artifact(**w["artifact"]),
                    tag_rank=int(w["tag_rank"]),
                    yanked=bool(w["yanked"]),
                    requires_python=w["requires_python"],
                    metadata_url=w["metadata_url"],
                )
            packages.append(
                ResolvedPackage(
                    name=name,
                    display_name=str(p["display_name"]),
                    version=Version(p["version"]),
                    extras=tuple(p["extras"]),
                    installed=kept,
                    wheel=wheel,
                    index=p["index"],
                    also_on=tuple(p["also_on"]),
                    requested_by=tuple(p["requested_by"]),
                    replaces=replaced,
                )
            )
        return Resolution(tuple(packages))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, InvalidVersion):
        log.debug("ignoring unreadable resolution cache %s", path.name)
        return None
