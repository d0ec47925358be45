"""``oci-dir:PATH`` and ``oci-archive:PATH``: an OCI image layout, as a directory or a tar.

``index.json`` -> (tag via ``org.opencontainers.image.ref.name``) -> image
index (platform selection, attestations skipped) -> manifest -> config ->
layers; every blob is checked against its digest.  An archive is read in
place (its members are byte ranges), never extracted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from muslin.errors import CorruptImageError, ImageNotFoundError, UsageError
from muslin.image.blobio import TarArchive, open_file
from muslin.image.layers import apply_layers
from muslin.image.manifest import (
    CONTAINERD_NAME,
    MAX_DOCUMENT,
    REF_NAME,
    Descriptor,
    Index,
    Manifest,
    check_digest,
    check_platform,
    layer_blobs,
    parse_config,
    parse_document,
    select_platform,
    verify_digest,
)
from muslin.image.platform import Platform
from muslin.image.reference import parse_reference
from muslin.image.sources.base import OpenedImage

_MAX_DEPTH = 4


class _Layout(Protocol):
    display: str

    def read(self, name: str, limit: int) -> bytes: ...

    def open(self, name: str) -> BinaryIO: ...

    def has(self, name: str) -> bool: ...


class _DirLayout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.display = str(root)

    def has(self, name: str) -> bool:
        return (self.root / name).is_file()

    def open(self, name: str) -> BinaryIO:
        path = self.root / name
        if not path.is_file():
            raise CorruptImageError(f"{self.display}: {name} is missing")
        return open_file(path)

    def read(self, name: str, limit: int) -> bytes:
        path = self.root / name
        if not path.is_file():
            raise CorruptImageError(f"{self.display}: {name} is missing")
        if path.stat().st_size > limit:
            raise CorruptImageError(f"{self.display}: {name} is too large")
        return path.read_bytes()


def _blob_name(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def _tag_matches(descriptor: Descriptor, tag: str) -> bool:
    ref_name = descriptor.annotations.get(REF_NAME)
    full = descriptor.annotations.get(CONTAINERD_NAME)
    if tag in (ref_name, full):
        return True
    try:
        wanted = parse_reference(tag).canonical
    except UsageError:
        return False
    for name in (full, ref_name):
        if name:
            try:
                if parse_reference(name).canonical == wanted:
                    return True
            except UsageError:
                continue
    return False


class OciLayoutSource:
    """Reads one image from an OCI image layout directory or tar archive."""

    def __init__(
        self,
        path: str | Path,
        platform: Platform | None = None,
        *,
        tag: str | None = None,
        archive: bool | None = None,
        reference: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.platform = platform
        self.tag = tag
        self.archive = self.path.is_file() if archive is None else archive
        self.name = "oci-archive" if self.archive else "oci-dir"
        self.reference = reference or f"{self.name}:{path}"

    def open(self) -> OpenedImage:
        if not self.path.exists():
            raise ImageNotFoundError(f"no such OCI layout: {self.path}")
        if self.archive:
            with TarArchive(self.path) as archive:
                return self._open(archive)
        if not self.path.is_dir():
            raise ImageNotFoundError(f"not a directory: {self.path} (use oci-archive: for a tar)")
        return self._open(_DirLayout(self.path))

    def _blob(self, layout: _Layout, descriptor: Descriptor, what: str) -> bytes:
        name = _blob_name(descriptor.digest)
        if not layout.has(name):
            raise CorruptImageError(f"{layout.display}: {what} blob {descriptor.digest} is missing")
        data = layout.read(name, MAX_DOCUMENT)
        return verify_digest(data, descriptor.digest, f"{layout.display}: {what}")

    def _open(self, layout: _Layout) -> OpenedImage:
        where = layout.display
        if not layout.has("index.json"):
            if layout.has("manifest.json"):
                raise CorruptImageError(
                    f"{where}: no index.json (a legacy docker save archive? use docker-archive:)"
                )
            raise CorruptImageError(f"{where}: not an OCI image layout (no index.json)")
        if layout.has("oci-layout"):
            try:
                marker = json.loads(layout.read("oci-layout", 4096))
            except ValueError:
                marker = None
            if not isinstance(marker, dict) or "imageLayoutVersion" not in marker:
                raise CorruptImageError(f"{where}: invalid oci-layout file")
        top = parse_document(layout.read("index.json", MAX_DOCUMENT), what=f"{where}: index.json")
        if not isinstance(top, Index):
            raise CorruptImageError(f"{where}: index.json is not an image index")
        entries = list(top.manifests)
        if self.tag is not None:
            entries = [e for e in entries if _tag_matches(e, self.tag)]
            if not entries:
                names = sorted(
                    {e.annotations.get(REF_NAME, "") for e in top.manifests} - {""}
                ) or ["<untagged>"]
                raise ImageNotFoundError(
                    f"{where}: no image tagged {self.tag} (layout has: {', '.join(names)})"
                )
        document: Manifest | Index = Index(top.media_type, tuple(entries))
        chosen: Descriptor | None = None
        for _ in range(_MAX_DEPTH):
            if isinstance(document, Manifest):
                break
            if len(document.manifests) == 1 and not document.manifests[0].is_attestation and (
                document.manifests[0].platform is None
            ):
                chosen = document.manifests[0]
            else:
                chosen = select_platform(document, self.platform, f"{where}: image index")
            data = self._blob(layout, chosen, "manifest")
            document = parse_document(data, chosen.media_type or None, f"{where}: manifest {chosen.digest}")
        if not isinstance(document, Manifest) or chosen is None:
            raise CorruptImageError(f"{where}: image indexes nested too deeply")
        config_data = self._blob(layout, document.config, "config")
        config = parse_config(config_data, f"{where}: config {document.config.digest}")
        check_platform(config.config, self.platform, f"image in {where}")
        for layer in document.layers:
            if not layout.has(_blob_name(check_digest(layer.digest, where))):
                raise CorruptImageError(f"{where}: layer blob {layer.digest} is missing")
        blobs = layer_blobs(
            document, config, lambda d: _opener(layout, _blob_name(d.digest)), f"{where}: manifest"
        )
        tree = apply_layers(blobs)
        return OpenedImage(
            source=self.name,
            reference=self.reference,
            canonical_reference=None,
            digest=chosen.digest,
            config=config.config,
            tree=tree,
        )


def _opener(layout: _Layout, name: str) -> Callable[[], BinaryIO]:
    return lambda: layout.open(name)
