"""Python interpreters in an image: apk's (``/usr``), the official image's (``/usr/local``), others.

An interpreter is a prefix with ``bin/python3.X`` or a real stdlib directory
``lib/python3.X`` (one holding ``os.py``).  Its full version comes from the apk
``python3`` package (``/usr`` only), else from ``include/python3.X/patchlevel.h``,
else from the image's ``PYTHON_VERSION`` environment variable (official images).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from muslin.facts.apkdb import owner_of, upstream_version
from muslin.facts.model import ApkPackage, ImageConfig, Owner, PythonInstall
from muslin.facts.tree import FileTree, normalize, read_text

PREFIXES = ("usr/local", "usr", "")
"""Searched in this order; ``""`` is the root (``/bin``, ``/lib``) unless those are /usr-merged links."""

_VERSIONED = re.compile(r"^python(3\.\d+)$")
_PY_VERSION = re.compile(r'^\s*#\s*define\s+PY_VERSION\s+"([^"]+)"', re.MULTILINE)
_METADATA_SUFFIXES = (".dist-info", ".egg-info", ".egg")
_MAX_LINKS = 8


def _join(prefix: str, *parts: str) -> str:
    return "/".join(p for p in (prefix, *parts) if p)


def _scan_dirs(tree: FileTree, prefix: str) -> tuple[str | None, str | None]:
    """``(bin, lib)`` directories of a prefix; root-level ones are skipped when they are links."""
    bin_dir, lib_dir = _join(prefix, "bin"), _join(prefix, "lib")
    if prefix:
        return bin_dir, lib_dir
    return (
        None if tree.readlink(bin_dir) is not None else bin_dir,
        None if tree.readlink(lib_dir) is not None else lib_dir,
    )


def _link_chain_end(tree: FileTree, path: str) -> str:
    """Follow symlinks from ``path`` (root-relative) and return where the chain ends."""
    current = path
    for _ in range(_MAX_LINKS):
        target = tree.readlink(current)
        if target is None:
            return current
        parent = current.rpartition("/")[0]
        joined = target if target.startswith("/") else f"{parent}/{target}"
        resolved = normalize(joined)
        if resolved is None:
            return current
        current = resolved
    return current


def _versions(tree: FileTree, bin_dir: str | None, lib_dir: str | None) -> set[str]:
    found: set[str] = set()
    if bin_dir is not None:
        for name in tree.listdir(bin_dir):
            match = _VERSIONED.match(name)
            if match and tree.is_file(f"{bin_dir}/{name}"):
                found.add(match.group(1))
    if lib_dir is not None:
        for name in tree.listdir(lib_dir):
            match = _VERSIONED.match(name)
            if match and tree.is_file(f"{lib_dir}/{name}/os.py"):
                found.add(match.group(1))
    return found


def _executables(tree: FileTree, bin_dir: str | None, version: str, only_version: bool) -> tuple[str, ...]:
    """The binary ``python3.X`` and the ``python``/``python3`` names that lead to it."""
    if bin_dir is None:
        return ()
    main = f"{bin_dir}/python{version}"
    names = tree.listdir(bin_dir)
    result = [main] if f"python{version}" in names and tree.is_file(main) else []
    for alias in ("python3", "python"):
        if alias not in names:
            continue
        path = f"{bin_dir}/{alias}"
        end = _link_chain_end(tree, path)
        if end == main or (end == path and only_version and tree.is_file(path)):
            result.append(path)
    return tuple(result)


def _patchlevel_version(tree: FileTree, prefix: str, version: str) -> str | None:
    text = read_text(tree, _join(prefix, "include", f"python{version}", "patchlevel.h"))
    if text is None:
        return None
    match = _PY_VERSION.search(text)
    return match.group(1) if match and _same_series(match.group(1), version) else None


def _same_series(full: str, version: str) -> bool:
    return full == version or full.startswith(version + ".")


def _has_pip(tree: FileTree, site_packages: Iterable[str]) -> bool:
    for directory in site_packages:
        for name in tree.listdir(directory):
            if name.endswith(_METADATA_SUFFIXES) and name.split("-", 1)[0].lower() == "pip":
                return True
    return False


def _full_version(
    tree: FileTree,
    prefix: str,
    version: str,
    apk_python: ApkPackage | None,
    apk_owned: bool,
    config: ImageConfig,
) -> tuple[str | None, str | None]:
    if prefix == "usr" and apk_python is not None:
        full = upstream_version(apk_python.version)
        if _same_series(full, version):
            return full, f"apk {apk_python.label}"
    patchlevel = _patchlevel_version(tree, prefix, version)
    if patchlevel is not None:
        return patchlevel, "patchlevel.h"
    env = config.env_value("PYTHON_VERSION")
    if env and not apk_owned and _same_series(env.strip(), version):
        return env.strip(), "image env PYTHON_VERSION"
    return None, None


def find_pythons(
    tree: FileTree,
    *,
    apk_packages: Iterable[ApkPackage] = (),
    apk_index: Mapping[str, ApkPackage] | None = None,
    config: ImageConfig | None = None,
) -> tuple[PythonInstall, ...]:
    """Every Python 3 interpreter in the image: ``/usr/local`` first, then ``/usr``, then ``/``.

    Within a prefix, newer versions come first.  ``apk_index`` is
    :func:`muslin.facts.apkdb.file_owners` of ``apk_packages``.
    """
    packages = list(apk_packages)
    index = apk_index if apk_index is not None else {}
    cfg = config if config is not None else ImageConfig()
    apk_python = next((p for p in packages if p.name == "python3"), None)
    found: list[PythonInstall] = []
    for prefix in PREFIXES:
        bin_dir, lib_dir = _scan_dirs(tree, prefix)
        versions = _versions(tree, bin_dir, lib_dir)
        for version in sorted(versions, key=lambda v: int(v.split(".")[1]), reverse=True):
            stdlib = _join(prefix, "lib", f"python{version}")
            site_packages = tuple(
                f"{stdlib}/{name}"
                for name in ("site-packages", "dist-packages")
                if tree.is_dir(f"{stdlib}/{name}")
            )
            executables = _executables(tree, bin_dir, version, len(versions) == 1)
            owner_pkg = next(
                (
                    pkg
                    for pkg in (owner_of(index, p) for p in (*executables, f"{stdlib}/os.py"))
                    if pkg is not None
                ),
                None,
            )
            owner = (
                Owner("apk", owner_pkg.name, owner_pkg.version)
                if owner_pkg is not None
                else Owner("unknown")
            )
            full, source = _full_version(
                tree, prefix, version, apk_python, owner_pkg is not None, cfg
            )
            found.append(
                PythonInstall(
                    version=version,
                    full_version=full,
                    full_version_source=source,
                    prefix=prefix,
                    executables=executables,
                    stdlib=stdlib,
                    site_packages=site_packages,
                    externally_managed=tree.is_file(f"{stdlib}/EXTERNALLY-MANAGED"),
                    owner=owner,
                    has_pip=_has_pip(tree, site_packages),
                )
            )
    return tuple(found)
