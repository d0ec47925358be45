"""Decide, file by file, whether an index file can be installed on the target.

Each :class:`IndexFile` becomes a :class:`Candidate` (a wheel whose tags match
the target, with its best tag rank) or a :class:`Rejection` with a precise
reason.  Yanked wheels stay candidates flagged ``yanked=True``: the resolver
takes them only for an exact ``==`` pin.
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from muslin.index.candidate import Candidate, Rejection
from muslin.index.collector import IndexFile
from muslin.index.config import IndexConfig
from muslin.plan.model import Artifact
from muslin.target.target import Target

_BUILD_TAG = re.compile(r"(\d+)(.*)")
"""packaging's rule for the optional build tag of a wheel file name."""
SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")


def _sdist_version(filename: str) -> str:
    try:
        return str(parse_sdist_filename(filename)[1])
    except InvalidSdistFilename:
        stem = filename
        for suffix in SDIST_SUFFIXES:
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        return stem.rpartition("-")[2] or "?"


def requires_python_ok(spec: str | None, full_version: str) -> bool:
    """True when ``spec`` admits ``full_version`` (an invalid spec admits everything, like pip)."""
    if not spec:
        return True
    return _requires_python_ok(spec, full_version)


@functools.lru_cache(maxsize=4096)
def _requires_python_ok(spec: str, full_version: str) -> bool:
    """Memoised: a page repeats the same few ``requires-python`` values on thousands of files."""
    try:
        return SpecifierSet(spec).contains(full_version, prereleases=True)
    except InvalidSpecifier:
        return True


@dataclass
class Evaluator:
    """Evaluates files of one project for one target."""

    target: Target
    name: NormalizedName
    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()
    _names: dict[str, NormalizedName] = field(default_factory=dict, repr=False)
    """Project-name part of a wheel file name -> canonical name (valid ones only)."""
    _versions: dict[str, Version] = field(default_factory=dict, repr=False)

    def _no_binary(self) -> bool:
        return ":all:" in self.no_binary or self.name in self.no_binary

    def evaluate(self, file: IndexFile, index: IndexConfig) -> Candidate | Rejection:
        filename = file.filename
        if not filename.endswith(".whl"):
            if filename.endswith(SDIST_SUFFIXES):
                return Rejection(_sdist_version(filename), filename, "sdist only", "sdist", index=index.name)
            return Rejection("?", filename, "not a wheel or sdist", "other", index=index.name)
        quick = self._tag_rank(filename, index)
        if isinstance(quick, Rejection):  # no tag of the name fits: rejected without parsing the rest
            return quick
        parsed = self._parse(filename, memo=quick is not None)
        if isinstance(parsed, str):
            return Rejection("?", filename, f"invalid wheel filename ({parsed})", "invalid", index=index.name)
        name, version = parsed
        if name != self.name:
            return Rejection(
                str(version), filename, f"wheel of another project ({name})", "invalid", index=index.name
            )
        if self._no_binary():
            return Rejection(str(version), filename, "binary excluded by --no-binary", "no-binary", index=index.name)
        best = quick
        if best is None:
            ranks = self.target.tag_ranks(accept_linux=index.accept_linux_tags)
            file_tags = parse_wheel_filename(filename)[3]
            best = min((ranks[t] for t in file_tags if t in ranks), default=None)
            if best is None:
                return self._tag_rejection(str(version), filename, file_tags, index)
        if not requires_python_ok(file.requires_python, self.target.python_full_version):
            return Rejection(
                str(version),
                filename,
                f"requires-python {file.requires_python} (target {self.target.python_full_version})",
                "requires-python",
                index=index.name,
            )
        return Candidate(
            name=self.name,
            version=version,
            artifact=Artifact(
                filename=filename,
                url=file.url,
                sha256=file.sha256 or "",
                index=index.name,
                size=file.size,
            ),
            tag_rank=best,
            yanked=file.yanked,
            requires_python=file.requires_python,
            metadata_url=file.metadata_url,
        )

    @staticmethod
    def version_text(filename: str) -> str | None:
        """The version part of a wheel file name of the usual five or six parts, else None."""
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) in (5, 6) else None

    def parse_version(self, text: str) -> Version | None:
        """``text`` as a version (memoised), None if it is not one."""
        version = self._versions.get(text)
        if version is None:
            with contextlib.suppress(InvalidVersion):
                version = self._versions[text] = Version(text)
        return version

    def _parse(self, filename: str, memo: bool) -> tuple[NormalizedName, Version] | str:
        """Name and version of a wheel file name, or why it is invalid.

        With ``memo`` (a name of the usual five or six parts) the checks of
        :func:`packaging.utils.parse_wheel_filename` are made piecewise, each project
        name and version string parsed once per page; anything unusual goes to
        packaging itself, for its exact message.
        """
        if memo:
            parts = filename[:-4].split("-")
            name = self._names.get(parts[0])
            if name is not None and (len(parts) == 5 or _BUILD_TAG.match(parts[2]) is not None):
                version = self.parse_version(parts[1])
                if version is not None:
                    return name, version
        try:
            name, version, _build, _tags = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            return str(exc)
        if memo:
            self._names[parts[0]] = name
            self._versions[parts[1]] = version
        return name, version

    def _tag_rank(self, filename: str, index: IndexConfig) -> Rejection | int | None:
        """Rank a wheel by its tags without parsing its name (big pages): a rank, a rejection, or None.

        None when the name does not have the usual five or six parts.
        """
        parts = filename[:-4].split("-")
        if len(parts) not in (5, 6):
            return None
        interps, abis, plats = (p.lower().split(".") for p in parts[-3:])
        ranks = self.target.tag_string_ranks(accept_linux=index.accept_linux_tags)
        shown = []
        best: int | None = None
        for i in interps:
            for a in abis:
                for p in plats:
                    tag = f"{i}-{a}-{p}"
                    rank = ranks.get(tag)
                    if rank is not None:
                        best = rank if best is None else min(best, rank)
                    shown.append(tag)
        if best is not None:
            return best
        shown.sort()
        reason = f"no matching tag ({', '.join(shown)})"
        linux = f"linux_{self.target.arch}"
        if not index.accept_linux_tags and linux in plats:
            reason += f"; {linux} wheels need accept-linux-tags for index {index.name}"
        return Rejection(parts[1], filename, reason, "tags", tuple(shown), index=index.name)

    def _tag_rejection(
        self, version: str, filename: str, file_tags: frozenset[Tag], index: IndexConfig
    ) -> Rejection:
        shown = sorted(str(t) for t in file_tags)
        reason = f"no matching tag ({', '.join(shown)})"
        linux = f"linux_{self.target.arch}"
        if not index.accept_linux_tags and any(t.platform == linux for t in file_tags):
            reason += f"; {linux} wheels need accept-linux-tags for index {index.name}"
        return Rejection(version, filename, reason, "tags", tuple(shown), index=index.name)


