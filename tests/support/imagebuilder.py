"""Build real container images from Python: real tar layers, real digests.

Used by tests and benchmarks of every part (inspect, registry, plan...)::

    base = (Layer()
            .add_dir("etc").add_file("etc/alpine-release", "3.18.3\\n")
            .add_symlink("lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1"))
    top = Layer().whiteout("usr/lib/python3.11/site-packages/six-1.16.0.dist-info")
    img = Image([base, top], arch="amd64", env=["PYTHON_VERSION=3.11.6"])
    img.write_docker_archive(tmp / "img.tar", tag="muslin-test/img:1")          # legacy layout
    img.write_docker_archive(tmp / "img25.tar", layout="oci", compress="gzip")  # Docker 25+ layout
    img.write_oci_layout(tmp / "layout", tag="1", compression="zstd")
    img.write_oci_archive(tmp / "layout.tar")
    multi_platform_oci_layout(tmp / "multi", {"linux/amd64": img, "linux/arm64/v8": img2})
    pushable = img.registry_blobs()   # manifest + blobs as bytes, to PUT into a registry

Layer entries are written in the order they are added, with the names given
(no parent directories are added implicitly, so tests control the tar
exactly); ``add_raw`` writes any name at all, for malicious-entry tests.
Blobs are produced by streaming (tar -> compressor -> file, hashing on the
way), so multi-GiB layers (``add_random``) never sit in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

_LAYER_MEDIA = {None: OCI_LAYER, "gzip": OCI_LAYER + "+gzip", "zstd": OCI_LAYER + "+zstd"}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _RandomStream(io.RawIOBase):
    """``size`` bytes of incompressible data, generated as read."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left, 1 << 20)
        if n <= 0:
            return 0
        buffer[:n] = os.urandom(n)
        self.left -= n
        return n


@dataclass
class _Entry:
    info: tarfile.TarInfo
    opener: Callable[[], BinaryIO] | None = None


