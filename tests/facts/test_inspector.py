"""Whole-image inspection of root filesystem trees: synthetic Alpine layouts and the real Alpine tree."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.alpine_rootfs import LOCAL_SITE, SITE, Rootfs, apk_record, real_alpine_tree

from muslin.errors import CorruptImageError, UnsupportedImageError
from muslin.facts.hostdir import HostDirTree
from muslin.facts.inspector import inspect_opened, inspect_tree
from muslin.facts.model import ImageConfig, ImageFacts, Owner
from muslin.facts.tree import FileTree
from muslin.image.sources.base import OpenedImage


@pytest.fixture(scope="module")
def real_alpine() -> Path:
    return real_alpine_tree()


class _WithFile:
    """A FileTree over another one, plus one extra regular file (the base stays untouched)."""

    def __init__(self, base: FileTree, path: str, data: bytes) -> None:
        self.base, self.path, self.data = base, path, data

    def read_bytes(self, path: str) -> bytes | None:
        return self.data if path == self.path else self.base.read_bytes(path)

    def is_file(self, path: str) -> bool:
        return path == self.path or self.base.is_file(path)

    def is_dir(self, path: str) -> bool:
        return self.base.is_dir(path)

    def exists(self, path: str) -> bool:
        return path == self.path or self.base.exists(path)

    def listdir(self, path: str) -> list[str]:
        names = self.base.listdir(path)
        parent, _, name = self.path.rpartition("/")
        return sorted({*names, name}) if path == parent else names

    def readlink(self, path: str) -> str | None:
        return self.base.readlink(path)


def _inspect(root: Path, config: ImageConfig | None = None) -> ImageFacts:
    return inspect_tree(
        HostDirTree(root), config or ImageConfig(), reference=f"dir:{root}", source="dir", digest=None
    )


def test_real_alpine_3_18_3(real_alpine: Path) -> None:
    start = time.perf_counter()
    facts = _inspect(real_alpine)
    elapsed = time.perf_counter() - start
    assert facts.is_alpine
    assert facts.alpine_release == "3.18.3"
    assert facts.os_release["PRETTY_NAME"] == "Alpine Linux v3.18"
    assert facts.apk_db_path == "lib/apk/db/installed"
    assert len(facts.apk_packages) == 310
    assert facts.apk_arch == "x86_64"
    assert len(facts.apk_repositories) == 2
    assert (facts.musl_version, facts.musl_version_source) == ("1.2.4", "apk musl 1.2.4-r1")
    (python,) = facts.pythons
    assert python.full_version == "3.11.6"
    assert python.full_version_source == "apk python3 3.11.6-r0"
    assert python.owner == Owner("apk", "python3", "3.11.6-r0")
    assert python.externally_managed is False  # Alpine added EXTERNALLY-MANAGED in 3.19
    assert python.has_pip is False
    assert python.site_packages == (SITE,)
    # python3-pyc, pyc and the ensurepip wheels are not installed distributions
    assert facts.distributions == ()
    assert {"python3-pyc", "python3-pycache-pyc0", "pyc"} <= {p.name for p in facts.apk_packages}
    assert elapsed < 1.0
    data = json.loads(json.dumps(facts.to_dict()))
    assert data["musl"] == {"version": "1.2.4", "source": "apk musl 1.2.4-r1"}
    assert data["apk"]["database"] == "/lib/apk/db/installed"


def test_real_alpine_with_pep668(real_alpine: Path) -> None:
    marker = "usr/lib/python3.11/EXTERNALLY-MANAGED"
    tree = _WithFile(HostDirTree(real_alpine), marker, b"[externally-managed]\nError=apk\n")
    assert isinstance(tree, FileTree)
    facts = inspect_tree(tree, ImageConfig(), reference="x", source="dir", digest=None)
    assert facts.pythons[0].externally_managed is True
    assert _inspect(real_alpine).pythons[0].externally_managed is False


def test_synthetic_image_with_every_form(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python().local_python(patchlevel=None)
    fs.mysqlclient_apk()
    fs.dist_info(SITE, "pip", "23.1.2", installer=None, modules=["pip/__init__.py"])
    fs.egg_info_file(SITE, "oldstyle", "0.1")
    fs.egg_dir(SITE, "EggDir", "1.0")
    fs.egg_zip(SITE, "Zipped", "2.0")
    fs.egg_link(SITE, "DevProj", "0.1", "src/devproj")
    fs.dist_info(LOCAL_SITE, "requests", "2.31.0", installer="pip", requires=["idna<4,>=2.5"])
    config = ImageConfig(architecture="amd64", env=("PYTHON_VERSION=3.11.7",))
    facts = inspect_tree(
        HostDirTree(tmp_path),
        config,
        reference="docker-archive:x.tar",
        source="docker-archive",
        digest="sha256:" + "0" * 64,
        canonical_reference=None,
    )
    assert [p.prefix for p in facts.pythons] == ["usr/local", "usr"]
    assert facts.python is facts.pythons[0]
    assert facts.pythons[0].full_version == "3.11.7"
    assert facts.pythons[0].full_version_source == "image env PYTHON_VERSION"
    assert facts.pythons[1].has_pip is True and facts.pythons[0].has_pip is False
    assert [(d.canonical_name, d.form) for d in facts.distributions] == [
        ("devproj", "egg-link"),
        ("eggdir", "egg"),
        ("mysqlclient", "egg-info"),
        ("oldstyle", "egg-info-file"),
        ("pip", "dist-info"),
        ("requests", "dist-info"),
        ("zipped", "egg-zip"),
    ]
    mysql = next(d for d in facts.distributions if d.canonical_name == "mysqlclient")
    assert mysql.owner.label == "apk py3-mysqlclient 2.1.1-r3"
    data = facts.to_dict()
    assert data["schema"] == "muslin.inspect/1"
    assert data["digest"] == "sha256:" + "0" * 64
    assert data["platform"] == "linux/amd64"
    assert {d["site_packages"] for d in data["distributions"]} == {"/" + SITE, "/" + LOCAL_SITE}
    assert "files" not in data["apk"]["packages"][0]
    assert facts.to_dict(with_files=True)["apk"]["packages"][0]["files"]


def test_inspect_opened(tmp_path: Path) -> None:
    Rootfs(tmp_path).alpine_base().apk_python()
    opened = OpenedImage(
        source="dir",
        reference=f"dir:{tmp_path}",
        canonical_reference=None,
        digest=None,
        config=ImageConfig(architecture="arm64", variant="v8"),
        tree=HostDirTree(tmp_path),
    )
    facts = inspect_opened(opened)
    assert facts.reference == f"dir:{tmp_path}" and facts.source == "dir"
    assert facts.config.platform == "linux/arm64/v8"
    assert facts.pythons[0].full_version == "3.11.6"


def test_scratch_like_musl_without_apk_is_fine(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    fs.write("lib/ld-musl-x86_64.so.1", b"\x00musl libc (x86_64)\nVersion %s\x001.2.4\x00", 0o755)
    fs.local_python()
    fs.dist_info(LOCAL_SITE, "six", "1.16.0", installer="pip", modules=["six.py"])
    facts = _inspect(tmp_path)
    assert facts.apk_db_path is None and facts.apk_packages == ()
    assert facts.os_release == {} and not facts.is_alpine
    assert (facts.musl_version, facts.musl_version_source) == ("1.2.4", "loader lib/ld-musl-x86_64.so.1")
    assert [d.name for d in facts.distributions] == ["six"]


def test_debian_like_rootfs_is_unsupported(tmp_path: Path) -> None:
    Rootfs(tmp_path).debian_like()
    with pytest.raises(UnsupportedImageError) as info:
        _inspect(tmp_path)
    message = str(info.value)
    assert message.startswith("not an Alpine/musl image: os-release ID=debian")
    assert "no apk database" in message and "no musl loader" in message
    assert info.value.exit_code == 6


def test_glibc_with_a_musl_loader_is_unsupported(tmp_path: Path) -> None:
    """Debian with its ``musl`` package installed: a musl loader, but a glibc system."""
    fs = Rootfs(tmp_path).debian_like()
    fs.write("lib/ld-musl-x86_64.so.1", b"\x00musl\x001.2.3\x00", 0o755)
    with pytest.raises(UnsupportedImageError, match=r"glibc loader /lib64/ld-linux-x86-64\.so\.2"):
        _inspect(tmp_path)


def test_apk_without_musl_on_glibc_is_unsupported(tmp_path: Path) -> None:
    """An apk-based glibc distribution (Wolfi-like)."""
    fs = Rootfs(tmp_path)
    fs.write("etc/os-release", "ID=wolfi\nNAME=Wolfi\n")
    fs.add_apk(apk_record("glibc", "2.38-r1", files=["lib/ld-linux-x86-64.so.2"]))
    fs.write("lib/ld-linux-x86-64.so.2", b"\x7fELF")
    with pytest.raises(UnsupportedImageError, match="apk database at /lib/apk/db/installed without musl"):
        _inspect(tmp_path)


def test_empty_rootfs_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedImageError, match="no os-release, no apk database, no musl loader"):
        _inspect(tmp_path)


def test_alpine_without_python(tmp_path: Path) -> None:
    Rootfs(tmp_path).alpine_base()
    facts = _inspect(tmp_path)
    assert facts.pythons == () and facts.python is None and facts.distributions == ()


def test_corrupt_apk_db(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base()
    (fs.path("lib/apk/db/installed")).write_text("P:musl\nV:1.2.4-r1\ngarbage\n")
    with pytest.raises(CorruptImageError, match=r"^/lib/apk/db/installed:3: malformed"):
        _inspect(tmp_path)
