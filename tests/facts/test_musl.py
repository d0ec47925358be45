"""musl version: from the apk package, else read out of the real loader's bytes."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import zstandard
from support.alpine_rootfs import Rootfs, apk_record
from support.common import MUSL_PYTHON_ROOTFS, need

from muslin.facts.apkdb import read_apk_db
from muslin.facts.hostdir import HostDirTree
from muslin.facts.musl import (
    detect_musl,
    find_glibc_loaders,
    find_loaders,
    musl_from_apk,
    version_from_loader_bytes,
)


@pytest.fixture(scope="module")
def real_loader() -> bytes:
    """``lib/ld-musl-x86_64.so.1`` (Debian's musl 1.2.3) streamed out of the musl-python fixture."""
    need(MUSL_PYTHON_ROOTFS.exists(), f"fixture missing: {MUSL_PYTHON_ROOTFS}")
    with MUSL_PYTHON_ROOTFS.open("rb") as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(raw)
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if member.name == "./lib/ld-musl-x86_64.so.1" and member.isfile():
                    handle = archive.extractfile(member)
                    assert handle is not None
                    return handle.read()
    raise AssertionError("loader not found in the fixture")


def test_real_loader_version(real_loader: bytes) -> None:
    assert b"musl libc (x86_64)\nVersion %s" in real_loader
    assert version_from_loader_bytes(real_loader) == "1.2.3"


def test_loader_fallback_without_apk(tmp_path: Path, real_loader: bytes) -> None:
    fs = Rootfs(tmp_path)
    fs.write("lib/ld-musl-x86_64.so.1", real_loader, 0o755)
    fs.symlink("lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1")
    tree = HostDirTree(tmp_path)
    assert find_loaders(tree) == ["lib/ld-musl-x86_64.so.1"]
    assert detect_musl(tree, ()) == ("1.2.3", "loader lib/ld-musl-x86_64.so.1")


def test_apk_wins_over_loader(tmp_path: Path, real_loader: bytes) -> None:
    fs = Rootfs(tmp_path).alpine_base(musl="1.2.4-r1")
    fs.write("lib/ld-musl-x86_64.so.1", real_loader, 0o755)
    tree = HostDirTree(tmp_path)
    _, packages = read_apk_db(tree)
    assert musl_from_apk(packages) == ("1.2.4", "apk musl 1.2.4-r1")
    assert detect_musl(tree, packages) == ("1.2.4", "apk musl 1.2.4-r1")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00musl libc\x00Version %s\x00127.0.0.1\x001.2.4\x00", "1.2.4"),
        (b"\x00musl\x001.2.4-12-gabcdef0\x00", "1.2.4-12-gabcdef0"),
        (b"\x00musl\x000.9.15\x00", "0.9.15"),
        (b"\x00musl\x00127.0.0.1\x0010.2.3\x00", None),
        (b"\x00glibc\x001.2.3\x00", None),
        (b"", None),
    ],
)
def test_version_from_loader_bytes(data: bytes, expected: str | None) -> None:
    assert version_from_loader_bytes(data) == expected


def test_loader_for_apk_arch_preferred_and_usr_lib(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    fs.write("lib/ld-musl-aarch64.so.1", b"\x00musl\x001.2.4\x00")
    fs.write("usr/lib/ld-musl-x86_64.so.1", b"\x00musl\x001.2.3\x00")
    tree = HostDirTree(tmp_path)
    assert detect_musl(tree, (), "x86_64") == ("1.2.3", "loader usr/lib/ld-musl-x86_64.so.1")
    assert detect_musl(tree, (), "aarch64") == ("1.2.4", "loader lib/ld-musl-aarch64.so.1")
    # an empty loader (the skeleton fixture's) gives no version
    empty = Rootfs(tmp_path / "empty")
    empty.write("lib/ld-musl-x86_64.so.1", b"")
    assert detect_musl(HostDirTree(tmp_path / "empty"), ()) == (None, None)


def test_musl_package_other_name_is_ignored(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    fs.add_apk(apk_record("musl-utils", "1.2.4-r1"))
    _, packages = read_apk_db(HostDirTree(tmp_path))
    assert musl_from_apk(packages) is None


def test_glibc_loaders(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).debian_like()
    assert fs is not None
    assert find_glibc_loaders(HostDirTree(tmp_path)) == ["lib64/ld-linux-x86-64.so.2"]
    assert find_loaders(HostDirTree(tmp_path)) == []
