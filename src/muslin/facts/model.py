"""Image facts: the immutable result of inspecting an image.

These dataclasses are the contract between inspection (issue "inspect") and
everything downstream (plan, Dockerfile, container install).  ``to_dict`` is
the ``muslin inspect --json`` schema documented in README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DistributionForm = Literal["dist-info", "egg-info", "egg-info-file", "egg", "egg-zip", "egg-link"]


@dataclass(frozen=True)
class ApkPackage:
    """One entry of the apk database (``lib/apk/db/installed``)."""

    name: str
    version: str
    arch: str | None = None
    origin: str | None = None
    description: str | None = None
    url: str | None = None
    license: str | None = None
    size: int | None = None
    installed_size: int | None = None
    maintainer: str | None = None
    build_time: int | None = None
    commit: str | None = None
    checksum: str | None = None
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    install_if: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """Root-relative paths of the files this package owns (from ``F:``/``R:``)."""
    file_checksums: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """``Z:`` checksum per owned file path, where the database records one."""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    """Unknown keys, kept verbatim (key -> values in order)."""

    @property
    def label(self) -> str:
        """``name version`` as apk prints it, e.g. ``py3-mysqlclient 2.1.1-r3``."""
        return f"{self.name} {self.version}"

    def to_dict(self, with_files: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "arch": self.arch,
            "origin": self.origin,
            "description": self.description,
            "url": self.url,
            "license": self.license,
            "size": self.size,
            "installed_size": self.installed_size,
            "maintainer": self.maintainer,
            "build_time": self.build_time,
            "commit": self.commit,
            "checksum": self.checksum,
            "depends": list(self.depends),
            "provides": list(self.provides),
            "install_if": list(self.install_if),
            "replaces": list(self.replaces),
            "file_count": len(self.files),
        }
        if with_files:
            data["files"] = list(self.files)
        return data


@dataclass(frozen=True)
class Owner:
    """Who installed a distribution: an apk package, or a Python installer."""

    kind: Literal["apk", "installer", "unknown"]
    name: str | None = None
    version: str | None = None

    @property
    def label(self) -> str:
        """``apk py3-mysqlclient 2.1.1-r3``, ``pip``, or ``unknown``."""
        if self.kind == "apk":
            return f"apk {self.name} {self.version}"
        if self.kind == "installer":
            return self.name or "unknown"
        return "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "version": self.version}


@dataclass(frozen=True)
class Distribution:
    """One installed Python distribution found in a site-packages directory."""

    name: str
    """Display name as the metadata spells it (``PyYAML``)."""
    canonical_name: str
    """PEP 503 normalised name (``pyyaml``)."""
    version: str
    form: DistributionForm
    metadata_path: str
    """Root-relative path of the metadata (``.dist-info`` dir, ``.egg-info`` file or dir, ...)."""
    site_packages: str
    requires: tuple[str, ...] = ()
    """PEP 508 requirement strings (``Requires-Dist``, or converted from ``requires.txt``)."""
    requires_python: str | None = None
    installer: str | None = None
    top_level: tuple[str, ...] = ()
    owner: Owner = field(default_factory=lambda: Owner("unknown"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "canonical_name": self.canonical_name,
            "version": self.version,
            "form": self.form,
            "metadata_path": "/" + self.metadata_path,
            "site_packages": "/" + self.site_packages,
            "requires": list(self.requires),
            "requires_python": self.requires_python,
            "installer": self.installer,
            "top_level": list(self.top_level),
            "owner": self.owner.to_dict(),
        }


@dataclass(frozen=True)
class PythonInstall:
    """A Python interpreter found in the image."""

    version: str
    """``major.minor``, e.g. ``3.11``."""
    full_version: str | None
    """``3.11.6`` where knowable, else None."""
    full_version_source: str | None
    """Where ``full_version`` came from: ``apk python3``, ``patchlevel.h``, ``image env PYTHON_VERSION``."""
    prefix: str
    """``usr`` (apk style) or ``usr/local`` (official python image style), root-relative."""
    executables: tuple[str, ...]
    """Root-relative paths of the interpreter binaries and links (``usr/bin/python3.11`` ...)."""
    stdlib: str
    """Root-relative stdlib directory, e.g. ``usr/lib/python3.11``."""
    site_packages: tuple[str, ...]
    externally_managed: bool
    """PEP 668: ``EXTERNALLY-MANAGED`` present in the stdlib directory."""
    owner: Owner = field(default_factory=lambda: Owner("unknown"))
    has_pip: bool = False

    @property
    def version_tuple(self) -> tuple[int, int]:
        return major_minor(self.version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "full_version": self.full_version,
            "full_version_source": self.full_version_source,
            "prefix": "/" + self.prefix,
            "executables": ["/" + e for e in self.executables],
            "stdlib": "/" + self.stdlib,
            "site_packages": ["/" + s for s in self.site_packages],
            "externally_managed": self.externally_managed,
            "owner": self.owner.to_dict(),
            "has_pip": self.has_pip,
        }


@dataclass(frozen=True)
class VirtualEnv:
    """A virtual environment in the image (a directory with ``pyvenv.cfg``)."""

    path: str
    """Root-relative, e.g. ``opt/venv``."""
    version: str
    """``major.minor`` of its interpreter."""
    home: str | None
    """``home`` of ``pyvenv.cfg``: the base interpreter's ``bin`` directory."""
    system_site_packages: bool
    """``include-system-site-packages = true``: the base interpreter's packages are visible too."""
    site_packages: str
    """Root-relative, e.g. ``opt/venv/lib/python3.11/site-packages``."""
    active: bool
    """The image runs it by default: ``VIRTUAL_ENV`` names it, or its ``bin`` leads ``PATH``."""
    has_pip: bool = False

    @property
    def version_tuple(self) -> tuple[int, int]:
        return major_minor(self.version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": "/" + self.path,
            "version": self.version,
            "home": self.home,
            "system_site_packages": self.system_site_packages,
            "site_packages": "/" + self.site_packages,
            "active": self.active,
            "has_pip": self.has_pip,
        }


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config that inspection uses."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    env: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def platform(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def env_value(self, key: str) -> str | None:
        prefix = key + "="
        for item in self.env:
            if item.startswith(prefix):
                return item[len(prefix):]
        return None


