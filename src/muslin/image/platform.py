"""Image platforms (``linux/arm64/v8``) and their apk / ``platform_machine`` names.

Docker names an architecture ``amd64``, ``arm64``, ``arm`` + variant; apk calls
the same ones ``x86_64``, ``aarch64``, ``armv7``; Python's ``platform.machine()``
inside the container (and wheel tags) says ``x86_64``, ``aarch64``, ``armv7l``.
"""

from __future__ import annotations

import platform as _pyplatform
from dataclasses import dataclass

from muslin.errors import UsageError

# (docker arch, variant, apk arch, platform_machine)
_ARCHES: tuple[tuple[str, str | None, str, str], ...] = (
    ("amd64", None, "x86_64", "x86_64"),
    ("arm64", "v8", "aarch64", "aarch64"),
    ("arm", "v7", "armv7", "armv7l"),
    ("arm", "v6", "armhf", "armv6l"),
    ("386", None, "x86", "i686"),
    ("ppc64le", None, "ppc64le", "ppc64le"),
    ("s390x", None, "s390x", "s390x"),
    ("riscv64", None, "riscv64", "riscv64"),
    ("loong64", None, "loongarch64", "loongarch64"),
)

# Alternative spellings -> (docker arch, variant or None to keep the given one)
_ARCH_ALIASES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("amd64", None),
    "x86-64": ("amd64", None),
    "aarch64": ("arm64", None),
    "armhf": ("arm", "v6"),
    "armel": ("arm", "v6"),
    "armv7": ("arm", "v7"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", None),
    "i486": ("386", None),
    "i586": ("386", None),
    "i686": ("386", None),
    "x86": ("386", None),
    "loongarch64": ("loong64", None),
}

# The variant an architecture has when none is given.
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` in Docker's spelling."""

    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    @property
    def effective_variant(self) -> str | None:
        """The variant, defaulted (``arm64`` -> ``v8``, ``arm`` -> ``v7``)."""
        return self.variant or _DEFAULT_VARIANT.get(self.architecture)

    def matches(self, other: Platform) -> bool:
        """Same OS, architecture and (defaulted) variant."""
        return (
            self.os == other.os
            and self.architecture == other.architecture
            and self.effective_variant == other.effective_variant
        )

    @property
    def apk_arch(self) -> str:
        """apk's name: ``x86_64``, ``aarch64``, ``armv7``, ``armhf``, ``x86`` ..."""
        return _row(self)[2]

    @property
    def machine(self) -> str:
        """``platform.machine()`` inside the image: ``x86_64``, ``aarch64``, ``armv7l`` ..."""
        return _row(self)[3]


def _row(p: Platform) -> tuple[str, str | None, str, str]:
    variant = p.effective_variant
    for row in _ARCHES:
        if row[0] == p.architecture and (row[1] is None or row[1] == variant):
            return row
    return (p.architecture, p.variant, p.architecture, p.architecture)


def normalize_arch(arch: str, variant: str | None = None) -> tuple[str, str | None]:
    """Docker spelling of an architecture name (``aarch64`` -> ``arm64``)."""
    a = arch.strip().lower()
    v = variant.strip().lower() if variant else None
    if a in _ARCH_ALIASES:
        a, forced = _ARCH_ALIASES[a]
        v = forced or v
    if v and not v.startswith("v") and v.isdigit():
        v = "v" + v
    return a, v


def parse_platform(text: str) -> Platform:
    """``linux/arm64/v8``, ``linux/amd64``, ``arm64`` (linux implied); UsageError if malformed."""
    parts = [p for p in text.strip().split("/")]
    if not parts or any(not p for p in parts) or len(parts) > 3:
        raise UsageError(f"invalid platform {text!r}: expected os/arch[/variant]")
    if len(parts) == 1:
        parts = ["linux", parts[0]]
    os_name = parts[0].lower()
    arch, variant = normalize_arch(parts[1], parts[2] if len(parts) == 3 else None)
    return Platform(os_name, arch, variant)


def host_platform() -> Platform:
    """linux + the host's architecture in Docker's spelling."""
    return from_machine(_pyplatform.machine() or "x86_64")


def from_machine(machine: str) -> Platform:
    """``platform.machine()`` / ``uname -m`` value -> Platform (linux)."""
    arch, variant = normalize_arch(machine)
    if arch == "arm64":
        variant = "v8"
    return Platform("linux", arch, variant)


def from_apk_arch(apk_arch: str) -> Platform:
    """apk arch (``etc/apk/arch``) -> Platform (linux)."""
    name = apk_arch.strip()
    for arch, variant, apk, _machine in _ARCHES:
        if apk == name:
            return Platform("linux", arch, variant)
    return from_machine(name)
