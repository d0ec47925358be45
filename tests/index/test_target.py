"""Target tags, markers, the Alpine release table and release profiles."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.tags import Tag

from muslin.errors import UnsupportedImageError, UsageError
from muslin.facts.model import ImageConfig, ImageFacts, Owner, PythonInstall
from muslin.target import build_target, find_release, load_releases, profile_facts
from muslin.target.arch import docker_platform_to_machine, to_machine
from muslin.target.target import Target
from tests.support.common import MUSL_PYTHON_ROOTFS, need

T311 = Target((3, 11), "3.11.6", (1, 2), "x86_64", "linux/amd64")


def test_tags_order_cp311_musl12_x86_64() -> None:
    tags = [str(t) for t in T311.tags()]
    assert tags[:9] == [
        "cp311-cp311-musllinux_1_2_x86_64",
        "cp311-cp311-musllinux_1_1_x86_64",
        "cp311-cp311-musllinux_1_0_x86_64",
        "cp311-abi3-musllinux_1_2_x86_64",
        "cp311-abi3-musllinux_1_1_x86_64",
        "cp311-abi3-musllinux_1_0_x86_64",
        "cp311-none-musllinux_1_2_x86_64",
        "cp311-none-musllinux_1_1_x86_64",
        "cp311-none-musllinux_1_0_x86_64",
    ]
    assert "cp32-abi3-musllinux_1_0_x86_64" in tags
    assert "cp31-abi3-musllinux_1_2_x86_64" not in tags
    assert tags.index("cp310-abi3-musllinux_1_2_x86_64") < tags.index("cp32-abi3-musllinux_1_2_x86_64")
    assert tags.index("py3-none-musllinux_1_2_x86_64") < tags.index("py3-none-any")
    assert tags[-1] == "py30-none-any"
    assert {"cp311-none-any", "py311-none-any", "py3-none-any"} <= set(tags)
    assert not any("manylinux" in t or t.split("-")[2] == "linux_x86_64" for t in tags)
    assert not any(t.endswith("musllinux_1_3_x86_64") for t in tags)


def test_linux_tags_only_when_accepted() -> None:
    plain = [str(t) for t in T311.tags()]
    linux = [str(t) for t in T311.tags(accept_linux=True)]
    assert "cp311-cp311-linux_x86_64" not in plain
    pos = linux.index("cp311-cp311-linux_x86_64")
    assert linux.index("cp311-cp311-musllinux_1_0_x86_64") < pos < linux.index("cp311-abi3-musllinux_1_2_x86_64")
    ranks = T311.tag_ranks(accept_linux=True)
    assert ranks[Tag("cp311", "cp311", "linux_x86_64")] == pos


def test_aarch64_and_other_versions() -> None:
    t = Target((3, 12), "3.12.12", (1, 2), "aarch64", "linux/arm64")
    tags = [str(x) for x in t.tags()]
    assert tags[0] == "cp312-cp312-musllinux_1_2_aarch64"
    assert all("x86_64" not in x for x in tags)
    t1 = Target((3, 9), "3.9.17", (1, 1), "x86_64", "linux/amd64")
    assert str(t1.tags()[0]) == "cp39-cp39-musllinux_1_1_x86_64"
    assert not any("musllinux_1_2" in str(x) for x in t1.tags())


def test_tags_do_not_depend_on_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from muslin.target import target as target_mod

    before = [str(t) for t in T311.tags()]
    target_mod._tags.cache_clear()
    target_mod._ranks.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(sys, "version_info", (3, 8, 0, "final", 0))
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    monkeypatch.setattr(platform, "python_implementation", lambda: "PyPy")
    import sysconfig

    monkeypatch.setattr(sysconfig, "get_platform", lambda: "macosx-14.0-arm64")
    monkeypatch.setattr(sysconfig, "get_config_var", lambda name: None)
    after = [str(t) for t in T311.tags()]
    assert after == before
    assert T311.markers()["sys_platform"] == "linux"
    target_mod._tags.cache_clear()
    target_mod._ranks.cache_clear()


def test_markers_complete_and_evaluated() -> None:
    env = T311.markers()
    assert set(env) == {
        "implementation_name", "implementation_version", "os_name", "platform_machine",
        "platform_python_implementation", "platform_release", "platform_system",
        "platform_version", "python_full_version", "python_version", "sys_platform",
    }
    assert env["python_version"] == "3.11"
    assert env["python_full_version"] == env["implementation_version"] == "3.11.6"
    assert env["platform_machine"] == "x86_64"
    assert Marker('python_version < "3.11"').evaluate(dict(env)) is False
    assert Marker('python_full_version >= "3.11.6"').evaluate(dict(env)) is True
    assert Marker('platform_machine == "aarch64"').evaluate(dict(env)) is False
    assert Marker('sys_platform == "linux" and platform_system == "Linux"').evaluate(dict(env))
    assert Marker('implementation_name == "cpython" and os_name == "posix"').evaluate(dict(env))


def test_info() -> None:
    info = T311.info()
    assert info.describe() == "CPython 3.11.6, musllinux_1_2_x86_64"
    assert info.platform == "linux/amd64" and info.musl_version == "1.2"


def test_release_table() -> None:
    rel = load_releases()
    for key in ["3.14", "3.15", "3.16", "3.17", "3.18", "3.19", "3.20", "3.21", "3.22", "3.23", "3.24", "edge"]:
        assert key in rel, key
    assert rel["3.18"].python_version == (3, 11) and rel["3.18"].musl_version == (1, 2)
    assert rel["3.19"].python_version == (3, 11) and rel["3.19"].externally_managed
    assert rel["3.20"].python_version == (3, 12) and rel["3.20"].musl.startswith("1.2.5")
    assert rel["3.14"].musl.startswith("1.2.2") and rel["3.16"].musl.startswith("1.2.3")
    assert not rel["3.18"].externally_managed
    assert find_release("3.18.3") is rel["3.18"]
    assert find_release("3.21.0_alpha20240807") is rel["edge"]
    assert find_release("2.0") is None


def test_release_table_py3_pip() -> None:
    rel = load_releases()
    assert rel["3.18"].py3_pip == "23.1.2" and rel["3.18"].py3_pip_apk == "23.1.2-r0"
    assert rel["3.18"].py3_pip_version == (23, 1)
    assert rel["3.20"].py3_pip == "24.0" and rel["3.20"].py3_pip_version == (24, 0)
    assert rel["3.15"].py3_pip_version == (20, 3) and rel["3.19"].py3_pip_version == (23, 3)
    previous = (0, 0)
    for key, row in rel.items():
        # every row: the apk version is pip's version plus an -rN revision
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", row.py3_pip), key
        assert re.fullmatch(re.escape(row.py3_pip) + r"-r\d+", row.py3_pip_apk), key
        # newer releases never ship an older pip
        assert row.py3_pip_version >= previous, key
        previous = row.py3_pip_version


def test_musl_python_fixture_py3_pip_matches_table() -> None:
    """The musl-python fixture's apk database lists the 3.18 row's py3-pip."""
    need(MUSL_PYTHON_ROOTFS.exists(), f"fixture missing: {MUSL_PYTHON_ROOTFS}")
    proc = subprocess.run(
        f"zstd -dc {MUSL_PYTHON_ROOTFS} | tar -xO ./lib/apk/db/installed",
        shell=True, check=True, capture_output=True, text=True,
    )
    versions = {}
    for block in proc.stdout.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if len(line) > 2 and line[1] == ":")
        if "P" in fields:
            versions[fields["P"]] = fields["V"]
    assert versions["py3-pip"] == load_releases()["3.18"].py3_pip_apk


def test_release_table_is_package_data() -> None:
    from importlib import resources

    assert resources.files("muslin.target").joinpath("alpine-releases.toml").is_file()


def test_profile_facts() -> None:
    facts = profile_facts("3.18", "x86_64")
    assert facts.source == "profile"
    assert facts.pythons == () and facts.distributions == ()
    assert facts.alpine_release == "3.18" and facts.apk_arch == "x86_64"
    assert facts.musl_version == load_releases()["3.18"].musl
    t = build_target(facts)
    assert t.python_from_apk and t.python_version == (3, 11) and t.musl == (1, 2)
    assert t.platform == "linux/amd64"
    arm = profile_facts("3.20", "linux/arm64")
    assert arm.apk_arch == "aarch64" and arm.config.platform == "linux/arm64"
    with pytest.raises(UsageError):
        profile_facts("2.1", "x86_64")


def _facts_with_python(full: str | None = "3.11.6", em: bool = False) -> ImageFacts:
    py = PythonInstall(
        version="3.11", full_version=full, full_version_source="apk python3", prefix="usr",
        executables=("usr/bin/python3.11",), stdlib="usr/lib/python3.11",
        site_packages=("usr/lib/python3.11/site-packages",), externally_managed=em,
        owner=Owner("apk", "python3", "3.11.6-r0"),
    )
    base = profile_facts("3.18", "x86_64")
    return ImageFacts(
        reference="fixture", source="dir", digest=None, config=ImageConfig(),
        os_release=base.os_release, alpine_release="3.18.3", apk_repositories=(),
        apk_arch="x86_64", apk_db_path="lib/apk/db/installed", apk_packages=(),
        musl_version="1.2.4", musl_version_source="apk musl", pythons=(py,), distributions=(),
    )


def test_build_target_from_image_python() -> None:
    t = build_target(_facts_with_python())
    assert (t.python_version, t.python_full_version, t.musl, t.arch) == ((3, 11), "3.11.6", (1, 2), "x86_64")
    assert not t.python_from_apk
    arm = build_target(_facts_with_python(), platform="linux/arm64")
    assert arm.arch == "aarch64" and arm.platform == "linux/arm64"
    assert arm.markers()["platform_machine"] == "aarch64"
    over = build_target(_facts_with_python(), python="3.12")
    assert over.python_version == (3, 12) and over.python_full_version == "3.12.0"
    unknown_full = build_target(_facts_with_python(full=None))
    assert unknown_full.python_full_version == load_releases()["3.18"].python3


def test_build_target_errors() -> None:
    facts = profile_facts("3.18", "x86_64")
    with pytest.raises(UsageError):
        build_target(facts, platform="linux/mips")
    with pytest.raises(UsageError):
        build_target(facts, python="three")
    bare = ImageFacts(
        reference="x", source="dir", digest=None, config=ImageConfig(), os_release={},
        alpine_release=None, apk_repositories=(), apk_arch=None, apk_db_path=None,
        apk_packages=(), musl_version=None, musl_version_source=None, pythons=(), distributions=(),
    )
    with pytest.raises(UnsupportedImageError):
        build_target(bare)


def test_arch_mapping() -> None:
    assert docker_platform_to_machine("linux/amd64") == "x86_64"
    assert docker_platform_to_machine("linux/arm64/v8") == "aarch64"
    assert docker_platform_to_machine("linux/arm/v7") == "armv7l"
    assert to_machine("armv7") == "armv7l" and to_machine("amd64") == "x86_64"


def test_fixture_release_matches_table(alpine_fixture: Path) -> None:
    """The 3.18 row is the real Alpine 3.18.3 apk database of the shared fixture."""
    db = (alpine_fixture / "rootfs" / "lib" / "apk" / "db" / "installed").read_text()
    versions = {}
    for block in db.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if len(line) > 2 and line[1] == ":")
        if "P" in fields:
            versions[fields["P"]] = fields["V"]
    row = load_releases()["3.18"]
    assert versions["python3"] == row.python3_apk
    assert versions["musl"] == row.musl_apk
    assert (alpine_fixture / "rootfs/etc/alpine-release").read_text().startswith("3.18")