@dataclass(frozen=True)
class ImageFacts:
    """Everything muslin knows about an image, read without running it."""

    reference: str
    """The reference as given (``alpine:3.18``, ``docker-archive:img.tar`` ...)."""
    source: str
    """Which source read it: ``registry``, ``docker``, ``docker-archive``, ``oci-dir``, ``oci-archive``, ``dir``, ``profile``."""
    digest: str | None
    """Manifest digest (``sha256:...``) where known."""
    config: ImageConfig
    os_release: dict[str, str]
    alpine_release: str | None
    apk_repositories: tuple[str, ...]
    apk_arch: str | None
    apk_db_path: str | None
    apk_packages: tuple[ApkPackage, ...]
    musl_version: str | None
    musl_version_source: str | None
    """``apk musl`` or ``loader lib/ld-musl-x86_64.so.1``."""
    pythons: tuple[PythonInstall, ...]
    distributions: tuple[Distribution, ...]
    canonical_reference: str | None = None
    """Normalised registry reference (``docker.io/library/alpine:3.18``) where there is one."""
    venvs: tuple[VirtualEnv, ...] = ()
    """Virtual environments; their distributions are in ``distributions`` too (by ``site_packages``)."""

    @property
    def active_venv(self) -> VirtualEnv | None:
        """The virtual environment the image runs by default, if any."""
        return next((v for v in self.venvs if v.active), None)

    @property
    def is_alpine(self) -> bool:
        return self.alpine_release is not None or self.os_release.get("ID") == "alpine"

    @property
    def python(self) -> PythonInstall | None:
        """The primary interpreter: ``/usr/local`` (official image style) first, then apk's."""
        ordered = sorted(self.pythons, key=lambda p: p.prefix != "usr/local")
        return ordered[0] if ordered else None

    def apk_package(self, name: str) -> ApkPackage | None:
        for pkg in self.apk_packages:
            if pkg.name == name:
                return pkg
        return None

    def to_dict(self, with_files: bool = False) -> dict[str, Any]:
        return {
            "schema": "muslin.inspect/1",
            "reference": self.reference,
            "canonical_reference": self.canonical_reference,
            "source": self.source,
            "digest": self.digest,
            "platform": self.config.platform,
            "os": self.config.os,
            "architecture": self.config.architecture,
            "variant": self.config.variant,
            "os_release": dict(self.os_release),
            "alpine_release": self.alpine_release,
            "apk": {
                "arch": self.apk_arch,
                "repositories": list(self.apk_repositories),
                "database": "/" + self.apk_db_path if self.apk_db_path else None,
                "packages": [p.to_dict(with_files) for p in self.apk_packages],
            },
            "musl": {"version": self.musl_version, "source": self.musl_version_source},
            "pythons": [p.to_dict() for p in self.pythons],
            "venvs": [v.to_dict() for v in self.venvs],
            "distributions": [d.to_dict() for d in self.distributions],
        }


