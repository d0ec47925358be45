"""The resolution target: CPython X.Y on musl X.Y for one arch, never the host.

Wheel tags and the PEP 508 marker environment are computed from the image's
facts with every argument passed explicitly to ``packaging.tags``, so nothing
about the machine muslin runs on leaks into a plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from packaging.tags import Tag, compatible_tags, cpython_tags

from muslin.errors import UnsupportedImageError, UsageError
from muslin.facts.model import ImageFacts
from muslin.plan.model import TargetInfo
from muslin.target.arch import (
    apk_arch_to_machine,
    docker_platform_to_machine,
    machine_to_docker_platform,
    to_machine,
)
from muslin.target.releases import AlpineRelease, find_release


@dataclass(frozen=True)
class Target:
    """What wheels must be built for, and how markers evaluate."""

    python_version: tuple[int, int]
    python_full_version: str
    musl: tuple[int, int]
    arch: str
    """``platform_machine``: ``x86_64``, ``aarch64`` ..."""
    platform: str
    """Docker platform string: ``linux/amd64``."""
    python_from_apk: bool = False
    """The image has no Python: the interpreter will be ``apk add python3``."""
    externally_managed: bool = False
    alpine_release: str | None = None

    @property
    def python_tag(self) -> str:
        return f"cp{self.python_version[0]}{self.python_version[1]}"

    @property
    def platform_tag(self) -> str:
        return f"musllinux_{self.musl[0]}_{self.musl[1]}_{self.arch}"

    def platforms(self, accept_linux: bool = False) -> list[str]:
        """``musllinux_1_Y_arch`` for Y from the musl minor down to 0 (then ``linux_arch``)."""
        major, minor = self.musl
        plats = [f"musllinux_{major}_{y}_{self.arch}" for y in range(minor, -1, -1)]
        if accept_linux:
            plats.append(f"linux_{self.arch}")
        return plats

    def tags(self, accept_linux: bool = False) -> list[Tag]:
        """Ordered wheel tags, best first (``linux_<arch>`` only for indexes that accept it)."""
        return list(_tags(self.python_version, self.musl, self.arch, accept_linux))

    def tag_ranks(self, accept_linux: bool = False) -> dict[Tag, int]:
        """Tag -> position in :meth:`tags` (lower is better)."""
        return _ranks(self.python_version, self.musl, self.arch, accept_linux)

    def tag_string_ranks(self, accept_linux: bool = False) -> dict[str, int]:
        """``interpreter-abi-platform`` string -> rank (a fast pre-check on file names)."""
        return _string_ranks(self.python_version, self.musl, self.arch, accept_linux)

    def markers(self) -> dict[str, str]:
        """The complete PEP 508 marker environment of the target (all eleven keys)."""
        major, minor = self.python_version
        return {
            "implementation_name": "cpython",
            "implementation_version": self.python_full_version,
            "os_name": "posix",
            "platform_machine": self.arch,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": self.python_full_version,
            "python_version": f"{major}.{minor}",
            "sys_platform": "linux",
        }

    def info(self) -> TargetInfo:
        major, minor = self.python_version
        return TargetInfo(
            python_version=f"{major}.{minor}",
            python_full_version=self.python_full_version,
            musl_version=f"{self.musl[0]}.{self.musl[1]}",
            arch=self.arch,
            platform=self.platform,
        )

    def describe(self) -> str:
        """``CPython 3.11.6, musllinux_1_2_x86_64``."""
        return self.info().describe()


@lru_cache(maxsize=32)
def _tags(
    python_version: tuple[int, int], musl: tuple[int, int], arch: str, accept_linux: bool
) -> tuple[Tag, ...]:
    major, minor = musl
    plats = [f"musllinux_{major}_{y}_{arch}" for y in range(minor, -1, -1)]
    if accept_linux:
        plats.append(f"linux_{arch}")
    interp = f"cp{python_version[0]}{python_version[1]}"
    out: list[Tag] = list(cpython_tags(python_version, abis=[interp], platforms=plats))
    out.extend(compatible_tags(python_version, interpreter=interp, platforms=plats))
    seen: set[Tag] = set()
    unique = []
    for tag in out:
        if tag not in seen:
            seen.add(tag)
            unique.append(tag)
    return tuple(unique)


@lru_cache(maxsize=32)
def _ranks(
    python_version: tuple[int, int], musl: tuple[int, int], arch: str, accept_linux: bool
) -> dict[Tag, int]:
    return {tag: i for i, tag in enumerate(_tags(python_version, musl, arch, accept_linux))}


@lru_cache(maxsize=32)
def _string_ranks(
    python_version: tuple[int, int], musl: tuple[int, int], arch: str, accept_linux: bool
) -> dict[str, int]:
    return {str(tag): i for i, tag in enumerate(_tags(python_version, musl, arch, accept_linux))}


_VERSION_RE = re.compile(r"^(\d+)\.(\d+)")


def _major_minor(text: str, what: str) -> tuple[int, int]:
    m = _VERSION_RE.match(text.strip())
    if not m:
        raise UsageError(f"invalid {what} version {text!r} (expected X.Y)")
    return int(m.group(1)), int(m.group(2))


def build_target(
    facts: ImageFacts, *, platform: str | None = None, python: str | None = None
) -> Target:
    """The target for an inspected image (``platform``/``python`` override the image)."""
    # Architecture: --platform, else the image's apk arch, else its config.
    if platform:
        machine = docker_platform_to_machine(platform)
    elif facts.apk_arch:
        machine = apk_arch_to_machine(facts.apk_arch)
    else:
        machine = to_machine(facts.config.platform)
    docker_platform = machine_to_docker_platform(machine)

    release = find_release(facts.alpine_release or facts.os_release.get("VERSION_ID"))
    image_python = facts.python

    # musl major.minor: from the image, else the release table.
    if facts.musl_version:
        musl = _major_minor(facts.musl_version, "musl")
    elif release is not None:
        musl = release.musl_version
    else:
        raise UnsupportedImageError(
            f"{facts.reference}: musl version unknown (no musl apk package or loader found, "
            "Alpine release not in muslin's table)"
        )

    from_apk = False
    if python:
        version = _major_minor(python, "--python")
        if image_python is not None and image_python.version_tuple == version:
            full = image_python.full_version or _full_from(release, version)
            externally = image_python.externally_managed
        else:
            full = _full_from(release, version)
            from_apk = image_python is None and release is not None and release.python_version == version
            externally = release.externally_managed if (from_apk and release) else False
    elif image_python is not None:
        version = image_python.version_tuple
        full = image_python.full_version or _full_from(release, version)
        externally = image_python.externally_managed
    elif release is not None:
        version = release.python_version
        full = release.python3
        from_apk = True
        externally = release.externally_managed
    else:
        raise UnsupportedImageError(
            f"{facts.reference}: no Python in the image and its Alpine release "
            f"({facts.alpine_release or 'unknown'}) is not in muslin's table; pass --python X.Y"
        )
    return Target(
        python_version=version,
        python_full_version=full,
        musl=musl,
        arch=machine,
        platform=docker_platform,
        python_from_apk=from_apk,
        externally_managed=externally,
        alpine_release=release.release if release else facts.alpine_release,
    )


def _full_from(release: AlpineRelease | None, version: tuple[int, int]) -> str:
    """The release table's full python3 version when its X.Y matches, else ``X.Y.0``."""
    if release is not None and release.python_version == version:
        return release.python3
    return f"{version[0]}.{version[1]}.0"
