"""``docker-archive:PATH``: the output of ``docker save`` (plain or compressed tar).

Both layouts are read: the legacy one (``manifest.json`` + ``<id>/layer.tar``
+ ``<config>.json``) and Docker 25+'s OCI-in-docker-save (``manifest.json``
pointing at ``blobs/sha256/...``).  Layer order comes from ``manifest.json``;
each layer is checked against the config's ``diff_ids`` (and its blob digest
when the file is named by one).  Members are read in place as byte ranges.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from muslin.errors import CorruptImageError, ImageNotFoundError, UsageError
from muslin.image.blobio import TarArchive
from muslin.image.layers import LayerBlob, apply_layers
from muslin.image.manifest import (
    MAX_DOCUMENT,
    check_platform,
    parse_config,
    verify_digest,
)
from muslin.image.platform import Platform
from muslin.image.reference import parse_reference
from muslin.image.sources.base import OpenedImage

_BLOB_NAME = re.compile(r"(?:.*/)?blobs/(sha256|sha384|sha512)/([0-9a-f]+)\Z")
_CONFIG_NAME = re.compile(r"(?:.*/)?([0-9a-f]{64})\.json\Z")


def _digest_from_name(name: str) -> str | None:
    m = _BLOB_NAME.match(name)
    if m:
        return f"{m.group(1)}:{m.group(2)}"
    m = _CONFIG_NAME.match(name)
    return f"sha256:{m.group(1)}" if m else None


def _same_tag(a: str, b: str) -> bool:
    try:
        return parse_reference(a).canonical == parse_reference(b).canonical
    except UsageError:
        return a == b


class DockerArchiveSource:
    """Reads one image from a ``docker save`` archive."""

    name = "docker-archive"

    def __init__(
        self,
        path: str | Path,
        tag: str | None = None,
        platform: Platform | None = None,
        reference: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.tag = tag
        self.platform = platform
        self.reference = reference or f"docker-archive:{path}"

    def _choose(self, entries: list[Any]) -> dict[str, Any]:
        def tags_of(entry: Any) -> list[str]:
            tags = entry.get("RepoTags") if isinstance(entry, dict) else None
            return [str(t) for t in tags] if isinstance(tags, list) else []

        all_tags = [t for e in entries for t in tags_of(e)] or ["<untagged>"]
        if self.tag is not None:
            for entry in entries:
                if any(_same_tag(self.tag, t) for t in tags_of(entry)):
                    return dict(entry)
            raise ImageNotFoundError(
                f"{self.path}: no image tagged {self.tag} (archive has: {', '.join(all_tags)})"
            )
        if len(entries) == 1:
            return dict(entries[0])
        raise UsageError(
            f"{self.path} holds {len(entries)} images ({', '.join(all_tags)}); "
            f"choose one with docker-archive:{self.path}:TAG"
        )

    def open(self) -> OpenedImage:
        with TarArchive(self.path) as archive:
            if not archive.has("manifest.json"):
                if archive.has("index.json"):
                    raise CorruptImageError(
                        f"{self.path}: an OCI layout archive without manifest.json "
                        f"(use oci-archive:{self.path})"
                    )
                raise CorruptImageError(f"{self.path}: not a docker save archive (no manifest.json)")
            try:
                entries = json.loads(archive.read("manifest.json", MAX_DOCUMENT))
            except ValueError as exc:
                raise CorruptImageError(f"{self.path}: invalid manifest.json ({exc})") from None
            if not isinstance(entries, list) or not entries:
                raise CorruptImageError(f"{self.path}: manifest.json lists no image")
            entry = self._choose(entries)
            config_name = entry.get("Config")
            layer_names = entry.get("Layers")
            if not isinstance(config_name, str) or not isinstance(layer_names, list):
                raise CorruptImageError(f"{self.path}: manifest.json entry without Config/Layers")
            config_data = archive.read(config_name, MAX_DOCUMENT)
            config_digest = _digest_from_name(config_name)
            if config_digest:
                verify_digest(config_data, config_digest, f"{self.path}: config {config_name}")
            config = parse_config(config_data, f"{self.path}: config {config_name}")
            check_platform(config.config, self.platform, f"image in {self.path}")
            if len(layer_names) != len(config.diff_ids):
                raise CorruptImageError(
                    f"{self.path}: manifest.json lists {len(layer_names)} layers but the config "
                    f"has {len(config.diff_ids)} diff_ids"
                )
            blobs = []
            for name, diff_id in zip(layer_names, config.diff_ids, strict=True):
                name = str(name)
                if not archive.has(name):
                    raise CorruptImageError(f"{self.path}: layer {name} is missing from the archive")
                blobs.append(
                    LayerBlob(
                        digest=_digest_from_name(name) if _BLOB_NAME.match(name) else None,
                        media_type=None,
                        size=archive.size(name),
                        opener=_opener(archive, name),
                        diff_id=diff_id,
                    )
                )
            tree = apply_layers(blobs)
        return OpenedImage(
            source=self.name,
            reference=self.reference,
            canonical_reference=None,
            digest=None,
            config=config.config,
            tree=tree,
        )


def _opener(archive: TarArchive, name: str) -> Callable[[], BinaryIO]:
    return lambda: archive.open(name)
