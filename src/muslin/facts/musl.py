"""The musl libc version: from the apk ``musl`` package, else from the dynamic loader's bytes.

musl's loader (``lib/ld-musl-<arch>.so.1``) embeds its version as a plain C
string (``"1.2.3"``), printed by ``ld-musl-x86_64.so.1 --version`` through the
``"Version %s"`` format; it sits among the other NUL-terminated read-only
strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from muslin.facts.apkdb import upstream_version
from muslin.facts.model import ApkPackage
from muslin.facts.tree import FileTree

LOADER_DIRS = ("lib", "usr/lib")
GLIBC_LOADER_DIRS = ("lib", "lib64", "usr/lib", "usr/lib64")

# A NUL-delimited string that is a whole musl version: 0.9.15, 1.2.4, or a git
# build's "1.2.4-12-gabcdef0".  The single leading digit keeps "127.0.0.1" out.
_VERSION = re.compile(rb"(?<=\x00)([01]\.\d{1,3}\.\d{1,3}(?:-[0-9A-Za-z.+_-]{1,40})?)(?=\x00)")


def find_loaders(tree: FileTree) -> list[str]:
    """Root-relative paths of the musl loaders (``lib/ld-musl-*.so.1``) present."""
    found: list[str] = []
    for directory in LOADER_DIRS:
        for name in tree.listdir(directory):
            if name.startswith("ld-musl-") and name.endswith(".so.1"):
                path = f"{directory}/{name}"
                if tree.exists(path):
                    found.append(path)
    return found


def find_glibc_loaders(tree: FileTree) -> list[str]:
    """Root-relative paths of glibc dynamic loaders (``ld-linux-*.so.*``, ``ld64.so.*``)."""
    found: list[str] = []
    for directory in GLIBC_LOADER_DIRS:
        for name in tree.listdir(directory):
            if name.startswith(("ld-linux", "ld64.so.")) and ".so" in name:
                found.append(f"{directory}/{name}")
    return found


def version_from_loader_bytes(data: bytes) -> str | None:
    """The version string embedded in a musl loader, or None if there is none."""
    if b"musl" not in data:
        return None
    candidates = [m.group(1).decode("ascii") for m in _VERSION.finditer(data)]
    if not candidates:
        return None
    # The real version string appears once; prefer a 1.x release if stray matches exist.
    preferred = [c for c in candidates if c.startswith("1.")]
    return (preferred or candidates)[0]


def musl_from_apk(packages: Iterable[ApkPackage]) -> tuple[str, str] | None:
    """``(version, source)`` from the apk ``musl`` package: ``("1.2.4", "apk musl 1.2.4-r1")``."""
    for pkg in packages:
        if pkg.name == "musl":
            return upstream_version(pkg.version), f"apk {pkg.label}"
    return None


def musl_from_loader(tree: FileTree, arch: str | None = None) -> tuple[str, str] | None:
    """``(version, source)`` read from the loader file, preferring the one for ``arch``."""
    loaders = find_loaders(tree)
    if arch:
        loaders.sort(key=lambda p: 0 if p.endswith(f"ld-musl-{arch}.so.1") else 1)
    for path in loaders:
        data = tree.read_bytes(path)
        if not data:
            continue
        version = version_from_loader_bytes(data)
        if version is not None:
            return version, f"loader {path}"
    return None


def detect_musl(
    tree: FileTree, packages: Iterable[ApkPackage], arch: str | None = None
) -> tuple[str | None, str | None]:
    """``(version, source)`` of the image's musl, ``(None, None)`` when unknown."""
    found = musl_from_apk(packages) or musl_from_loader(tree, arch)
    return found if found is not None else (None, None)
