"""The Alpine release table (package data) and built-in release profiles.

``alpine-releases.toml`` records, per Alpine release, the python3 that
``apk add python3`` installs, the release's ``py3-pip`` and the musl the image
ships, with the source of every row.  :func:`profile_facts` turns a row into the :class:`ImageFacts` of a
fresh official ``alpine:X.Y`` image (no Python, nothing in site-packages), used
when the image itself cannot be read.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from muslin.errors import UsageError
from muslin.facts.model import ApkPackage, ImageConfig, ImageFacts
from muslin.target.arch import machine_to_apk_arch, machine_to_docker_platform, to_machine

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DATA_FILE = "alpine-releases.toml"


@dataclass(frozen=True)
class AlpineRelease:
    """One row of the release table."""

    release: str
    """``3.18`` or ``edge``."""
    python3: str
    """Full version of the release's python3 (``3.11.12``)."""
    python3_apk: str
    musl: str
    """Full musl version (``1.2.4``)."""
    musl_apk: str
    externally_managed: bool
    py3_pip: str
    """pip's version in the release's ``py3-pip`` package (``23.1.2``)."""
    py3_pip_apk: str
    """The ``py3-pip`` apk version (``23.1.2-r0``)."""

    @property
    def python_version(self) -> tuple[int, int]:
        major, minor = self.python3.split(".")[:2]
        return int(major), int(minor)

    @property
    def musl_version(self) -> tuple[int, int]:
        major, minor = self.musl.split(".")[:2]
        return int(major), int(minor)

    @property
    def py3_pip_version(self) -> tuple[int, int]:
        """Major.minor of the release's pip (``(23, 1)``), what ``py3-pip~23.1`` pins."""
        major, minor = self.py3_pip.split(".")[:2]
        return int(major), int(minor)


@lru_cache(maxsize=1)
def load_releases() -> dict[str, AlpineRelease]:
    """The release table, keyed by ``X.Y`` (and ``edge``), oldest first."""
    text = resources.files("muslin.target").joinpath(DATA_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    out: dict[str, AlpineRelease] = {}
    for key, row in data["releases"].items():
        out[key] = AlpineRelease(
            release=key,
            python3=str(row["python3"]),
            python3_apk=str(row["python3_apk"]),
            musl=str(row["musl"]),
            musl_apk=str(row["musl_apk"]),
            externally_managed=bool(row["externally_managed"]),
            py3_pip=str(row["py3_pip"]),
            py3_pip_apk=str(row["py3_pip_apk"]),
        )
    return out


_RELEASE_RE = re.compile(r"^v?(\d+)\.(\d+)")


def release_key(release: str) -> str | None:
    """``3.18.3`` -> ``3.18``; ``edge`` / ``3.21_alpha20240807`` (edge's VERSION_ID) -> ``edge``."""
    text = release.strip().lower()
    if text in ("edge", "latest-edge") or "_alpha" in text:
        return "edge"
    m = _RELEASE_RE.match(text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def find_release(release: str | None) -> AlpineRelease | None:
    """The table row for an Alpine release string, or None when unknown."""
    if not release:
        return None
    key = release_key(release)
    return load_releases().get(key) if key else None


def get_release(release: str) -> AlpineRelease:
    """Like :func:`find_release` but a clear :class:`UsageError` for unknown releases."""
    row = find_release(release)
    if row is None:
        known = ", ".join(load_releases())
        raise UsageError(f"unknown Alpine release {release!r} (known: {known})")
    return row


def profile_facts(release: str, arch: str = "x86_64") -> ImageFacts:
    """The facts of a fresh official ``alpine:<release>`` image for ``arch``.

    ``arch`` is a ``platform_machine`` (``x86_64``), apk arch (``aarch64``,
    ``armv7``) or Docker platform/arch (``linux/arm64``, ``amd64``).
    """
    row = get_release(release)
    machine = to_machine(arch)
    apk_arch = machine_to_apk_arch(machine)
    platform = machine_to_docker_platform(machine)
    parts = platform.split("/")
    config = ImageConfig(
        os="linux",
        architecture=parts[1],
        variant=parts[2] if len(parts) > 2 else None,
        env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    )
    branch = "edge" if row.release == "edge" else f"v{row.release}"
    os_release = {
        "NAME": "Alpine Linux",
        "ID": "alpine",
        "VERSION_ID": row.release,
        "PRETTY_NAME": f"Alpine Linux {row.release}",
        "HOME_URL": "https://alpinelinux.org/",
    }
    musl = ApkPackage(
        name="musl",
        version=row.musl_apk,
        arch=apk_arch,
        origin="musl",
        description="the musl c library (libc) implementation",
        files=(f"lib/ld-musl-{_loader_arch(apk_arch)}.so.1", "lib/libc.musl-" + apk_arch + ".so.1"),
    )
    return ImageFacts(
        reference=f"alpine:{row.release}",
        source="profile",
        digest=None,
        config=config,
        os_release=os_release,
        alpine_release=row.release,
        apk_repositories=(
            f"https://dl-cdn.alpinelinux.org/alpine/{branch}/main",
            f"https://dl-cdn.alpinelinux.org/alpine/{branch}/community",
        ),
        apk_arch=apk_arch,
        apk_db_path="lib/apk/db/installed",
        apk_packages=(musl,),
        musl_version=row.musl,
        musl_version_source=f"profile {DATA_FILE}",
        pythons=(),
        distributions=(),
        canonical_reference=f"docker.io/library/alpine:{row.release}",
    )


def _loader_arch(apk_arch: str) -> str:
    return {"x86": "i386", "armv7": "armhf", "ppc64le": "powerpc64le"}.get(apk_arch, apk_arch)
