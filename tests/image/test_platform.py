"""Platforms: parsing, defaults, host mapping and apk / platform_machine names."""

from __future__ import annotations

import platform as pyplatform

import pytest

from muslin.errors import UsageError
from muslin.image.platform import (
    Platform,
    from_apk_arch,
    from_machine,
    host_platform,
    parse_platform,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm64", Platform("linux", "arm64")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("linux/aarch64", Platform("linux", "arm64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("arm64", Platform("linux", "arm64")),
        ("linux/armhf", Platform("linux", "arm", "v6")),
        ("linux/arm/7", Platform("linux", "arm", "v7")),
    ],
)
def test_parse(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("text", ["", "linux//amd64", "a/b/c/d", "/"])
def test_parse_invalid(text: str) -> None:
    with pytest.raises(UsageError):
        parse_platform(text)


def test_matching_defaults_variants() -> None:
    assert parse_platform("linux/arm64").matches(parse_platform("linux/arm64/v8"))
    assert parse_platform("linux/arm").matches(parse_platform("linux/arm/v7"))
    assert not parse_platform("linux/arm/v6").matches(parse_platform("linux/arm/v7"))
    assert not parse_platform("linux/amd64").matches(parse_platform("linux/arm64"))
    assert str(parse_platform("linux/arm64/v8")) == "linux/arm64/v8"


@pytest.mark.parametrize(
    ("docker", "apk", "machine"),
    [
        ("linux/amd64", "x86_64", "x86_64"),
        ("linux/arm64/v8", "aarch64", "aarch64"),
        ("linux/arm64", "aarch64", "aarch64"),
        ("linux/arm/v7", "armv7", "armv7l"),
        ("linux/arm/v6", "armhf", "armv6l"),
        ("linux/386", "x86", "i686"),
        ("linux/ppc64le", "ppc64le", "ppc64le"),
        ("linux/s390x", "s390x", "s390x"),
        ("linux/riscv64", "riscv64", "riscv64"),
    ],
)
def test_arch_names(docker: str, apk: str, machine: str) -> None:
    p = parse_platform(docker)
    assert p.apk_arch == apk
    assert p.machine == machine
    assert from_apk_arch(apk).matches(p)
    assert from_machine(machine).matches(p)


def test_host_platform() -> None:
    host = host_platform()
    assert host.os == "linux"
    assert host.machine == pyplatform.machine()
    assert from_machine("aarch64") == Platform("linux", "arm64", "v8")
    assert from_machine("armv7l") == Platform("linux", "arm", "v7")
    assert from_machine("x86_64") == Platform("linux", "amd64")
