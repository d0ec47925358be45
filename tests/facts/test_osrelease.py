"""os-release, alpine-release, apk repositories and arch."""

from __future__ import annotations

from pathlib import Path

from support.alpine_rootfs import Rootfs
from support.common import DATA

from muslin.facts.hostdir import HostDirTree
from muslin.facts.osrelease import (
    parse_os_release,
    read_alpine_release,
    read_apk_arch,
    read_apk_repositories,
    read_os_release,
)

REAL = HostDirTree(DATA / "alpine-3.18.3")


def test_real_alpine_files() -> None:
    assert read_os_release(REAL) == {
        "NAME": "Alpine Linux",
        "ID": "alpine",
        "VERSION_ID": "3.18.3",
        "PRETTY_NAME": "Alpine Linux v3.18",
        "HOME_URL": "https://alpinelinux.org/",
        "BUG_REPORT_URL": "https://gitlab.alpinelinux.org/alpine/aports/-/issues",
    }
    assert read_alpine_release(REAL) == "3.18.3"
    assert read_apk_arch(REAL) == "x86_64"
    assert read_apk_repositories(REAL) == (
        "https://dl-cdn.alpinelinux.org/alpine/v3.18/main",
        "https://dl-cdn.alpinelinux.org/alpine/v3.18/community",
    )


def test_shell_quoting() -> None:
    text = (
        "# comment\n"
        "\n"
        "ID=alpine\n"
        "NAME='Single Quoted'\n"
        'PRETTY_NAME="Say \\"hi\\" \\$HOME \\\\ ok"\n'
        'BROKEN="unterminated\n'
        "not a pair\n"
        "bad key!=x\n"
        "EMPTY=\n"
        "  SPACED = value  \n"
    )
    parsed = parse_os_release(text)
    assert parsed["ID"] == "alpine"
    assert parsed["NAME"] == "Single Quoted"
    assert parsed["PRETTY_NAME"] == 'Say "hi" $HOME \\ ok'
    assert parsed["BROKEN"] == "unterminated"
    assert parsed["EMPTY"] == ""
    assert parsed["SPACED"] == "value"
    assert "bad key!" not in parsed


def test_usr_lib_fallback_and_symlink(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    fs.write("usr/lib/os-release", "ID=alpine\nVERSION_ID=3.19.0\n")
    assert read_os_release(HostDirTree(tmp_path))["VERSION_ID"] == "3.19.0"
    fs.symlink("etc/os-release", "../usr/lib/os-release")
    assert read_os_release(HostDirTree(tmp_path))["ID"] == "alpine"


def test_absent_files(tmp_path: Path) -> None:
    tree = HostDirTree(tmp_path)
    assert read_os_release(tree) == {}
    assert read_alpine_release(tree) is None
    assert read_apk_repositories(tree) == ()
    assert read_apk_arch(tree) is None
    fs = Rootfs(tmp_path)
    fs.write("etc/alpine-release", "\n")
    fs.write("etc/apk/arch", "  \n")
    fs.write("etc/apk/repositories", "# only\n\n   \n@testing https://x/edge/testing\n")
    assert read_alpine_release(tree) is None
    assert read_apk_arch(tree) is None
    assert read_apk_repositories(tree) == ("@testing https://x/edge/testing",)