class NameFilter:
    """Tells, from a file name alone, that a file cannot fit the target (big pages, cheaply).

    :meth:`defer` is True for anything but a ``.whl``, and for a wheel none of whose
    interpreter, ABI or platform tags occurs in any of the target's tags: such a
    file is always a :class:`Rejection`, so working out why can wait until an
    explanation needs it.  A wheel name with the wrong number of parts is not
    deferred (the evaluator reports it as invalid).  Verdicts are memoised by the
    name's tag suffix: a page repeats the same few dozen suffixes on thousands of files.
    """

    def __init__(self, target: Target, accept_linux: bool = False) -> None:
        triples = [t.split("-") for t in target.tag_string_ranks(accept_linux=accept_linux)]
        self._parts = tuple(frozenset(t[i] for t in triples) for i in range(3))
        self._verdicts: dict[str, bool] = {}
        self._platforms: dict[str, bool] = {}
        """Last dash-separated part of a name (``win_amd64.whl``) -> no target platform in it."""

    def defer(self, filename: str) -> bool:
        if not filename.endswith(".whl"):
            return True
        # most names fail on their platform alone: one lookup (such a name is a rejection whatever
        # its other parts, an invalid name included, so the evaluator can tell why later)
        last = filename[filename.rfind("-") + 1 :]
        foreign = self._platforms.get(last)
        if foreign is None:
            plats = self._parts[2]
            foreign = self._platforms[last] = not any(p in plats for p in last[:-4].lower().split("."))
        if foreign:
            return True
        if filename.count("-") not in (4, 5):
            return False
        start = filename.rfind("-", 0, filename.rfind("-", 0, filename.rfind("-")))
        suffix = filename[start + 1 : -4]
        verdict = self._verdicts.get(suffix)
        if verdict is None:
            tags = suffix.lower().split("-")
            verdict = not all(
                any(p in allowed for p in part.split(".")) for part, allowed in zip(tags, self._parts, strict=True)
            )
            self._verdicts[suffix] = verdict
        return verdict


def sort_candidates(candidates: list[Candidate]) -> list[Candidate]:
    """Newest version first, then best tag, then non-yanked first (then by file name).

    Each distinct version is compared once (a page has thousands of files but a few
    hundred versions); the files are then sorted on plain tuples.
    """
    newest_first = sorted({c.version for c in candidates}, reverse=True)
    order = {v: i for i, v in enumerate(newest_first)}
    return sorted(candidates, key=lambda c: (order[c.version], c.tag_rank, c.yanked, c.artifact.filename))
