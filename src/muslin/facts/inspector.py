"""Put the fact extractors together: a :class:`FileTree` (or an opened image) in, :class:`ImageFacts` out."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from muslin.errors import UnsupportedImageError
from muslin.facts.apkdb import file_owners, read_apk_db
from muslin.facts.distributions import find_distributions
from muslin.facts.model import ImageConfig, ImageFacts
from muslin.facts.musl import detect_musl, find_glibc_loaders, find_loaders
from muslin.facts.osrelease import (
    read_alpine_release,
    read_apk_arch,
    read_apk_repositories,
    read_os_release,
)
from muslin.facts.python import find_pythons
from muslin.facts.tree import FileTree
from muslin.facts.venv import find_venvs
from muslin.image.sources.base import OpenedImage


def _check_supported(
    os_release: dict[str, str],
    alpine_release: str | None,
    apk_db_path: str | None,
    has_apk_musl: bool,
    loaders: list[str],
    glibc_loaders: list[str],
) -> None:
    """Raise :class:`UnsupportedImageError` unless the tree is Alpine or a musl-only root fs."""
    os_id = os_release.get("ID")
    alpine = alpine_release is not None or os_id == "alpine" or "alpine" in os_release.get("ID_LIKE", "").split()
    if alpine or has_apk_musl or (loaders and not glibc_loaders):
        return
    reasons = [f"os-release ID={os_id}" if os_id else "no os-release"]
    reasons.append(f"apk database at /{apk_db_path} without musl" if apk_db_path else "no apk database")
    reasons.append(f"musl loader /{loaders[0]}" if loaders else "no musl loader (/lib/ld-musl-*.so.1)")
    if glibc_loaders:
        reasons.append(f"glibc loader /{glibc_loaders[0]}")
    raise UnsupportedImageError("not an Alpine/musl image: " + ", ".join(reasons))


def inspect_tree(
    tree: FileTree,
    config: ImageConfig,
    *,
    reference: str,
    source: str,
    digest: str | None,
    canonical_reference: str | None = None,
) -> ImageFacts:
    """Read every fact from a root filesystem view.

    Raises :class:`~muslin.errors.UnsupportedImageError` for a non-Alpine,
    non-musl root filesystem and :class:`~muslin.errors.CorruptImageError` for
    a malformed apk database.
    """
    os_release = read_os_release(tree)
    alpine_release = read_alpine_release(tree)
    apk_db_path, packages = read_apk_db(tree)
    loaders = find_loaders(tree)
    has_apk_musl = any(p.name == "musl" for p in packages)
    glibc_loaders = [] if has_apk_musl else find_glibc_loaders(tree)
    _check_supported(os_release, alpine_release, apk_db_path, has_apk_musl, loaders, glibc_loaders)

    apk_arch = read_apk_arch(tree)
    musl_version, musl_source = detect_musl(tree, packages, apk_arch)
    index = file_owners(packages)
    pythons = find_pythons(tree, apk_packages=packages, apk_index=index, config=config)
    venvs = find_venvs(tree, config, pythons)
    site_packages = [site for python in pythons for site in python.site_packages]
    site_packages += [venv.site_packages for venv in venvs]
    distributions = find_distributions(tree, site_packages, index)
    return ImageFacts(
        reference=reference,
        source=source,
        digest=digest,
        config=config,
        os_release=os_release,
        alpine_release=alpine_release,
        apk_repositories=read_apk_repositories(tree),
        apk_arch=apk_arch,
        apk_db_path=apk_db_path,
        apk_packages=packages,
        musl_version=musl_version,
        musl_version_source=musl_source,
        pythons=pythons,
        distributions=distributions,
        canonical_reference=canonical_reference,
        venvs=venvs,
    )


class FactsCacheHook(Protocol):
    """Cached facts of a content-addressed image, offered by a source on its tree as ``facts_cache``."""

    def load(self) -> ImageFacts | None: ...

    def store(self, facts: ImageFacts) -> None: ...


def inspect_opened(opened: OpenedImage) -> ImageFacts:
    """Inspect an image produced by any image source (through its facts cache, if it offers one)."""
    cache: FactsCacheHook | None = getattr(opened.tree, "facts_cache", None)
    cached = cache.load() if cache is not None else None
    if cached is not None:
        return replace(
            cached,
            reference=opened.reference,
            source=opened.source,
            digest=opened.digest,
            canonical_reference=opened.canonical_reference,
        )
    facts = inspect_tree(
        opened.tree,
        opened.config,
        reference=opened.reference,
        source=opened.source,
        digest=opened.digest,
        canonical_reference=opened.canonical_reference,
    )
    if cache is not None:
        cache.store(facts)
    return facts
