"""docker-archive: both docker save layouts, compression, tags, corruption, a real daemon."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from support.imagebuilder import Image, Layer, tar_directory

from muslin.errors import CorruptImageError, ImageNotFoundError, UsageError
from muslin.image.open import open_image
from muslin.image.sources.archive import DockerArchiveSource

SP = "usr/lib/python3.11/site-packages"


def sample_image() -> Image:
    base = Layer().add_dirs("etc/apk", "lib/apk/db", SP)
    base.add_file("etc/alpine-release", "3.18.3\n").add_file("etc/apk/arch", "aarch64\n")
    base.add_file("lib/apk/db/installed", "P:musl\nV:1.2.4-r1\n\n")
    for name in ("six-1.16.0", "idna-3.4"):
        base.add_dir(f"{SP}/{name}.dist-info").add_file(f"{SP}/{name}.dist-info/METADATA", name)
    removal = Layer().whiteout(f"{SP}/six-1.16.0.dist-info")
    opaque = Layer().add_dirs("etc/apk").opaque("etc/apk").add_file("etc/apk/world", "python3\n")
    return Image([base, removal, opaque], arch="arm64", variant="v8", env=["PATH=/usr/bin", "A=b"])


def check(tree: Any) -> None:
    assert tree.read_bytes("etc/alpine-release") == b"3.18.3\n"
    assert tree.listdir(SP) == ["idna-3.4.dist-info"]
    assert tree.listdir("etc/apk") == ["world"]
    assert tree.read_bytes("lib/apk/db/installed") == b"P:musl\nV:1.2.4-r1\n\n"


@pytest.mark.parametrize("layout", ["legacy", "oci"])
@pytest.mark.parametrize("compress", [None, "gzip"])
def test_layouts_and_compression(tmp_path: Path, layout: str, compress: str | None) -> None:
    path = tmp_path / "img.tar"
    sample_image().write_docker_archive(path, tag="muslin-test/x:1", layout=layout, compress=compress)
    opened = open_image(f"docker-archive:{path}")
    assert opened.source == "docker-archive" and opened.reference == f"docker-archive:{path}"
    assert opened.config.platform == "linux/arm64/v8"
    assert opened.config.env_value("A") == "b"
    check(opened.tree)


@pytest.mark.parametrize("layer_compression", ["gzip", "zstd"])
def test_compressed_layers_inside_archive(tmp_path: Path, layer_compression: str) -> None:
    path = tmp_path / "img.tar"
    sample_image().write_docker_archive(path, layer_compression=layer_compression)
    check(open_image(f"docker-archive:{path}").tree)


def test_tag_selection(tmp_path: Path) -> None:
    other = Image([Layer().add_dirs("etc").add_file("etc/alpine-release", "3.19.0\n")])
    path = tmp_path / "two.tar"
    sample_image().write_docker_archive(path, tag="alpine:3.18", extra_images=[(other, "alpine:3.19")])
    with pytest.raises(UsageError, match=r"holds 2 images \(alpine:3.18, alpine:3.19\)"):
        open_image(f"docker-archive:{path}")
    tree = open_image(f"docker-archive:{path}:alpine:3.19").tree
    assert tree.read_bytes("etc/alpine-release") == b"3.19.0\n"
    tree = open_image(f"docker-archive:{path}:docker.io/library/alpine:3.18").tree
    check(tree)
    with pytest.raises(ImageNotFoundError, match=r"no image tagged alpine:3.20"):
        open_image(f"docker-archive:{path}:alpine:3.20")


def test_platform_must_match_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "img.tar"
    sample_image().write_docker_archive(path)
    assert open_image(f"docker-archive:{path}", "linux/arm64").config.architecture == "arm64"
    with pytest.raises(ImageNotFoundError, match="linux/arm64/v8, not the requested linux/amd64"):
        open_image(f"docker-archive:{path}", "linux/amd64")


def _rewrite(src: Path, dst: Path, tmp: Path, change: Any) -> None:
    root = tmp / "unpacked"
    with tarfile.open(src) as tf:
        tf.extractall(root, filter="data")
    change(root)
    tar_directory(root, dst)


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_missing_manifest(tmp_path: Path, layout: str) -> None:
    src, bad = tmp_path / "img.tar", tmp_path / "bad.tar"
    sample_image().write_docker_archive(src, layout=layout)
    _rewrite(src, bad, tmp_path, lambda root: (root / "manifest.json").unlink())
    with pytest.raises(CorruptImageError) as exc:
        open_image(f"docker-archive:{bad}")
    assert "manifest.json" in str(exc.value) and "\n" not in str(exc.value)


def test_missing_layer(tmp_path: Path) -> None:
    src, bad = tmp_path / "img.tar", tmp_path / "bad.tar"
    sample_image().write_docker_archive(src)

    def drop_layer(root: Path) -> None:
        manifest = json.loads((root / "manifest.json").read_text())
        (root / manifest[0]["Layers"][1]).unlink()

    _rewrite(src, bad, tmp_path, drop_layer)
    with pytest.raises(CorruptImageError, match=r"layer .*layer.tar is missing"):
        open_image(f"docker-archive:{bad}")


def test_diff_id_mismatch(tmp_path: Path) -> None:
    src, bad = tmp_path / "img.tar", tmp_path / "bad.tar"
    sample_image().write_docker_archive(src)

    def swap_layer(root: Path) -> None:
        manifest = json.loads((root / "manifest.json").read_text())
        layer = root / manifest[0]["Layers"][0]
        layer.write_bytes(Layer().add_file("evil", "x").tar_bytes())

    _rewrite(src, bad, tmp_path, swap_layer)
    with pytest.raises(CorruptImageError, match=r"layer 1/3 .*diff_id mismatch"):
        open_image(f"docker-archive:{bad}")


def test_config_digest_mismatch(tmp_path: Path) -> None:
    src, bad = tmp_path / "img.tar", tmp_path / "bad.tar"
    sample_image().write_docker_archive(src, layout="oci")

    def edit_config(root: Path) -> None:
        manifest = json.loads((root / "manifest.json").read_text())
        config = root / manifest[0]["Config"]
        config.write_bytes(config.read_bytes().replace(b"arm64", b"amd64"))

    _rewrite(src, bad, tmp_path, edit_config)
    with pytest.raises(CorruptImageError, match=r"config .*digest mismatch"):
        open_image(f"docker-archive:{bad}")


def test_truncated_archive(tmp_path: Path) -> None:
    src = tmp_path / "img.tar"
    sample_image().write_docker_archive(src)
    data = src.read_bytes()
    for cut in (len(data) // 3, 2 * len(data) // 3):
        bad = tmp_path / f"cut{cut}.tar"
        bad.write_bytes(data[:cut])
        with pytest.raises(CorruptImageError):
            open_image(f"docker-archive:{bad}")
    gz = tmp_path / "img.tar.gz"
    sample_image().write_docker_archive(gz, compress="gzip")
    bad = tmp_path / "cut.tar.gz"
    bad.write_bytes(gz.read_bytes()[:-100])
    with pytest.raises(CorruptImageError, match="truncated gzip"):
        open_image(f"docker-archive:{bad}")


def test_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="no such"):
        open_image(f"docker-archive:{tmp_path / 'missing.tar'}")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"hello" * 1000)
    with pytest.raises(CorruptImageError):
        DockerArchiveSource(junk).open()
    layout = tmp_path / "layout.tar"
    sample_image().write_oci_archive(layout)
    with pytest.raises(CorruptImageError, match="use oci-archive:"):
        open_image(f"docker-archive:{layout}")


@pytest.mark.docker
def test_real_docker_save(tmp_path: Path, docker_client: Any, musl_python_image: str) -> None:
    path = tmp_path / "saved.tar"
    image = docker_client.images.get(musl_python_image)
    with path.open("wb") as f:
        for chunk in image.save(named=True):
            f.write(chunk)
    opened = open_image(f"docker-archive:{path}")
    tree = opened.tree
    assert tree.is_file("usr/bin/python3.11")
    assert tree.is_file("lib/apk/db/installed")
    assert b"P:musl" in (tree.read_bytes("lib/apk/db/installed") or b"")
    assert tree.read_bytes("etc/alpine-release") is not None
    assert opened.config.os == "linux"
    # Same image, selected by its tag.
    tagged = open_image(f"docker-archive:{path}:{musl_python_image}")
    assert tagged.tree.listdir("usr/bin") == tree.listdir("usr/bin")


def test_layer_members_that_are_symlinks(tmp_path: Path) -> None:
    """Some docker save versions write ``<id>/layer.tar`` as a symlink into ``blobs/``."""
    src, linked = tmp_path / "img.tar", tmp_path / "linked.tar"
    sample_image().write_docker_archive(src, layout="oci")

    def link_layers(root: Path) -> None:
        manifest = json.loads((root / "manifest.json").read_text())
        names = []
        for i, layer in enumerate(manifest[0]["Layers"]):
            (root / f"id{i}").mkdir()
            (root / f"id{i}" / "layer.tar").symlink_to(f"../{layer}")
            names.append(f"id{i}/layer.tar")
        manifest[0]["Layers"] = names
        (root / "manifest.json").write_text(json.dumps(manifest))

    _rewrite(src, linked, tmp_path, link_layers)
    check(open_image(f"docker-archive:{linked}").tree)
