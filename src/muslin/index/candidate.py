"""What the finder hands the resolver: candidate files, and why others were rejected.

The contract between ``muslin.index`` (which talks HTTP) and
``muslin.resolve`` (pure).  A :class:`CandidateSet` holds, for one project
name, every wheel that fits the target on the index that owns the name, plus a
:class:`Rejection` for every file that did not fit, so "no wheel for
cp311-musllinux_1_2_x86_64; versions 3.2.x publish sdists only" can be said
precisely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from muslin.plan.model import Artifact


@dataclass(frozen=True)
class Candidate:
    """A wheel file usable on the target."""

    name: NormalizedName
    version: Version
    artifact: Artifact
    tag_rank: int
    """Position of the best matching tag in the target's ordered tag list (lower is better)."""
    yanked: bool = False
    requires_python: str | None = None
    metadata_url: str | None = None
    """PEP 658/714 metadata URL, where the index offers one."""


@dataclass(frozen=True)
class Rejection:
    """A file that was seen but does not fit, with the reason in plain words."""

    version: str
    filename: str
    reason: str
    """``sdist only``, ``no matching tag (manylinux_2_17_x86_64)``, ``requires-python >=3.12``, ``yanked`` ..."""
    kind: str = ""
    """Machine-readable reason: ``sdist``, ``tags``, ``requires-python``, ``no-binary``, ``invalid``, ``other``."""
    tags: tuple[str, ...] = ()
    """For ``tags`` rejections: the wheel's own tags (``cp311-cp311-manylinux_2_17_x86_64``)."""
    index: str | None = None
    """Index the file was seen on."""


@dataclass(frozen=True)
class CandidateSet:
    """Everything the owning index offers for one name on this target."""

    name: NormalizedName
    index: str | None
    """Name of the index that owns the name (first-index), None if no index lists it."""
    candidates: tuple[Candidate, ...]
    """Usable wheels, best first (newest version, then best tag)."""
    rejections: Sequence[Rejection] = ()
    """Files that do not fit, with why (may be worked out lazily, on first use)."""
    also_on: tuple[str, ...] = field(default=())
    """Other indexes that list the name but were not consulted (first-index strategy)."""


@dataclass(frozen=True)
class CandidateMetadata:
    """The parts of a wheel's METADATA the resolver needs."""

    name: str
    version: str
    requires_dist: tuple[Requirement, ...]
    requires_python: str | None


class Finder(Protocol):
    """The index side as the resolver sees it."""

    def find(self, name: NormalizedName) -> CandidateSet:
        """All candidates for ``name`` on the index that owns it (pins and strategy applied)."""

    def metadata(self, candidate: Candidate) -> CandidateMetadata:
        """METADATA of a candidate (PEP 658, range request, or full download; cached)."""
