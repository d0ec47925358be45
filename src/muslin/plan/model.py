"""The plan: what muslin will do to every package for one target image.

Produced by the planner (``muslin plan``), consumed by the renderers
(``muslin dockerfile``) and the container installer (``muslin install``).
Kept free of I/O; ``to_dict``/``from_dict`` is the ``--json`` schema.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Action(str, Enum):
    KEEP = "keep"
    """Already installed in the image (by apk or pip) at an accepted version."""
    INSTALL = "install"
    """Install a wheel from an index."""


@dataclass(frozen=True)
class Artifact:
    """One file chosen for a package: a wheel (source builds come later)."""

    filename: str
    url: str
    """Download URL with any credentials removed."""
    sha256: str
    index: str
    """Name of the index it comes from (``pypi``, ``musl`` ...)."""
    size: int | None = None
    kind: str = "wheel"

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "url": self.url,
            "sha256": self.sha256,
            "index": self.index,
            "size": self.size,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            filename=data["filename"],
            url=data["url"],
            sha256=data["sha256"],
            index=data["index"],
            size=data.get("size"),
            kind=data.get("kind", "wheel"),
        )


@dataclass(frozen=True)
class PlanItem:
    """What happens to one package."""

    name: str
    """PEP 503 normalised name."""
    display_name: str
    version: str
    action: Action
    source: str
    """Index name for installs; owner label for keeps (``apk py3-mysqlclient 2.1.1-r3``, ``pip``)."""
    artifact: Artifact | None = None
    requested_by: tuple[str, ...] = ()
    """Direct parents in the dependency graph (``<user>`` for direct requirements)."""
    extras: tuple[str, ...] = ()
    top_level: tuple[str, ...] = ()
    """Importable top-level modules where known (installed dists; wheels fill it at install)."""
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "version": self.version,
            "action": self.action.value,
            "source": self.source,
            "artifact": self.artifact.to_dict() if self.artifact else None,
            "requested_by": list(self.requested_by),
            "extras": list(self.extras),
            "top_level": list(self.top_level),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanItem:
        art = data.get("artifact")
        return cls(
            name=data["name"],
            display_name=data.get("display_name", data["name"]),
            version=data["version"],
            action=Action(data["action"]),
            source=data["source"],
            artifact=Artifact.from_dict(art) if art else None,
            requested_by=tuple(data.get("requested_by", ())),
            extras=tuple(data.get("extras", ())),
            top_level=tuple(data.get("top_level", ())),
            note=data.get("note"),
        )


@dataclass(frozen=True)
class IndexRef:
    """An index the plan installs from, as it may appear in output (no credentials)."""

    name: str
    url: str
    """URL with userinfo removed."""
    needs_credentials: bool = False
    """True when the user supplied credentials for it (Dockerfile: BuildKit secret)."""
    kind: str = "simple"
    """``simple`` (PEP 503/691 index) or ``find-links`` (flat page or directory)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "needs_credentials": self.needs_credentials,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexRef:
        return cls(data["name"], data["url"], data.get("needs_credentials", False), data.get("kind", "simple"))


