"""OCI image layouts (directory and archive): platforms, tags, digests, corruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.imagebuilder import (
    Image,
    Layer,
    multi_platform_index,
    multi_platform_oci_layout,
)

from muslin.errors import CorruptImageError, ImageNotFoundError
from muslin.image.manifest import (
    Index,
    Manifest,
    parse_config,
    parse_document,
    select_platform,
)
from muslin.image.open import open_image
from muslin.image.platform import host_platform, parse_platform
from muslin.image.sources.oci import OciLayoutSource

SP = "usr/lib/python3.11/site-packages"


def image(release: str) -> Image:
    base = Layer().add_dirs("etc", SP)
    base.add_file("etc/alpine-release", release + "\n")
    base.add_dir(f"{SP}/six-1.16.0.dist-info").add_file(f"{SP}/six-1.16.0.dist-info/METADATA", "six")
    base.add_dir(f"{SP}/attrs-23.1.0.dist-info").add_file(f"{SP}/attrs-23.1.0.dist-info/METADATA", "a")
    top = Layer().whiteout(f"{SP}/six-1.16.0.dist-info").add_dirs(SP).opaque(SP)
    top.add_dir(f"{SP}/idna-3.4.dist-info").add_file(f"{SP}/idna-3.4.dist-info/METADATA", "idna")
    return Image([base, top])


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_layout_dir(tmp_path: Path, compression: str | None) -> None:
    digest = image("3.18.3").write_oci_layout(tmp_path / "l", tag="3.18", compression=compression)
    opened = open_image(f"oci-dir:{tmp_path / 'l'}")
    assert opened.source == "oci-dir" and opened.digest == digest
    assert opened.tree.read_bytes("etc/alpine-release") == b"3.18.3\n"
    assert opened.tree.listdir(SP) == ["idna-3.4.dist-info"]


@pytest.mark.parametrize("compress", [None, "gzip"])
def test_layout_archive(tmp_path: Path, compress: str | None) -> None:
    path = tmp_path / "l.tar"
    digest = image("3.18.3").write_oci_archive(path, tag="3.18", compression="zstd", compress=compress)
    opened = open_image(f"oci-archive:{path}")
    assert opened.source == "oci-archive" and opened.digest == digest
    assert opened.tree.read_bytes("etc/alpine-release") == b"3.18.3\n"


@pytest.mark.parametrize("archive", [False, True])
def test_two_platforms_choose_each(tmp_path: Path, archive: bool) -> None:
    layout = tmp_path / "multi"
    multi_platform_oci_layout(
        layout, {"linux/amd64": image("3.18.3"), "linux/arm64/v8": image("3.18.4")}, tag="3.18"
    )
    ref = str(layout)
    if archive:
        from support.imagebuilder import tar_directory

        tar_directory(layout, tmp_path / "multi.tar")
        ref = str(tmp_path / "multi.tar")
    prefix = "oci-archive" if archive else "oci-dir"
    amd = open_image(f"{prefix}:{ref}", "linux/amd64")
    arm = open_image(f"{prefix}:{ref}", "linux/arm64")
    assert amd.tree.read_bytes("etc/alpine-release") == b"3.18.3\n"
    assert amd.config.platform == "linux/amd64"
    assert arm.tree.read_bytes("etc/alpine-release") == b"3.18.4\n"
    assert arm.config.platform == "linux/arm64/v8"
    assert amd.digest != arm.digest
    default = open_image(f"{prefix}:{ref}")
    assert default.config.architecture == host_platform().architecture
    tagged = open_image(f"{prefix}:{ref}:3.18", "linux/arm64/v8")
    assert tagged.digest == arm.digest
    with pytest.raises(ImageNotFoundError, match=r"no image for linux/s390x \(available: linux/amd64, linux/arm64/v8\)"):
        open_image(f"{prefix}:{ref}", "linux/s390x")
    with pytest.raises(ImageNotFoundError, match=r"no image tagged 9.9"):
        open_image(f"{prefix}:{ref}:9.9")


def test_attestation_is_never_chosen(tmp_path: Path) -> None:
    layout = tmp_path / "one"
    multi_platform_oci_layout(layout, {"linux/arm64": image("3.18.4")}, attestation=True)
    opened = OciLayoutSource(layout).open()  # one real entry: chosen whatever the host is
    assert opened.config.architecture == "arm64"
    with pytest.raises(ImageNotFoundError):
        open_image(f"oci-dir:{layout}", "linux/amd64")


def test_missing_blob(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    image("3.18.3").write_oci_layout(layout)
    manifest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    doc = json.loads((layout / "blobs" / "sha256" / manifest.split(":")[1]).read_text())
    (layout / "blobs" / "sha256" / doc["layers"][1]["digest"].split(":")[1]).unlink()
    with pytest.raises(CorruptImageError, match=r"layer blob sha256:\w+ is missing"):
        open_image(f"oci-dir:{layout}")
    (layout / "blobs" / "sha256" / manifest.split(":")[1]).unlink()
    with pytest.raises(CorruptImageError, match=r"manifest blob .* is missing"):
        open_image(f"oci-dir:{layout}")
    (layout / "index.json").unlink()
    with pytest.raises(CorruptImageError, match=r"no index.json"):
        open_image(f"oci-dir:{layout}")


def test_layer_digest_mismatch_and_truncation(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    image("3.18.3").write_oci_layout(layout, compression="gzip")
    manifest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    doc = json.loads((layout / "blobs" / "sha256" / manifest.split(":")[1]).read_text())
    layer = layout / "blobs" / "sha256" / doc["layers"][0]["digest"].split(":")[1]
    data = layer.read_bytes()
    layer.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptImageError, match=r"layer 1/2 .*(truncated|size|mismatch)"):
        open_image(f"oci-dir:{layout}")
    layer.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CorruptImageError, match="layer 1/2"):
        open_image(f"oci-dir:{layout}")


def test_manifest_tampering_detected(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    image("3.18.3").write_oci_layout(layout)
    manifest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    blob = layout / "blobs" / "sha256" / manifest.split(":")[1]
    blob.write_bytes(blob.read_bytes() + b" ")
    with pytest.raises(CorruptImageError, match="manifest: digest mismatch"):
        open_image(f"oci-dir:{layout}")


def test_not_found(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError):
        open_image(f"oci-dir:{tmp_path / 'nope'}")
    with pytest.raises(ImageNotFoundError):
        open_image(f"oci-archive:{tmp_path / 'nope.tar'}")


def test_manifest_module_parses_docker_and_oci_media_types() -> None:
    pushed = multi_platform_index(
        {"linux/amd64": image("1"), "linux/arm/v7": image("2")}, media="docker", attestation=True
    )
    index = parse_document(pushed.index)
    assert isinstance(index, Index) and len(index.manifests) == 3
    chosen = select_platform(index, parse_platform("linux/arm"))
    assert chosen.digest == pushed.images[1].digest
    manifest = parse_document(pushed.images[0].manifest)
    assert isinstance(manifest, Manifest) and len(manifest.layers) == 2
    config = parse_config(pushed.images[0].blobs[manifest.config.digest])
    assert config.config.platform == "linux/amd64" and len(config.diff_ids) == 2
    with pytest.raises(CorruptImageError):
        parse_document(b"[]")
    with pytest.raises(CorruptImageError):
        parse_document(b'{"schemaVersion": 1, "fsLayers": []}')
