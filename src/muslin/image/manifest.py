"""Manifests, image indexes and configs (Docker schema 2 and OCI), shared by every source.

``parse_document`` reads a manifest or an index, ``select_platform`` picks an
index entry (attestations and ``unknown/unknown`` skipped), ``parse_config``
turns the config blob into :class:`~muslin.facts.model.ImageConfig` plus the
layer ``diff_ids``, and ``layer_blobs`` pairs manifest layers with diff_ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from muslin.errors import CorruptImageError, ImageNotFoundError, UnsupportedImageError
from muslin.facts.model import ImageConfig
from muslin.image.layers import LayerBlob
from muslin.image.platform import Platform, host_platform, normalize_arch

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"

MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))
"""An HTTP ``Accept`` header value for manifest requests."""

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
_REFERENCE_TYPE = "vnd.docker.reference.type"
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})\Z")
MAX_DOCUMENT = 8 << 20
"""Largest manifest/index/config accepted (bytes)."""


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest or index points at."""

    media_type: str
    digest: str
    size: int | None
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @property
    def is_attestation(self) -> bool:
        return self.annotations.get(_REFERENCE_TYPE) == "attestation-manifest" or (
            self.platform is not None
            and self.platform.os == "unknown"
            and self.platform.architecture == "unknown"
        )