@dataclass(frozen=True)
class TargetInfo:
    """The target the plan was resolved for."""

    python_version: str
    """``3.11``."""
    python_full_version: str
    """``3.11.6``."""
    musl_version: str
    """``1.2`` (major.minor as in ``musllinux_1_2``)."""
    arch: str
    """``platform_machine``: ``x86_64``, ``aarch64`` ..."""
    platform: str
    """Docker platform string, ``linux/amd64``."""

    @property
    def platform_tag(self) -> str:
        major, minor = self.musl_version.split(".")[:2]
        return f"musllinux_{major}_{minor}_{self.arch}"

    @property
    def interpreter_tag(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    def describe(self) -> str:
        """``CPython 3.11.6, musllinux_1_2_x86_64``."""
        return f"CPython {self.python_full_version}, {self.platform_tag}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "python_version": self.python_version,
            "python_full_version": self.python_full_version,
            "musl_version": self.musl_version,
            "arch": self.arch,
            "platform": self.platform,
            "platform_tag": self.platform_tag,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetInfo:
        return cls(
            data["python_version"],
            data["python_full_version"],
            data["musl_version"],
            data["arch"],
            data["platform"],
        )


@dataclass(frozen=True)
class ImageInfo:
    """What the renderers and installer need to know about the base image."""

    reference: str
    """As the user gave it (``alpine:3.18``)."""
    pull_reference: str | None
    """A reference Docker can pull or use (``alpine:3.18``); None for archives/directories."""
    digest: str | None
    alpine_release: str | None
    has_python: bool
    python_prefix: str | None
    """``/usr`` or ``/usr/local``; None when the image has no Python."""
    python_executable: str
    """The interpreter the install uses, e.g. ``/usr/bin/python3.11`` or ``python3``."""
    has_pip: bool
    externally_managed: bool
    from_profile: bool = False
    """True when the image could not be read and the built-in release profile was used."""

    @property
    def docker_reference(self) -> str | None:
        """``pull_reference`` as Docker takes it: muslin's ``docker:``/``registry:`` source prefix removed."""
        ref = self.pull_reference
        if ref is None:
            return None
        for prefix in ("docker:", "registry:"):
            if ref.startswith(prefix) and not ref.startswith(prefix + "//"):
                return ref[len(prefix) :]
        return ref

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "pull_reference": self.pull_reference,
            "digest": self.digest,
            "alpine_release": self.alpine_release,
            "has_python": self.has_python,
            "python_prefix": self.python_prefix,
            "python_executable": self.python_executable,
            "has_pip": self.has_pip,
            "externally_managed": self.externally_managed,
            "from_profile": self.from_profile,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageInfo:
        return cls(
            reference=data["reference"],
            pull_reference=data.get("pull_reference"),
            digest=data.get("digest"),
            alpine_release=data.get("alpine_release"),
            has_python=data["has_python"],
            python_prefix=data.get("python_prefix"),
            python_executable=data["python_executable"],
            has_pip=data.get("has_pip", False),
            externally_managed=data.get("externally_managed", False),
            from_profile=data.get("from_profile", False),
        )


@dataclass(frozen=True)
class VenvDecision:
    """Whether the install goes into a virtual environment, and why."""

    path: str | None
    """``/opt/venv`` or None (install into the system site-packages)."""
    system_site_packages: bool = True
    reason: str = ""
    break_system_packages: bool = False
    """Install into the system Python despite PEP 668 (only when asked)."""
    exists: bool = False
    """The venv is the image's own (found by inspection): installs go into it, nothing creates it."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "system_site_packages": self.system_site_packages,
            "reason": self.reason,
            "break_system_packages": self.break_system_packages,
            "exists": self.exists,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VenvDecision:
        return cls(
            data.get("path"),
            data.get("system_site_packages", True),
            data.get("reason", ""),
            data.get("break_system_packages", False),
            data.get("exists", False),
        )


@dataclass(frozen=True)
class InputFile:
    path: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class Plan:
    """The complete plan for one image and one set of requirements."""

    image: ImageInfo
    target: TargetInfo
    items: tuple[PlanItem, ...]
    indexes: tuple[IndexRef, ...]
    venv: VenvDecision
    apk_packages: tuple[str, ...] = ()
    """apk packages to add first (``python3~3.11``, ``py3-pip~23.1``) when the image lacks them."""
    inputs: tuple[InputFile, ...] = ()
    requirements: tuple[str, ...] = ()
    """The top-level requirement strings the plan satisfies."""
    command: str = ""
    """The muslin command line that regenerates this plan (no credentials)."""
    muslin_version: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def installs(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action is Action.INSTALL)

    @property
    def keeps(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.action is Action.KEEP)

    def installs_by_index(self) -> dict[str, list[PlanItem]]:
        """Install items grouped by index name, in the order of ``indexes``."""
        groups: dict[str, list[PlanItem]] = {ix.name: [] for ix in self.indexes}
        for item in self.installs:
            assert item.artifact is not None
            groups.setdefault(item.artifact.index, []).append(item)
        return {name: items for name, items in groups.items() if items}

    def index(self, name: str) -> IndexRef | None:
        for ix in self.indexes:
            if ix.name == name:
                return ix
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "muslin.plan/1",
            "muslin_version": self.muslin_version,
            "command": self.command,
            "image": self.image.to_dict(),
            "target": self.target.to_dict(),
            "venv": self.venv.to_dict(),
            "apk_packages": list(self.apk_packages),
            "indexes": [ix.to_dict() for ix in self.indexes],
            "requirements": list(self.requirements),
            "inputs": [i.to_dict() for i in self.inputs],
            "items": [i.to_dict() for i in self.items],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            image=ImageInfo.from_dict(data["image"]),
            target=TargetInfo.from_dict(data["target"]),
            items=tuple(PlanItem.from_dict(i) for i in data["items"]),
            indexes=tuple(IndexRef.from_dict(i) for i in data["indexes"]),
            venv=VenvDecision.from_dict(data["venv"]),
            apk_packages=tuple(data.get("apk_packages", ())),
            inputs=tuple(InputFile(i["path"], i["sha256"]) for i in data.get("inputs", ())),
            requirements=tuple(data.get("requirements", ())),
            command=data.get("command", ""),
            muslin_version=data.get("muslin_version", ""),
            warnings=tuple(data.get("warnings", ())),
        )

    def plan_hash(self) -> str:
        """sha256 of the canonical JSON of what gets installed (stable across runs)."""
        core = {
            "image": self.image.digest or self.image.reference,
            "target": self.target.to_dict(),
            "venv": self.venv.to_dict(),
            "apk": list(self.apk_packages),
            "items": [
                [i.name, i.version, i.action.value, i.artifact.sha256 if i.artifact else None]
                for i in self.items
            ],
        }
        blob = json.dumps(core, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()