class Layer:
    """One image layer: an ordered list of tar entries."""

    def __init__(self) -> None:
        self.entries: list[_Entry] = []

    @classmethod
    def from_tar(cls, path: str | Path) -> Layer:
        """A layer with every entry of an existing tar (plain, gzip or zstd), e.g. the
        Alpine skeleton ``../shared/fixtures/alpine-3.18.3/skeleton.tar.zst``."""
        raw = Path(path).read_bytes()
        if raw[:4] == b"\x28\xb5\x2f\xfd":
            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
        elif raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        layer = cls()
        with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
            for info in tf:
                if info.isreg():
                    f = tf.extractfile(info)
                    data = f.read() if f is not None else b""
                    layer.entries.append(_Entry(info, lambda d=data: io.BytesIO(d)))  # type: ignore[misc]
                else:
                    layer.entries.append(_Entry(info))
        return layer

    def _info(self, name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.size = size
        info.linkname = link
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def add_file(self, path: str, data: bytes | str, mode: int = 0o644) -> Layer:
        raw = data.encode() if isinstance(data, str) else data
        info = self._info(path, tarfile.REGTYPE, mode, len(raw))
        self.entries.append(_Entry(info, lambda: io.BytesIO(raw)))
        return self

    def add_stream(self, path: str, size: int, opener: Callable[[], BinaryIO], mode: int = 0o644) -> Layer:
        """A file whose ``size`` bytes come from ``opener()`` when the layer is written."""
        self.entries.append(_Entry(self._info(path, tarfile.REGTYPE, mode, size), opener))
        return self

    def add_random(self, path: str, size: int, mode: int = 0o644) -> Layer:
        """A file of ``size`` incompressible random bytes (streamed, never held in memory)."""
        return self.add_stream(path, size, lambda: _RandomStream(size), mode)  # type: ignore[arg-type,return-value]

    def add_dir(self, path: str, mode: int = 0o755) -> Layer:
        self.entries.append(_Entry(self._info(path, tarfile.DIRTYPE, mode)))
        return self

    def add_dirs(self, *paths: str) -> Layer:
        """Each path and all its parents, parents first (skipping ones already added)."""
        seen = {e.info.name.rstrip("/") for e in self.entries if e.info.isdir()}
        for path in paths:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in seen:
                    seen.add(d)
                    self.add_dir(d)
        return self

    def add_symlink(self, path: str, target: str) -> Layer:
        self.entries.append(_Entry(self._info(path, tarfile.SYMTYPE, 0o777, link=target)))
        return self

    def add_hardlink(self, path: str, target: str) -> Layer:
        """A hard link; ``target`` is archive-relative, like tar writes it."""
        self.entries.append(_Entry(self._info(path, tarfile.LNKTYPE, 0o644, link=target)))
        return self

    def add_device(self, path: str, major: int = 1, minor: int = 3) -> Layer:
        info = self._info(path, tarfile.CHRTYPE, 0o666)
        info.devmajor, info.devminor = major, minor
        self.entries.append(_Entry(info))
        return self

    def add_fifo(self, path: str) -> Layer:
        self.entries.append(_Entry(self._info(path, tarfile.FIFOTYPE, 0o644)))
        return self

    def whiteout(self, path: str) -> Layer:
        """Delete ``path`` (from lower layers): writes ``dir/.wh.NAME``."""
        parent, _, name = path.strip("/").rpartition("/")
        return self.add_file(f"{parent}/.wh.{name}" if parent else f".wh.{name}", b"")

    def opaque(self, directory: str) -> Layer:
        """Hide lower layers' content of ``directory``: writes ``directory/.wh..wh..opq``."""
        return self.add_file(f"{directory.strip('/')}/.wh..wh..opq", b"")

    def add_raw(self, name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "") -> Layer:
        """Any entry with an unsanitised ``name`` (``../../x``, ``/abs``) — for attack tests."""
        info = self._info(name, kind, 0o644, len(data) if kind == tarfile.REGTYPE else 0, link)
        self.entries.append(_Entry(info, (lambda: io.BytesIO(data)) if kind == tarfile.REGTYPE else None))
        return self

    def write_tar(self, fileobj: BinaryIO) -> None:
        """Stream this layer as an uncompressed tar into ``fileobj``."""
        with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for entry in self.entries:
                if entry.opener is not None:
                    with entry.opener() as src:
                        tf.addfile(entry.info, src)
                else:
                    tf.addfile(entry.info)

    def tar_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.write_tar(buf)
        return buf.getvalue()


class _HashWriter:
    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


@dataclass(frozen=True)
class Blob:
    """A layer blob written to disk."""

    path: Path
    digest: str
    size: int
    diff_id: str
    media_type: str

    def read(self) -> bytes:
        return self.path.read_bytes()


def write_layer_blob(layer: Layer, directory: Path, compression: str | None) -> Blob:
    """Write ``layer`` compressed (None, "gzip" or "zstd") into ``directory``, named by digest."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".layer-")
    tmp = Path(tmp_name)
    with os.fdopen(fd, "wb") as out:
        outer = _HashWriter(out)  # type: ignore[arg-type]
        if compression is None:
            inner = outer
            layer.write_tar(inner)  # type: ignore[arg-type]
        elif compression == "gzip":
            with gzip.GzipFile(fileobj=outer, mode="wb", mtime=0, compresslevel=1) as gz:  # type: ignore[arg-type]
                inner = _HashWriter(gz)  # type: ignore[arg-type]
                layer.write_tar(inner)  # type: ignore[arg-type]
        elif compression == "zstd":
            writer = zstandard.ZstdCompressor(level=1).stream_writer(outer, closefd=False)
            inner = _HashWriter(writer)  # type: ignore[arg-type]
            layer.write_tar(inner)  # type: ignore[arg-type]
            writer.close()
        else:
            raise ValueError(f"unknown compression {compression!r}")
    final = directory / outer.digest.partition(":")[2]
    tmp.replace(final)
    return Blob(final, outer.digest, outer.size, inner.digest, _LAYER_MEDIA[compression])


def _descriptor(media_type: str, data_or_digest: bytes | str, size: int | None = None, **extra: Any) -> dict[str, Any]:
    if isinstance(data_or_digest, bytes):
        digest, size = sha256(data_or_digest), len(data_or_digest)
    else:
        digest = data_or_digest
    out: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
    out.update(extra)
    return out


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def _parse_platform(text: str) -> tuple[str, str, str | None]:
    parts = text.split("/")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else None


@dataclass(frozen=True)
class PushableImage:
    """Everything a registry needs for one image: manifest bytes and blobs by digest."""

    manifest: bytes
    media_type: str
    digest: str
    config_digest: str
    blobs: dict[str, bytes]
    platform: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushableIndex:
    index: bytes
    media_type: str
    digest: str
    images: list[PushableImage]


class Image:
    """An image: layers (bottom first) plus the config fields inspection reads."""

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        os: str = "linux",
        arch: str = "amd64",
        variant: str | None = None,
        env: Iterable[str] = (),
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.layers = list(layers)
        self.os = os
        self.arch = arch
        self.variant = variant
        self.env = list(env)
        self.labels = dict(labels or {})

    @property
    def platform(self) -> dict[str, str]:
        p = {"os": self.os, "architecture": self.arch}
        if self.variant:
            p["variant"] = self.variant
        return p

    def config_bytes(self, diff_ids: Sequence[str]) -> bytes:
        doc: dict[str, Any] = {
            "architecture": self.arch,
            "os": self.os,
            "created": "1970-01-01T00:00:00Z",
            "config": {"Env": self.env, "Labels": self.labels or None, "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "muslin imagebuilder"}
                        for _ in diff_ids],
        }
        if self.variant:
            doc["variant"] = self.variant
        return _dumps(doc)

    def build_blobs(self, directory: Path, compression: str | None) -> list[Blob]:
        """Write every layer blob into ``directory`` (named by digest)."""
        return [write_layer_blob(layer, directory, compression) for layer in self.layers]

    def _oci_manifest(self, blobs: Sequence[Blob], docker_media: bool = False) -> tuple[bytes, bytes]:
        config = self.config_bytes([b.diff_id for b in blobs])
        if docker_media:
            layers = [_descriptor(DOCKER_LAYER, b.digest, b.size) for b in blobs]
            manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                        "config": _descriptor(DOCKER_CONFIG, config), "layers": layers}
        else:
            layers = [_descriptor(b.media_type, b.digest, b.size) for b in blobs]
            manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                        "config": _descriptor(OCI_CONFIG, config), "layers": layers}
        return _dumps(manifest), config

    def write_oci_blobs(self, layout: Path, compression: str | None) -> tuple[bytes, bytes]:
        """Write layers, config and manifest into ``layout/blobs/sha256``; (manifest, config)."""
        blob_dir = layout / "blobs" / "sha256"
        blobs = self.build_blobs(blob_dir, compression)
        manifest, config = self._oci_manifest(blobs)
        for data in (manifest, config):
            (blob_dir / sha256(data).partition(":")[2]).write_bytes(data)
        return manifest, config

    def write_oci_layout(self, directory: str | Path, tag: str | None = None, compression: str | None = "gzip") -> str:
        """An OCI image layout directory; returns the manifest digest."""
        layout = Path(directory)
        layout.mkdir(parents=True, exist_ok=True)
        manifest, _ = self.write_oci_blobs(layout, compression)
        annotations = {"org.opencontainers.image.ref.name": tag} if tag else None
        entry = _descriptor(OCI_MANIFEST, manifest)
        if annotations:
            entry["annotations"] = annotations
        _write_layout_files(layout, [entry])
        return sha256(manifest)

    def write_oci_archive(self, path: str | Path, tag: str | None = None, compression: str | None = "gzip",
                          compress: str | None = None) -> str:
        """A tar of an OCI layout (``compress="gzip"`` gzips the whole tar); manifest digest."""
        with tempfile.TemporaryDirectory() as tmp:
            digest = self.write_oci_layout(Path(tmp) / "layout", tag, compression)
            tar_directory(Path(tmp) / "layout", Path(path), compress)
        return digest

    def write_docker_archive(self, path: str | Path, tag: str | None = "muslin-test/image:latest",
                             layout: str = "legacy", compress: str | None = None,
                             layer_compression: str | None = None, extra_images: Sequence[tuple[Image, str]] = ()) -> None:
        """``docker save`` output: ``layout="legacy"`` (<id>/layer.tar) or ``"oci"`` (Docker 25+).

        ``extra_images`` adds more (image, tag) pairs to the same archive.
        """
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "archive"
            root.mkdir()
            entries = []
            index_entries = []
            for image, image_tag in [(self, tag), *extra_images]:
                entry, index_entry = image._docker_save_into(root, image_tag, layout, layer_compression)
                entries.append(entry)
                if index_entry:
                    index_entries.append(index_entry)
            (root / "manifest.json").write_bytes(json.dumps(entries).encode())
            repos: dict[str, dict[str, str]] = {}
            for e in entries:
                for t in e["RepoTags"]:
                    name, _, t_tag = t.rpartition(":")
                    repos.setdefault(name, {})[t_tag] = e["Layers"][-1].split("/")[-2] if layout == "legacy" else ""
            (root / "repositories").write_bytes(json.dumps(repos).encode())
            if layout == "oci":
                _write_layout_files(root, index_entries)
            tar_directory(root, Path(path), compress)

    def _docker_save_into(self, root: Path, tag: str | None, layout: str,
                          layer_compression: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if layout == "legacy":
            scratch = root / ".scratch"
            blobs = [write_layer_blob(layer, scratch / str(i), layer_compression)
                     for i, layer in enumerate(self.layers)]
            config = self.config_bytes([b.diff_id for b in blobs])
            config_name = sha256(config).partition(":")[2] + ".json"
            (root / config_name).write_bytes(config)
            names = []
            parent = ""
            for blob in blobs:
                layer_id = hashlib.sha256((parent + blob.diff_id).encode()).hexdigest()
                (root / layer_id).mkdir(exist_ok=True)
                shutil.move(str(blob.path), root / layer_id / "layer.tar")
                (root / layer_id / "VERSION").write_text("1.0")
                (root / layer_id / "json").write_text(json.dumps({"id": layer_id, "parent": parent or None}))
                names.append(f"{layer_id}/layer.tar")
                parent = layer_id
            shutil.rmtree(scratch, ignore_errors=True)
            return {"Config": config_name, "RepoTags": [tag] if tag else [], "Layers": names}, None
        if layout != "oci":
            raise ValueError(f"unknown docker-archive layout {layout!r}")
        manifest, config = self.write_oci_blobs(root, layer_compression)
        doc = json.loads(manifest)
        entry = {
            "Config": "blobs/sha256/" + sha256(config).partition(":")[2],
            "RepoTags": [tag] if tag else [],
            "Layers": ["blobs/sha256/" + layer["digest"].partition(":")[2] for layer in doc["layers"]],
            "LayerSources": {},
        }
        index_entry = _descriptor(OCI_MANIFEST, manifest)
        if tag:
            index_entry["annotations"] = {
                "io.containerd.image.name": tag,
                "org.opencontainers.image.ref.name": tag.rpartition(":")[2],
            }
        return entry, index_entry

    def registry_blobs(self, compression: str | None = "gzip", media: str = "oci") -> PushableImage:
        """Manifest and blobs as bytes (``media="docker"`` for Docker schema 2 media types)."""
        with tempfile.TemporaryDirectory() as tmp:
            blobs = self.build_blobs(Path(tmp), compression)
            manifest, config = self._oci_manifest(blobs, docker_media=media == "docker")
            data = {b.digest: b.read() for b in blobs}
        data[sha256(config)] = config
        return PushableImage(
            manifest=manifest,
            media_type=DOCKER_MANIFEST if media == "docker" else OCI_MANIFEST,
            digest=sha256(manifest),
            config_digest=sha256(config),
            blobs=data,
            platform=self.platform,
        )


_ATTESTATION = {
    "mediaType": OCI_MANIFEST,
    "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
    "platform": {"os": "unknown", "architecture": "unknown"},
}


def _write_layout_files(layout: Path, manifests: list[dict[str, Any]]) -> None:
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    (layout / "index.json").write_bytes(_dumps(index))


def tar_directory(directory: Path, path: Path, compress: str | None = None) -> None:
    """Tar ``directory``'s content (sorted, no ``./`` prefix) into ``path``, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as raw:
        out: Any = raw
        if compress == "gzip":
            out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for item in sorted(directory.rglob("*")):
                if item.name.startswith(".layer-") or ".scratch" in item.parts:
                    continue
                tf.add(item, arcname=str(item.relative_to(directory)), recursive=False)
        if out is not raw:
            out.close()
    tmp.replace(path)


def _index_doc(entries: list[dict[str, Any]], media_type: str) -> bytes:
    return _dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries})