@dataclass(frozen=True)
class Manifest:
    """A single-image manifest."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Index:
    """A manifest list / image index."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfigBlob:
    """The parsed image config: what inspection uses plus the layer diff_ids."""

    config: ImageConfig
    diff_ids: tuple[str, ...]


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def check_digest(value: object, what: str) -> str:
    """Validate a digest string (so it can name a file safely); CorruptImageError if bad."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise CorruptImageError(f"{what}: invalid digest {value!r}")
    return value


def verify_digest(data: bytes, digest: str, what: str) -> bytes:
    """Return ``data`` if it hashes to ``digest``, else raise CorruptImageError."""
    algorithm = check_digest(digest, what).partition(":")[0]
    got = digest_of(data, algorithm)
    if got != digest:
        raise CorruptImageError(f"{what}: digest mismatch (expected {digest}, got {got})")
    return data


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object; CorruptImageError if it is not one."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptImageError(f"{what}: invalid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise CorruptImageError(f"{what}: expected a JSON object")
    return doc


def _platform(raw: object) -> Platform | None:
    if not isinstance(raw, dict):
        return None
    os_name = str(raw.get("os") or "")
    arch = str(raw.get("architecture") or "")
    if not os_name or not arch:
        return None
    variant = raw.get("variant")
    if os_name == "unknown" or arch == "unknown":
        return Platform(os_name, arch, None)
    a, v = normalize_arch(arch, str(variant) if variant else None)
    return Platform(os_name, a, v)


def parse_descriptor(raw: object, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise CorruptImageError(f"{what}: descriptor is not an object")
    media_type = raw.get("mediaType")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise CorruptImageError(f"{what}: invalid size {size!r}")
    annotations = raw.get("annotations") or {}
    urls = raw.get("urls") or ()
    return Descriptor(
        media_type=str(media_type or ""),
        digest=check_digest(raw.get("digest"), what),
        size=size,
        platform=_platform(raw.get("platform")),
        annotations={str(k): str(v) for k, v in annotations.items()}
        if isinstance(annotations, dict)
        else {},
        urls=tuple(str(u) for u in urls) if isinstance(urls, list) else (),
    )


def parse_document(data: bytes, media_type: str | None = None, what: str = "manifest") -> Manifest | Index:
    """Parse a manifest or an index (``media_type`` from HTTP, else the document's own)."""
    doc = load_json(data, what)
    kind = doc.get("mediaType") or media_type or ""
    if kind in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise UnsupportedImageError(f"{what}: Docker schema 1 manifests are not supported")
    annotations = doc.get("annotations") or {}
    ann = {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}
    if kind in INDEX_TYPES or (not kind and "manifests" in doc):
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise CorruptImageError(f"{what}: index without a manifests list")
        return Index(
            media_type=kind or OCI_INDEX,
            manifests=tuple(parse_descriptor(m, what) for m in items),
            annotations=ann,
        )
    if kind in MANIFEST_TYPES or (not kind and "config" in doc):
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise CorruptImageError(f"{what}: manifest without a layers list")
        return Manifest(
            media_type=kind or OCI_MANIFEST,
            config=parse_descriptor(doc.get("config"), what),
            layers=tuple(parse_descriptor(layer, what) for layer in layers),
            annotations=ann,
        )
    raise UnsupportedImageError(f"{what}: unsupported media type {kind!r}")


def select_platform(index: Index, platform: Platform | None, what: str = "image index") -> Descriptor:
    """The index entry for ``platform``.

    With ``platform`` None: the host's platform, else the only image entry.
    Attestation entries are never chosen.  ImageNotFoundError lists what exists.
    """
    entries = [m for m in index.manifests if not m.is_attestation]
    if not entries:
        raise ImageNotFoundError(f"{what}: no image manifests in the index")
    want = platform or host_platform()
    for entry in entries:
        if entry.platform is not None and entry.platform.matches(want):
            return entry
    if platform is None and len(entries) == 1:
        return entries[0]
    available = ", ".join(str(e.platform) if e.platform else "unspecified" for e in entries)
    raise ImageNotFoundError(f"{what}: no image for {want} (available: {available})")


def image_config(doc: dict[str, Any]) -> ImageConfig:
    """The :class:`ImageConfig` of an image config document (OCI/Docker config JSON keys)."""
    inner = doc.get("config") or doc.get("container_config") or {}
    if not isinstance(inner, dict):
        inner = {}
    env = inner.get("Env") or []
    labels = inner.get("Labels") or {}
    arch, variant = normalize_arch(str(doc.get("architecture") or "amd64"), doc.get("variant"))
    return ImageConfig(
        os=str(doc.get("os") or "linux"),
        architecture=arch,
        variant=variant,
        env=tuple(str(e) for e in env) if isinstance(env, list) else (),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def parse_config(data: bytes, what: str = "image config") -> ConfigBlob:
    """Config JSON -> ImageConfig and the diff_ids of ``rootfs``."""
    doc = load_json(data, what)
    config = image_config(doc)
    rootfs = doc.get("rootfs") or {}
    raw_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(raw_ids, list):
        raise CorruptImageError(f"{what}: no rootfs.diff_ids")
    diff_ids = tuple(check_digest(d, what) for d in raw_ids)
    return ConfigBlob(config=config, diff_ids=diff_ids)


def config_platform(config: ImageConfig) -> Platform:
    return Platform(config.os, config.architecture, config.variant)


def check_platform(config: ImageConfig, platform: Platform | None, what: str) -> None:
    """ImageNotFoundError when an explicitly requested platform is not the image's."""
    if platform is not None and not config_platform(config).matches(platform):
        raise ImageNotFoundError(f"{what} is {config.platform}, not the requested {platform}")


def layer_blobs(
    manifest: Manifest,
    config: ConfigBlob,
    opener_for: Callable[[Descriptor], Callable[[], BinaryIO]],
    what: str = "manifest",
) -> list[LayerBlob]:
    """Pair manifest layers with config diff_ids as LayerBlobs (count mismatch is corrupt)."""
    if len(manifest.layers) != len(config.diff_ids):
        raise CorruptImageError(
            f"{what}: {len(manifest.layers)} layers but the config lists "
            f"{len(config.diff_ids)} diff_ids"
        )
    return [
        LayerBlob(
            digest=layer.digest,
            media_type=layer.media_type or None,
            size=layer.size,
            opener=opener_for(layer),
            diff_id=diff_id,
        )
        for layer, diff_id in zip(manifest.layers, config.diff_ids, strict=True)
    ]
