"""Architecture names: Docker platforms, apk arches and ``platform_machine``.

The three vocabularies differ (``linux/arm64`` / ``aarch64`` / ``aarch64``,
``linux/arm/v7`` / ``armv7`` / ``armv7l``, ``linux/386`` / ``x86`` / ``i686``);
muslin's target uses ``platform_machine`` as its canonical arch.
"""

from __future__ import annotations

from muslin.errors import UsageError

# Docker "os/arch[/variant]" -> platform_machine (uname -m inside an Alpine container).
_DOCKER_TO_MACHINE: dict[str, str] = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm64/v8": "aarch64",
    "arm/v7": "armv7l",
    "arm/v6": "armv6l",
    "arm": "armv7l",
    "386": "i686",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loong64": "loongarch64",
}

# apk arch (lib/apk/arch) -> platform_machine.
_APK_TO_MACHINE: dict[str, str] = {
    "x86_64": "x86_64",
    "aarch64": "aarch64",
    "armv7": "armv7l",
    "armhf": "armv6l",
    "x86": "i686",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}

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

_MACHINE_TO_APK: dict[str, str] = {m: a for a, m in _APK_TO_MACHINE.items()}

MACHINES: tuple[str, ...] = tuple(_MACHINE_TO_DOCKER)


def docker_platform_to_machine(platform: str) -> str:
    """``linux/arm64`` (or ``arm64``) -> ``aarch64``; UsageError for unknown platforms."""
    text = platform.strip().lower()
    os_name, _, rest = text.partition("/")
    if not rest:
        os_name, rest = "linux", os_name
    if os_name != "linux":
        raise UsageError(f"unsupported platform {platform!r}: only linux/* targets exist for Alpine")
    machine = _DOCKER_TO_MACHINE.get(rest)
    if machine is None:
        known = ", ".join(sorted({"linux/" + k for k in _DOCKER_TO_MACHINE}))
        raise UsageError(f"unknown platform {platform!r} (known: {known})")
    return machine


def apk_arch_to_machine(apk_arch: str) -> str:
    machine = _APK_TO_MACHINE.get(apk_arch.strip())
    if machine is None:
        raise UsageError(f"unknown apk architecture {apk_arch!r}")
    return machine


def to_machine(arch: str) -> str:
    """Any of the three spellings -> ``platform_machine``."""
    text = arch.strip()
    if text in _MACHINE_TO_DOCKER:
        return text
    if text in _APK_TO_MACHINE:
        return _APK_TO_MACHINE[text]
    return docker_platform_to_machine(text)


def machine_to_docker_platform(machine: str) -> str:
    try:
        return _MACHINE_TO_DOCKER[machine]
    except KeyError:
        raise UsageError(f"unknown architecture {machine!r}") from None


def machine_to_apk_arch(machine: str) -> str:
    try:
        return _MACHINE_TO_APK[machine]
    except KeyError:
        raise UsageError(f"unknown architecture {machine!r}") from None
