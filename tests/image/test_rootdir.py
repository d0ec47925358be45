"""dir: sources and open_image's dispatch on source prefixes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from muslin.errors import ImageNotFoundError, UsageError
from muslin.image.open import open_image, split_path_and_tag
from muslin.image.platform import host_platform


def test_dir_source_reads_real_alpine_rootfs(alpine_fixture: Path) -> None:
    opened = open_image(f"dir:{alpine_fixture / 'rootfs'}")
    assert opened.source == "dir" and opened.digest is None
    assert opened.config.platform == "linux/amd64"  # from etc/apk/arch = x86_64
    assert opened.tree.read_bytes("etc/alpine-release") == b"3.18.3\n"
    assert opened.tree.is_file("lib/apk/db/installed")


def test_dir_source_defaults_and_explicit_platform(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    opened = open_image(f"dir:{tmp_path}")
    assert opened.config.architecture == host_platform().architecture
    (tmp_path / "etc" / "apk").mkdir()
    (tmp_path / "etc" / "apk" / "arch").write_text("armv7\n")
    assert open_image(f"dir:{tmp_path}").config.platform == "linux/arm/v7"
    assert open_image(f"dir:{tmp_path}", "linux/arm64").config.architecture == "arm64"


def test_dir_symlinks_stay_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (tmp_path / "secret").write_text("host")
    (root / "etc" / "escape").symlink_to("../../secret")
    (root / "etc" / "abs").symlink_to(str(tmp_path / "secret"))
    tree = open_image(f"dir:{root}").tree
    assert tree.read_bytes("etc/escape") is None and tree.read_bytes("etc/abs") is None


def test_missing_paths(tmp_path: Path) -> None:
    for prefix in ("dir", "docker-archive", "oci-dir", "oci-archive"):
        with pytest.raises(ImageNotFoundError):
            open_image(f"{prefix}:{tmp_path / 'nope'}")
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(ImageNotFoundError, match="not a directory"):
        open_image(f"dir:{afile}")


def test_unknown_prefix_and_bad_references(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown image source 'tarball:'"):
        open_image("tarball:/x/y.tar")
    with pytest.raises(UsageError, match="unknown image source 'podman:'"):
        open_image("podman:./x")
    with pytest.raises(UsageError):
        open_image("Not A Reference")
    with pytest.raises(UsageError):
        open_image("dir:")
    with pytest.raises(UsageError, match="invalid platform"):
        open_image(f"dir:{tmp_path}", "linux//x")
    local = tmp_path / "Image.tar"
    local.write_text("x")
    with pytest.raises(UsageError, match="docker-archive:"):
        open_image(str(local))


def test_split_path_and_tag(tmp_path: Path) -> None:
    weird = tmp_path / "a:b"
    weird.mkdir()
    assert split_path_and_tag(str(weird)) == (weird, None)
    assert split_path_and_tag(f"{weird}:alpine:3.18") == (weird, "alpine:3.18")
    assert split_path_and_tag(f"{tmp_path}:tag") == (tmp_path, "tag")
    with pytest.raises(ImageNotFoundError):
        split_path_and_tag(str(tmp_path / "missing:tag"))


def test_dir_source_with_copied_fixture(tmp_path: Path, alpine_fixture: Path) -> None:
    root = tmp_path / "rootfs"
    shutil.copytree(alpine_fixture / "rootfs", root)
    (root / "etc" / "apk" / "arch").write_text("aarch64\n")
    assert open_image(f"dir:{root}").config.platform == "linux/arm64/v8"


@pytest.mark.docker
def test_plain_reference_prefers_the_daemon(docker_client: object, musl_python_image: str) -> None:
    opened = open_image(musl_python_image)
    assert opened.source == "docker"
    assert opened.tree.is_file("usr/bin/python3.11")


def test_plain_reference_falls_back_to_the_registry() -> None:
    from muslin.errors import NetworkError

    # Nothing listens on port 1: the registry source is tried and reports it.
    with pytest.raises(NetworkError, match=r"127\.0\.0\.1:1"):
        open_image("127.0.0.1:1/none/x:1")
