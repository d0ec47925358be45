"""Architecture names for the target: Docker platforms, apk arches, ``platform_machine``.

Parsing follows :mod:`muslin.image.platform` (the image side's spellings); this
module adds what the target needs on top: unknown architectures are a clear
:class:`UsageError` (a wheel tag for ``mips`` would silently match nothing),
and ``platform_machine`` is the target's canonical arch name.
"""

from __future__ import annotations

from muslin.errors import UsageError
from muslin.image.platform import from_apk_arch, parse_platform

# platform_machine -> Docker platform string as users write it.
_MACHINE_TO_DOCKER: dict[str, str] = {
    "x86_64": "linux/amd64",
    "aarch64": "linux/arm64",
    "armv7l": "linux/arm/v7",
    "armv6l": "linux/arm/v6",
    "i686": "linux/386",
    "ppc64le": "linux/ppc64le",
    "s390x": "linux/s390x",
    "riscv64": "linux/riscv64",
    "loongarch64": "linux/loong64",
}
_MACHINE_TO_APK: dict[str, str] = {
    "x86_64": "x86_64",
    "aarch64": "aarch64",
    "armv7l": "armv7",
    "armv6l": "armhf",
    "i686": "x86",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}

MACHINES: tuple[str, ...] = tuple(_MACHINE_TO_DOCKER)


def _known(machine: str, what: str) -> str:
    if machine not in _MACHINE_TO_DOCKER:
        known = ", ".join(sorted(_MACHINE_TO_DOCKER.values()))
        raise UsageError(f"unknown {what} (known platforms: {known})")
    return machine


def docker_platform_to_machine(platform: str) -> str:
    """``linux/arm64`` (or ``arm64``, ``linux/arm64/v8``) -> ``aarch64``."""
    p = parse_platform(platform)
    if p.os != "linux":
        raise UsageError(f"unsupported platform {platform!r}: Alpine targets are linux/*")
    return _known(p.machine, f"platform {platform!r}")


def apk_arch_to_machine(apk_arch: str) -> str:
    """apk arch (``etc/apk/arch``: ``aarch64``, ``armv7``, ``x86``) -> ``platform_machine``."""
    return _known(from_apk_arch(apk_arch).machine, f"apk architecture {apk_arch!r}")


def to_machine(arch: str) -> str:
    """A ``platform_machine``, apk arch or Docker platform/arch -> ``platform_machine``."""
    text = arch.strip()
    if text in _MACHINE_TO_DOCKER:
        return text
    if text in _MACHINE_TO_APK.values():
        return apk_arch_to_machine(text)
    return docker_platform_to_machine(text)


def machine_to_docker_platform(machine: str) -> str:
    return _MACHINE_TO_DOCKER[_known(machine, f"architecture {machine!r}")]


def machine_to_apk_arch(machine: str) -> str:
    return _MACHINE_TO_APK[_known(machine, f"architecture {machine!r}")]
