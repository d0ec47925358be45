"""What the finder hands the resolver: candidate files, and why others were rejected.

The contract between ``muslin.index`` (which talks HTTP) and
``muslin.resolve`` (pure).  A :class:`CandidateSet` holds, for one project
name, every wheel that fits the target on the index that owns the name, plus a
:class:`Rejection` for every file that did not fit, so "no wheel for
cp311-musllinux_1_2_x86_64; versions 3.2.x publish sdists only" can be said
precisely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, overload

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


T = TypeVar("T")

WorkOut = Callable[[Sequence[T]], tuple[list[Candidate], list[Rejection]]]
"""Evaluates the files of one version: its candidates (in order) and the files rejected."""


class LazyCandidates(Sequence[Candidate], Generic[T]):
    """Candidates, newest version first, worked out one version at a time as they are read.

    A project page lists thousands of files that fit the target's tags, most of them old
    releases a resolver never reaches.  ``ready`` are the candidates already evaluated
    (sorted, newest first); ``pending`` are the older versions still to be evaluated, newest
    first, each with its files as ``work_out`` wants them.  Iterating works out the next
    version only when the previous ones are used up; ``len``, indexing from the end and
    slices work everything out.  Safe to read from several threads.
    """

    def __init__(
        self,
        ready: Sequence[Candidate],
        pending: Sequence[tuple[str, Sequence[T]]],
        work_out: WorkOut[T],
        rejected: Sequence[Rejection] = (),
    ) -> None:
        self._ready = list(ready)
        self._pending = list(pending)
        self._next = 0
        self._pending_files = sum(len(files) for _v, files in self._pending)
        """Files in the versions still pending (kept up to date: ``estimate`` is asked often)."""
        self._work_out = work_out
        self._rejected = list(rejected)
        self._lock = threading.Lock()

    @property
    def estimate(self) -> int:
        """How many candidates there are, without working them all out: the files still
        pending count as candidates (a few may yet be rejected, e.g. for requires-python)."""
        with self._lock:
            return len(self._ready) + self._pending_files

    def state(self) -> tuple[list[Candidate], list[tuple[str, Sequence[T]]], list[Rejection]]:
        """(worked-out candidates, versions still pending, files rejected so far): to store."""
        with self._lock:
            return list(self._ready), list(self._pending[self._next :]), list(self._rejected)

    def rejected(self) -> list[Rejection]:
        """Every file of every version that was rejected (works everything out)."""
        self._work_out_all()
        return self._rejected

    @property
    def rejected_so_far(self) -> int:
        """How many files the versions worked out so far rejected."""
        return len(self._rejected)

    @property
    def pending(self) -> bool:
        """True while some versions are still to be worked out."""
        return self._next < len(self._pending)

    def _advance(self) -> bool:
        """Work out the next pending version; False when there is none."""
        with self._lock:
            if self._next >= len(self._pending):
                return False
            _version, files = self._pending[self._next]
            candidates, rejections = self._work_out(files)
            self._ready.extend(candidates)
            self._rejected.extend(rejections)
            self._pending_files -= len(files)
            self._next += 1
            return True

    def _work_out_all(self) -> None:
        while self._advance():
            pass

    def __iter__(self) -> Iterator[Candidate]:
        i = 0
        while True:
            if i < len(self._ready):
                yield self._ready[i]
                i += 1
            elif not self._advance() and i >= len(self._ready):
                return

    def __len__(self) -> int:
        self._work_out_all()
        return len(self._ready)

    def __bool__(self) -> bool:
        while not self._ready and self._advance():
            pass
        return bool(self._ready)

    @overload
    def __getitem__(self, i: int) -> Candidate: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Candidate]: ...
    def __getitem__(self, i: int | slice) -> Candidate | Sequence[Candidate]:
        if isinstance(i, slice) or i < 0:
            self._work_out_all()
            return self._ready[i]
        while i >= len(self._ready) and self._advance():
            pass
        return self._ready[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"LazyCandidates({len(self._ready)} worked out, {len(self._pending) - self._next} versions pending)"


@dataclass(frozen=True)
class CandidateSet:
    """Everything the owning index offers for one name on this target."""

    name: NormalizedName
    index: str | None
    """Name of the index that owns the name (first-index), None if no index lists it."""
    candidates: Sequence[Candidate]
    """Usable wheels, best first (newest version, then best tag); may be a :class:`LazyCandidates`."""
    rejections: Sequence[Rejection] = ()
    """Files that do not fit, with why (may be worked out lazily, on first use)."""
    also_on: tuple[str, ...] = field(default=())
    """Other indexes that list the name but were not consulted (first-index strategy)."""

    @property
    def count(self) -> int:
        """How many candidates, counted without working out a lazy sequence to its end."""
        cands = self.candidates
        return cands.estimate if isinstance(cands, LazyCandidates) else len(cands)


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
