"""Finding Python interpreters: apk's, the official image's /usr/local one, others."""

from __future__ import annotations

from pathlib import Path

from support.alpine_rootfs import LOCAL_SITE, SITE, Rootfs

from muslin.facts.apkdb import file_owners, read_apk_db
from muslin.facts.hostdir import HostDirTree
from muslin.facts.model import ImageConfig, Owner
from muslin.facts.python import find_pythons


def _pythons(root: Path, config: ImageConfig | None = None):  # type: ignore[no-untyped-def]
    tree = HostDirTree(root)
    _, packages = read_apk_db(tree)
    return find_pythons(tree, apk_packages=packages, apk_index=file_owners(packages), config=config)


def test_apk_python(tmp_path: Path) -> None:
    Rootfs(tmp_path).alpine_base().apk_python()
    (python,) = _pythons(tmp_path)
    assert python.version == "3.11" and python.version_tuple == (3, 11)
    assert python.full_version == "3.11.6"
    assert python.full_version_source == "apk python3 3.11.6-r0"
    assert python.prefix == "usr"
    assert python.executables == ("usr/bin/python3.11", "usr/bin/python3", "usr/bin/python")
    assert python.stdlib == "usr/lib/python3.11"
    assert python.site_packages == (SITE,)
    assert python.externally_managed is False
    assert python.owner == Owner("apk", "python3", "3.11.6-r0")
    assert python.has_pip is False


def test_pep668_and_pip_and_dist_packages(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python()
    fs.write("usr/lib/python3.11/EXTERNALLY-MANAGED", "[externally-managed]\nError=use apk\n")
    fs.dist_info(SITE, "pip", "23.1.2", installer=None, modules=["pip/__init__.py"])
    fs.mkdir("usr/lib/python3.11/dist-packages")
    (python,) = _pythons(tmp_path)
    assert python.externally_managed is True
    assert python.has_pip is True
    assert python.site_packages == (SITE, "usr/lib/python3.11/dist-packages")


def test_usr_local_python_beside_apk_python(tmp_path: Path) -> None:
    Rootfs(tmp_path).alpine_base().apk_python().local_python(patchlevel="3.11.7")
    local, apk = _pythons(tmp_path)
    assert local.prefix == "usr/local" and apk.prefix == "usr"
    assert local.full_version == "3.11.7" and local.full_version_source == "patchlevel.h"
    assert local.owner == Owner("unknown")
    assert local.executables == (
        "usr/local/bin/python3.11",
        "usr/local/bin/python3",
        "usr/local/bin/python",
    )
    assert local.site_packages == (LOCAL_SITE,)
    assert apk.full_version == "3.11.6" and apk.owner.name == "python3"


def test_usr_local_version_from_image_env(tmp_path: Path) -> None:
    Rootfs(tmp_path).alpine_base().local_python(version="3.12", patchlevel=None)
    config = ImageConfig(env=("PATH=/usr/local/bin:/usr/bin", "PYTHON_VERSION=3.12.1"))
    (python,) = _pythons(tmp_path, config)
    assert python.version == "3.12"
    assert python.full_version == "3.12.1"
    assert python.full_version_source == "image env PYTHON_VERSION"
    # an env version of another series is not believed
    (other,) = _pythons(tmp_path, ImageConfig(env=("PYTHON_VERSION=3.11.8",)))
    assert other.full_version is None and other.full_version_source is None


def test_apk_version_of_another_series_is_not_used(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python()
    # a second, unpackaged interpreter in /usr: python3.12 with its headers
    fs.write("usr/bin/python3.12", b"\x7fELF", 0o755)
    fs.write("usr/lib/python3.12/os.py", "")
    fs.write("usr/include/python3.12/patchlevel.h", '#define PY_VERSION              "3.12.0rc1"\n')
    newer, older = _pythons(tmp_path)
    assert newer.version == "3.12" and older.version == "3.11"
    assert newer.full_version == "3.12.0rc1" and newer.full_version_source == "patchlevel.h"
    assert newer.owner.kind == "unknown"
    # python3 -> python3.11 belongs to the apk interpreter only
    assert newer.executables == ("usr/bin/python3.12",)
    assert "usr/bin/python3" in older.executables


def test_root_prefix_python_and_merged_usr(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path / "plain")
    fs.write("bin/python3.10", b"\x7fELF", 0o755)
    fs.write("lib/python3.10/os.py", "")
    fs.mkdir("lib/python3.10/site-packages")
    (python,) = _pythons(tmp_path / "plain")
    assert python.prefix == "" and python.stdlib == "lib/python3.10"
    assert python.executables == ("bin/python3.10",)
    assert python.site_packages == ("lib/python3.10/site-packages",)

    merged = Rootfs(tmp_path / "merged")
    merged.write("usr/bin/python3.11", b"\x7fELF", 0o755)
    merged.write("usr/lib/python3.11/os.py", "")
    merged.symlink("bin", "usr/bin")
    merged.symlink("lib", "usr/lib")
    (only,) = _pythons(tmp_path / "merged")
    assert only.prefix == "usr"


def test_leftover_stdlib_dir_is_not_an_interpreter(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python()
    fs.dist_info("usr/lib/python3.10/site-packages", "old", "1.0")
    (python,) = _pythons(tmp_path)
    assert python.version == "3.11"


def test_absolute_symlinks_and_unversioned_binary(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    fs.write("usr/local/bin/python3.11", b"\x7fELF", 0o755)
    fs.symlink("usr/local/bin/python3", "/usr/local/bin/python3.11")
    fs.write("usr/local/bin/python", b"#!/bin/sh\n", 0o755)  # a wrapper, not a link
    fs.write("usr/local/lib/python3.11/os.py", "")
    (python,) = _pythons(tmp_path)
    assert python.executables == (
        "usr/local/bin/python3.11",
        "usr/local/bin/python3",
        "usr/local/bin/python",
    )


def test_no_python(tmp_path: Path) -> None:
    Rootfs(tmp_path).alpine_base()
    assert _pythons(tmp_path) == ()