def multi_platform_oci_layout(directory: str | Path, images: Mapping[str, Image], tag: str | None = None,
                              compression: str | None = "gzip", attestation: bool = True) -> str:
    """An OCI layout whose ``index.json`` points at an image index over ``images``.

    Keys are platforms (``linux/arm64/v8``); with ``attestation`` an
    ``unknown/unknown`` attestation entry is added, the way BuildKit does.
    Returns the image index digest.
    """
    layout = Path(directory)
    layout.mkdir(parents=True, exist_ok=True)
    blob_dir = layout / "blobs" / "sha256"
    entries: list[dict[str, Any]] = []
    for platform, image in images.items():
        os_name, arch, variant = _parse_platform(platform)
        image.os, image.arch, image.variant = os_name, arch, variant
        manifest, _ = image.write_oci_blobs(layout, compression)
        entries.append(_descriptor(OCI_MANIFEST, manifest, platform=image.platform))
    if attestation:
        att_config = b"{}"
        att_manifest = _dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": _descriptor("application/vnd.oci.empty.v1+json", att_config), "layers": []})
        for data in (att_config, att_manifest):
            (blob_dir / sha256(data).partition(":")[2]).write_bytes(data)
        att = dict(_ATTESTATION)
        att["annotations"] = {**_ATTESTATION["annotations"], "vnd.docker.reference.digest": entries[0]["digest"]}
        entries.append({**att, **_descriptor(OCI_MANIFEST, att_manifest)})
    index = _index_doc(entries, OCI_INDEX)
    (blob_dir / sha256(index).partition(":")[2]).write_bytes(index)
    top = _descriptor(OCI_INDEX, index)
    if tag:
        top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    _write_layout_files(layout, [top])
    return sha256(index)


def multi_platform_index(images: Mapping[str, Image], compression: str | None = "gzip", media: str = "oci",
                         attestation: bool = False) -> PushableIndex:
    """An image index (or Docker manifest list) plus every image, as bytes for a registry."""
    pushables = []
    entries = []
    for platform, image in images.items():
        os_name, arch, variant = _parse_platform(platform)
        image.os, image.arch, image.variant = os_name, arch, variant
        pushable = image.registry_blobs(compression, media)
        pushables.append(pushable)
        entries.append(_descriptor(pushable.media_type, pushable.manifest, platform=image.platform))
    if attestation:
        att_config = b"{}"
        att_manifest = _dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": _descriptor("application/vnd.oci.empty.v1+json", att_config), "layers": []})
        pushables.append(PushableImage(att_manifest, OCI_MANIFEST, sha256(att_manifest), sha256(att_config),
                                       {sha256(att_config): att_config}))
        entries.append({**_ATTESTATION, **_descriptor(OCI_MANIFEST, att_manifest)})
    media_type = DOCKER_LIST if media == "docker" else OCI_INDEX
    index = _index_doc(entries, media_type)
    return PushableIndex(index=index, media_type=media_type, digest=sha256(index), images=pushables)
