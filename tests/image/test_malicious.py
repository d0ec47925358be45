"""Hostile tar entries: nothing escapes, reads stay inside the virtual root."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from support.imagebuilder import Image, Layer

from muslin.image.open import open_image


def _snapshot(root: Path) -> dict[str, float]:
    return {str(p): p.lstat().st_mtime for p in root.rglob("*")}


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory that stands for "the host": cwd and TMPDIR point into it."""
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "passwd").write_text("host-secret\n")
    work = host / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(host / "tmp"))
    (host / "tmp").mkdir()
    return host


def evil_image(sentinel: Path) -> Image:
    layer = Layer().add_dirs("etc", "usr/lib/python3.11/site-packages")
    layer.add_file("etc/os-release", "ID=alpine\n")
    layer.add_raw("../../etc/x", b"climbed")
    layer.add_raw("../outside.txt", b"climbed")
    layer.add_raw("usr/../../escape", b"climbed")
    layer.add_raw("/abs/path", b"absolute")
    layer.add_raw(f"{sentinel}/etc/passwd", b"overwritten")
    layer.add_symlink("evil", "/etc/passwd")
    layer.add_symlink("evil2", "../../../../etc")
    layer.add_symlink("hostlink", str(sentinel / "etc"))
    layer.add_raw("evil2/through.txt", b"written through a symlink")
    layer.add_raw("hostlink/passwd", b"written through an absolute symlink")
    layer.add_hardlink("hard-out", "../outside")
    layer.add_hardlink("hard-abs", str(sentinel / "etc" / "passwd"))
    layer.add_hardlink("hard-ok", "etc/os-release")
    layer.add_symlink("loop1", "loop2").add_symlink("loop2", "loop1")
    layer.add_raw("dev-null", kind=tarfile.CHRTYPE)
    # A second layer writes a "metadata file" through the escaping symlink dir.
    top = Layer().add_raw("evil2/os-release", b"ID=evil\n")
    return Image([layer, top])


@pytest.mark.parametrize("form", ["docker-archive", "oci-dir", "oci-archive"])
def test_nothing_escapes(sentinel: Path, form: str) -> None:
    image = evil_image(sentinel)
    target = sentinel / "work" / "img"
    if form == "docker-archive":
        image.write_docker_archive(target)
    elif form == "oci-dir":
        image.write_oci_layout(target)
    else:
        image.write_oci_archive(target)
    before = _snapshot(sentinel)
    opened = open_image(f"{form}:{target}")
    after = _snapshot(sentinel)
    assert before == after, "the host directory changed"
    assert (sentinel / "etc" / "passwd").read_text() == "host-secret\n"
    assert os.listdir(sentinel / "tmp") == []
    tree = opened.tree

    # Climbing entries are dropped; absolute names land inside the root.
    assert not tree.exists("x") and not tree.exists("outside.txt") and not tree.exists("escape")
    assert tree.is_file("abs/path")
    # Symlinks stay symlinks; resolving them never leaves the virtual root.
    assert tree.readlink("evil") == "/etc/passwd"
    assert tree.read_bytes("evil") is None  # no etc/passwd in the image
    assert tree.readlink("evil2") == "../../../../etc"
    assert tree.is_dir("evil2") and tree.listdir("evil2") == tree.listdir("etc")
    # Files written "through" the symlink went into the image's own etc/.
    assert tree.is_file("etc/through.txt")
    # (content is kept by tar name, so a file written through a symlink is
    # present, but its content is not retained: it never comes from the host.)
    assert tree.is_file("etc/os-release") and tree.is_file("evil2/os-release")
    assert tree.read_bytes("evil2/os-release") in (None, b"ID=evil\n")
    inside = str(sentinel / "etc").lstrip("/")
    assert tree.is_file(f"{inside}/passwd")  # the absolute symlink target, re-rooted
    # Hard links to outside or unknown paths are dropped; inside ones work.
    assert not tree.exists("hard-out")
    # An absolute link name is re-rooted: it names the image's own (re-rooted) file.
    assert tree.read_bytes("hard-abs") != b"host-secret\n"
    assert tree.read_bytes("hard-ok") is None or tree.is_file("hard-ok")
    # Loops and devices are harmless.
    assert tree.read_bytes("loop1") is None and not tree.is_dir("loop1")
    assert tree.exists("dev-null") and not tree.is_file("dev-null")


def test_symlinked_parent_cannot_reach_host_during_reads(sentinel: Path) -> None:
    layer = Layer().add_symlink("root", "/").add_symlink("up", "../../../..")
    layer.add_dirs("etc").add_file("etc/alpine-release", "3.18.3\n")
    target = sentinel / "work" / "img.tar"
    Image([layer]).write_docker_archive(target)
    tree = open_image(f"docker-archive:{target}").tree
    assert tree.read_bytes("root/etc/alpine-release") == b"3.18.3\n"
    assert tree.read_bytes("up/up/etc/alpine-release") == b"3.18.3\n"
    assert tree.read_bytes(f"up/{sentinel}/etc/passwd") is None