FACTS_CACHE_SCHEMA = 2
"""Version of :func:`facts_to_cache` output; bump when a fact dataclass changes."""


def major_minor(version: str) -> tuple[int, int]:
    """``(3, 11)`` for ``3.11`` or ``3.11.6``."""
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def facts_to_cache(facts: ImageFacts) -> dict[str, Any]:
    """Every field of ``facts``, JSON-ready, for :func:`facts_from_cache` (not the ``inspect --json`` schema)."""
    from dataclasses import asdict

    return {"schema": FACTS_CACHE_SCHEMA, "facts": asdict(facts)}


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _owner(data: dict[str, Any]) -> Owner:
    return Owner(kind=data["kind"], name=data.get("name"), version=data.get("version"))


def facts_from_cache(data: dict[str, Any]) -> ImageFacts:
    """Rebuild :class:`ImageFacts` from :func:`facts_to_cache` output; KeyError/TypeError/ValueError if malformed."""
    if data.get("schema") != FACTS_CACHE_SCHEMA:
        raise ValueError(f"facts cache schema {data.get('schema')!r}")
    f = data["facts"]
    c = f["config"]
    config = ImageConfig(
        os=c["os"], architecture=c["architecture"], variant=c.get("variant"),
        env=_tuple(c.get("env")), labels=dict(c.get("labels") or {}),
    )
    packages = tuple(
        ApkPackage(
            **{k: p[k] for k in ("name", "version", "arch", "origin", "description", "url", "license", "size",
                                 "installed_size", "maintainer", "build_time", "commit", "checksum")},
            depends=_tuple(p.get("depends")), provides=_tuple(p.get("provides")),
            install_if=_tuple(p.get("install_if")), replaces=_tuple(p.get("replaces")),
            files=_tuple(p.get("files")), file_checksums=dict(p.get("file_checksums") or {}),
            extra={k: _tuple(v) for k, v in (p.get("extra") or {}).items()},
        )
        for p in f["apk_packages"]
    )
    pythons = tuple(
        PythonInstall(
            version=p["version"], full_version=p.get("full_version"), full_version_source=p.get("full_version_source"),
            prefix=p["prefix"], executables=_tuple(p["executables"]), stdlib=p["stdlib"],
            site_packages=_tuple(p["site_packages"]), externally_managed=bool(p["externally_managed"]),
            owner=_owner(p["owner"]), has_pip=bool(p.get("has_pip")),
        )
        for p in f["pythons"]
    )
    distributions = tuple(
        Distribution(
            name=d["name"], canonical_name=d["canonical_name"], version=d["version"], form=d["form"],
            metadata_path=d["metadata_path"], site_packages=d["site_packages"], requires=_tuple(d.get("requires")),
            requires_python=d.get("requires_python"), installer=d.get("installer"),
            top_level=_tuple(d.get("top_level")), owner=_owner(d["owner"]),
        )
        for d in f["distributions"]
    )
    venvs = tuple(
        VirtualEnv(
            path=v["path"], version=v["version"], home=v.get("home"),
            system_site_packages=bool(v["system_site_packages"]), site_packages=v["site_packages"],
            active=bool(v["active"]), has_pip=bool(v.get("has_pip")),
        )
        for v in f.get("venvs") or ()
    )
    return ImageFacts(
        reference=f["reference"], source=f["source"], digest=f.get("digest"), config=config,
        os_release={str(k): str(v) for k, v in (f.get("os_release") or {}).items()},
        alpine_release=f.get("alpine_release"), apk_repositories=_tuple(f.get("apk_repositories")),
        apk_arch=f.get("apk_arch"), apk_db_path=f.get("apk_db_path"), apk_packages=packages,
        musl_version=f.get("musl_version"), musl_version_source=f.get("musl_version_source"),
        pythons=pythons, distributions=distributions, canonical_reference=f.get("canonical_reference"),
        venvs=venvs,
    )
