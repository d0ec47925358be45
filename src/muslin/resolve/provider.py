"""The resolvelib provider: candidates for the image's exact target, installed pins fixed.

Identifiers are canonical names; a requirement with extras gets its own
identifier (``name[a,b]``) whose candidates depend on the base name at the
same version, as pip does.  A pseudo-identifier :data:`PYTHON` stands for the
target interpreter so ``Requires-Python`` of wheel metadata takes part in
resolution like any other requirement.

A name with an installed distribution in the target's site-packages has one
candidate, the installed version, unless ``upgrade_system`` lists it (or
``:all:``).  Every candidate that is left out is recorded with the reason
(:attr:`MuslinProvider.rejected`), so an impossible resolution can be
explained precisely.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version
from resolvelib import AbstractProvider

from muslin.errors import MuslinError, UsageError
from muslin.facts.model import Distribution
from muslin.index.candidate import Candidate, CandidateMetadata, CandidateSet, Finder
from muslin.index.config import redact_url
from muslin.plan.model import Artifact

PYTHON = "<python>"
"""Identifier of the target interpreter (its only candidate is the target's Python version)."""
USER = "<user>"
"""Parent label of requirements given by the user."""
DIRECT_INDEX = "direct"
"""Artifact index name for ``name @ url`` direct references."""
SPECULATION_THREADS = 8
"""Threads fetching, ahead of the resolver, the metadata of the versions it will most likely pin."""


class MarkerTarget(Protocol):
    """What the provider needs from a target: its complete marker environment."""

    def markers(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Req:
    """One requirement as the resolver sees it."""

    name: NormalizedName
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    extras: frozenset[str] = frozenset()
    url: str | None = None
    """Direct reference (``name @ url``), credentials possibly included."""
    hashes: frozenset[str] = frozenset()
    """Allowed sha256 hex digests (``--hash``); empty: any."""
    text: str = ""
    """The requirement as written, for messages."""
    source: str = USER
    """``<user>``, ``requirements.txt:3`` or ``name version`` of the parent."""
    marker: Marker | None = None
    """Environment marker of a user requirement or constraint (evaluated by ``resolve``)."""

    @property
    def identifier(self) -> str:
        if self.name == PYTHON or not self.extras:
            return self.name
        return f"{self.name}[{','.join(sorted(self.extras))}]"

    @property
    def is_exact_pin(self) -> bool:
        """``==X`` (no wildcard) or ``===X``: the user named one version."""
        return any(
            (s.operator == "==" and not s.version.endswith(".*")) or s.operator == "==="
            for s in self.specifier
        )

    def __str__(self) -> str:
        return self.text or f"{self.identifier}{self.specifier}"

    @classmethod
    def from_requirement(
        cls,
        requirement: Requirement,
        *,
        hashes: Iterable[str] = (),
        source: str = USER,
    ) -> Req:
        return cls(
            name=canonicalize_name(requirement.name),
            specifier=requirement.specifier,
            extras=frozenset(canonicalize_name(e) for e in requirement.extras),
            url=requirement.url,
            hashes=frozenset(h.lower() for h in hashes),
            text=str(requirement),
            source=source,
            marker=requirement.marker,
        )


@dataclass(frozen=True)
class RCandidate:
    """A resolver candidate: an installed distribution, an index wheel, a direct wheel, or Python."""

    name: NormalizedName
    version: Version
    extras: frozenset[str] = frozenset()
    installed: Distribution | None = None
    wheel: Candidate | None = None
    """The index (or direct-reference) wheel, None for installed and Python candidates."""

    @property
    def identifier(self) -> str:
        if not self.extras:
            return self.name
        return f"{self.name}[{','.join(sorted(self.extras))}]"

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def __str__(self) -> str:
        return f"{self.identifier}=={self.version}"


@dataclass
class RejectedVersion:
    """A version considered for an identifier and left out, with why."""

    version: str
    reason: str
    """``does not match ==2.1.1``, ``requires-python >=3.12``, ``yanked``, ``hash not allowed`` ..."""


def wheel_name_version(filename: str) -> tuple[NormalizedName, Version]:
    """Project name and version from a wheel filename, UsageError if it is not one."""
    try:
        name, version, _build, _tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise UsageError(f"direct reference {filename!r} is not a wheel file name: {exc}") from None
    return name, version


def direct_url(url: str) -> str:
    """A direct reference URL as recorded in the plan: no fragment, no credentials."""
    parts = urlsplit(url)
    return redact_url(urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")))


def direct_candidate(req: Req) -> Candidate:
    """The single wheel a ``name @ url#sha256=...`` requirement designates."""
    assert req.url is not None
    parts = urlsplit(req.url)
    if parts.scheme not in ("http", "https", "file"):
        raise UsageError(f"{req}: direct references must be http(s) or file URLs")
    filename = unquote(parts.path.rsplit("/", 1)[-1])
    if not filename.endswith(".whl"):
        raise UsageError(f"{req}: only wheel URLs are supported (source builds come later)")
    fragment = dict(p.split("=", 1) for p in parts.fragment.split("&") if "=" in p)
    sha256 = fragment.get("sha256", "").lower()
    if not sha256 and len(req.hashes) == 1:
        sha256 = next(iter(req.hashes))
    if len(sha256) != 64:
        raise UsageError(f"{req}: a direct reference needs '#sha256=<hex>' (or one --hash) to verify the download")
    name, version = wheel_name_version(filename)
    if name != req.name:
        raise UsageError(f"{req}: the wheel {filename!r} is for {name}, not {req.name}")
    artifact = Artifact(filename=filename, url=direct_url(req.url), sha256=sha256, index=DIRECT_INDEX)
    return Candidate(name=name, version=version, artifact=artifact, tag_rank=0)


class MuslinProvider(AbstractProvider[Req, RCandidate, str]):
    """resolvelib provider for one target image."""

    def __init__(
        self,
        *,
        finder: Finder,
        target: MarkerTarget,
        installed: Mapping[NormalizedName, Distribution],
        upgrade_system: Iterable[str] = (),
        constraints: Iterable[Req] = (),
        user_requirements: Iterable[Req] = (),
        allow_prereleases: bool = False,
        speculate: bool = True,
    ) -> None:
        self.finder = finder
        self.allow_prereleases = allow_prereleases
        self.environment: dict[str, str] = dict(target.markers())
        self.python_version = Version(self.environment["python_full_version"])
        self.installed = dict(installed)
        upgrades = set(upgrade_system)
        self.upgrade_all = ":all:" in upgrades
        self.upgrade = {canonicalize_name(n) for n in upgrades if n != ":all:"}
        self.constraints: dict[NormalizedName, list[Req]] = {}
        for c in constraints:
            self.constraints.setdefault(c.name, []).append(c)
        self.user_pins = {r.name for r in user_requirements if r.is_exact_pin or r.url}
        self.candidate_sets: dict[NormalizedName, CandidateSet] = {}
        self.rejected: dict[str, list[RejectedVersion]] = {}
        self.chains: dict[str, tuple[str, ...]] = {}
        """identifier -> the first chain of parents that asked for it (``<user>``, ``a 1.0``, ...)."""
        self.display_names: dict[NormalizedName, str] = {}
        self._dependencies: dict[RCandidate, list[Req]] = {}
        self._direct: dict[NormalizedName, Candidate] = {}
        for r in user_requirements:
            self.chains.setdefault(r.identifier, (USER,))
        self._pool: ThreadPoolExecutor | None = None
        if speculate:
            self._pool = ThreadPoolExecutor(SPECULATION_THREADS, thread_name_prefix="muslin-speculate")
        self._meta_lock = threading.Lock()
        self._meta_futures: dict[str, Future[CandidateMetadata]] = {}
        self._speculated: set[tuple[str, str]] = set()
        """(identifier, specifier) already speculated on."""
        self._spec_ok: dict[tuple[str, Version], bool] = {}
        self._spec_texts: dict[int, str] = {}
        self._specs_seen: list[SpecifierSet] = []
        self._rp_specs: dict[str, SpecifierSet | None] = {}
        self._rp_ok: dict[int, bool] = {}
        """Keyed by id of a SpecifierSet kept alive in ``_rp_specs``."""

    def close(self) -> None:
        """Stop speculative fetches (waits for the ones in flight)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- speculation: metadata fetched before resolvelib asks for it ----------------

    def _speculate_metadata(self, wheel: Candidate, extras: frozenset[str] = frozenset()) -> None:
        pool = self._pool
        if pool is None:
            return
        key = wheel.artifact.url
        with self._meta_lock:
            if key in self._meta_futures:
                return
            try:
                self._meta_futures[key] = pool.submit(self._fetch_and_follow, wheel, extras)
            except RuntimeError:  # pool shut down
                return

    def _fetch_and_follow(self, wheel: Candidate, extras: frozenset[str]) -> CandidateMetadata:
        """Metadata of a likely pick; its dependencies are then looked up ahead of the resolver too."""
        meta = self.finder.metadata(wheel)
        with contextlib.suppress(MuslinError, RuntimeError, ValueError):  # best effort: the resolver asks again
            self._follow(wheel, meta, extras)
        return meta

    def _follow(self, wheel: Candidate, meta: CandidateMetadata, extras: frozenset[str]) -> None:
        if self._pool is None:
            return
        deps: list[Req] = []
        for requirement in meta.requires_dist:
            if not self.evaluate(requirement.marker, extras):
                continue
            name = canonicalize_name(requirement.name)
            if name == wheel.name or self.is_pinned_by_system(name):
                continue
            deps.append(Req.from_requirement(requirement))
        prefetch = getattr(self.finder, "prefetch", None)
        if deps and callable(prefetch):
            prefetch([d.name for d in deps if not d.url])
        for dep in deps:
            self.speculate_dependency(dep)

    def speculate_dependency(self, req: Req) -> None:
        """Find ``req``'s likely pick and fetch its metadata, in the background.

        With a finder that can call back (``when_found``), the metadata fetch starts the
        moment the project page is evaluated, without a thread waiting for the page.
        """
        pool = self._pool
        if pool is None or req.url or req.name == PYTHON or self.is_pinned_by_system(req.name):
            return
        key = (req.identifier, str(req.specifier))
        with self._meta_lock:
            if key in self._speculated:
                return
            self._speculated.add(key)
        when_found = getattr(self.finder, "when_found", None)
        try:
            if callable(when_found):
                when_found(req.name, lambda cset: self._pick(cset, req))
            else:
                pool.submit(self._guess, req)
        except (MuslinError, RuntimeError):  # best effort: the resolver asks again
            return

    def _guess(self, req: Req) -> None:
        try:
            cset = self.finder.find(req.name)
        except MuslinError:
            return
        self._pick(cset, req)

    def _pick(self, cset: CandidateSet, req: Req) -> None:
        """Speculate on the newest candidate of ``cset`` that ``req`` and the target's Python accept."""
        try:
            self._pick_first(cset, req)
        except MuslinError:  # working out older versions failed: the resolver meets it and reports it
            return

    def _pick_first(self, cset: CandidateSet, req: Req) -> None:
        for cand in cset.candidates:
            if cand.yanked or not req.specifier.contains(cand.version):
                continue
            if cand.requires_python:
                try:
                    if not SpecifierSet(cand.requires_python).contains(self.python_version, prereleases=True):
                        continue
                except ValueError:
                    continue
            self._speculate_metadata(cand, req.extras)
            return

    def _metadata(self, wheel: Candidate) -> CandidateMetadata:
        with self._meta_lock:
            future = self._meta_futures.get(wheel.artifact.url)
        if future is not None:
            try:
                return future.result()
            except MuslinError:
                pass  # ask again below, so the error surfaces from this thread
        return self.finder.metadata(wheel)

    # -- helpers -----------------------------------------------------------------

    def is_pinned_by_system(self, name: NormalizedName) -> bool:
        """True when ``name`` is installed and may not move (no ``--upgrade-system`` for it)."""
        return name in self.installed and not (self.upgrade_all or name in self.upgrade)

    def candidate_set(self, name: NormalizedName) -> CandidateSet:
        cached = self.candidate_sets.get(name)
        if cached is None:
            cached = self.finder.find(name)
            self.candidate_sets[name] = cached
        return cached

    def hashed(self, wheel: Candidate) -> Candidate:
        """``wheel`` with its sha256 known (the finder downloads it when the index gave none)."""
        if wheel.artifact.sha256:
            return wheel
        with_hash = getattr(self.finder, "with_hash", None)
        return with_hash(wheel) if callable(with_hash) else wheel

    def evaluate(self, marker: Marker | None, extras: Iterable[str] = ()) -> bool:
        """Evaluate ``marker`` with the target's complete environment (and each extra)."""
        if marker is None:
            return True
        names = list(extras) or [""]
        return any(marker.evaluate({**self.environment, "extra": e}) for e in names)

    # -- AbstractProvider ----------------------------------------------------------

    def identify(self, requirement_or_candidate: Req | RCandidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, RCandidate],
        candidates: Mapping[str, Iterator[RCandidate]],
        information: Mapping[str, Iterator[Any]],
        backtrack_causes: Sequence[Any],
    ) -> tuple[int, int, int, int, int, str]:
        if identifier == PYTHON:
            return (0, 0, 0, 0, 0, identifier)
        name = canonicalize_name(identifier.split("[", 1)[0])
        infos = list(information[identifier])
        system_pin = 0 if self.is_pinned_by_system(name) else 1
        exact = 0 if any(i.requirement.is_exact_pin or i.requirement.url for i in infos) else 1
        causes = {i.requirement.name for i in backtrack_causes} | {
            i.parent.name for i in backtrack_causes if i.parent is not None
        }
        in_causes = 0 if name in causes else 1
        # fewer versions first; counted on the page, not by running find_matches to the end
        cset = self.candidate_sets.get(name)
        count = 1 if system_pin == 0 else cset.count if cset is not None else 0
        extras_last = 1 if "[" in identifier else 0
        return (system_pin, exact, in_causes, count, extras_last, identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[RCandidate]],
    ) -> list[RCandidate] | Callable[[], Iterator[RCandidate]]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        if identifier == PYTHON:
            if self.python_version in bad or not all(self._version_ok(r, self.python_version) for r in reqs):
                return []
            return [RCandidate(NormalizedName(PYTHON), self.python_version)]
        name = canonicalize_name(identifier.split("[", 1)[0])
        extras = frozenset(identifier[len(name) + 1 : -1].split(",")) if "[" in identifier else frozenset()
        constraints = self.constraints.get(name, [])
        checks = reqs + constraints
        rejected = self.rejected.setdefault(identifier, [])
        rejected.clear()

        direct = next((r for r in reqs if r.url), None)
        if direct is not None:
            wheel = self._direct.get(name) or direct_candidate(direct)
            self._direct[name] = wheel
            if wheel.version not in bad and self._accept(wheel.version, wheel, checks, rejected, direct_ok=True):
                return [RCandidate(name, wheel.version, extras, wheel=wheel)]
            return []

        installed: RCandidate | None = None
        dist = self.installed.get(name)
        installed_version = _version_or_none(dist.version) if dist else None
        if dist is not None and installed_version is not None:
            if installed_version not in bad and self._accept(installed_version, None, checks, rejected):
                installed = RCandidate(name, installed_version, extras, installed=dist)
            if self.is_pinned_by_system(name):
                return [installed] if installed is not None else []

        cset = self.candidate_set(name)
        pre_ok = self.allow_prereleases or any(s.prereleases for r in checks for s in r.specifier)
        return lambda: self._matches(name, extras, cset, checks, bad, installed, pre_ok, rejected)

    def _matches(
        self,
        name: NormalizedName,
        extras: frozenset[str],
        cset: CandidateSet,
        checks: list[Req],
        bad: set[Version],
        installed: RCandidate | None,
        pre_ok: bool,
        rejected: list[RejectedVersion],
    ) -> Iterator[RCandidate]:
        """Acceptable candidates, newest first, worked out only as far as resolvelib reads them.

        The installed distribution takes its version's place (before any wheel of the same
        version); pre-releases come only when a specifier names one, with ``--pre``, or when
        no final release fits at all (pip's rule; an installed pre-release counts as final).
        ``rejected`` collects why versions were passed over, complete once the iterator is.
        """
        rejected.clear()
        hash_checked = any(r.hashes for r in checks)
        seen: set[Version] = {installed.version} if installed is not None else set()
        held_back: list[RCandidate] = []
        any_final = False
        first = True
        for cand in cset.candidates:
            if installed is not None and installed.version >= cand.version:
                yield installed
                installed, any_final, first = None, True, False
            if cand.version in seen or cand.version in bad:
                continue
            if hash_checked and not cand.artifact.sha256:
                cand = self.hashed(cand)
            if not self._accept(cand.version, cand, checks, rejected):
                continue
            seen.add(cand.version)
            match = RCandidate(name, cand.version, extras, wheel=cand)
            if not pre_ok and cand.version.is_prerelease:
                held_back.append(match)
                continue
            if first:
                self._speculate_metadata(cand)
                first = False
            any_final = True
            yield match
        if installed is not None:
            yield installed
            any_final = True
        if not any_final:
            if held_back and held_back[0].wheel is not None:
                self._speculate_metadata(held_back[0].wheel)
            yield from held_back

    def is_satisfied_by(self, requirement: Req, candidate: RCandidate) -> bool:
        if requirement.name == PYTHON:
            return candidate.name == PYTHON and self._version_ok(requirement, candidate.version)
        if requirement.url:
            wheel = candidate.wheel
            return (
                wheel is not None
                and wheel.artifact.index == DIRECT_INDEX
                and wheel.artifact.url == direct_url(requirement.url)
                and self._version_ok(requirement, candidate.version)
            )
        if not self._version_ok(requirement, candidate.version):
            return False
        if requirement.hashes and candidate.wheel is not None:
            return candidate.wheel.artifact.sha256.lower() in requirement.hashes
        return True

    def get_dependencies(self, candidate: RCandidate) -> list[Req]:
        cached = self._dependencies.get(candidate)
        if cached is not None:
            return cached
        deps = self._compute_dependencies(candidate)
        self._dependencies[candidate] = deps
        chain = (*self.chains.get(candidate.identifier, (USER,)), candidate.label)
        for dep in deps:
            self.chains.setdefault(dep.identifier, chain)
        names = [d.name for d in deps if d.name != PYTHON and d.name not in self.candidate_sets]
        prefetch = getattr(self.finder, "prefetch", None)
        if names and callable(prefetch):
            prefetch([n for n in names if not self.is_pinned_by_system(n)])
        for dep in deps:
            self.speculate_dependency(dep)
        return deps

    # -- internals ---------------------------------------------------------------

    def _compute_dependencies(self, candidate: RCandidate) -> list[Req]:
        if candidate.name == PYTHON:
            return []
        label = candidate.label
        deps: list[Req] = []
        if candidate.extras:
            base_spec = SpecifierSet(f"=={candidate.version}")
            base_url = None
            if candidate.wheel is not None and candidate.wheel.artifact.index == DIRECT_INDEX:
                base_url = candidate.wheel.artifact.url
            deps.append(Req(candidate.name, base_spec, url=base_url, text=f"{candidate.name}=={candidate.version}", source=label))
        if candidate.installed is not None:
            requirement_texts: Sequence[str] = candidate.installed.requires
            self.display_names.setdefault(candidate.name, candidate.installed.name)
            parsed = [_parse_requirement(t) for t in requirement_texts]
            requirements = [r for r in parsed if r is not None]
        else:
            assert candidate.wheel is not None
            meta = self._metadata(candidate.wheel)
            self.display_names.setdefault(candidate.name, meta.name)
            requirements = list(meta.requires_dist)
            if meta.requires_python:
                try:
                    spec = SpecifierSet(meta.requires_python)
                except ValueError:
                    spec = None
                if spec is not None:
                    deps.append(Req(NormalizedName(PYTHON), spec, text=f"Requires-Python {spec}", source=label))
        for req in requirements:
            if candidate.extras:
                # the base candidate brings the unconditional dependencies; here only the extras'
                if req.marker is None or not self.evaluate(req.marker, candidate.extras) or self.evaluate(req.marker):
                    continue
            elif not self.evaluate(req.marker):
                continue
            if canonicalize_name(req.name) == candidate.name and not req.extras:
                continue
            deps.append(replace(Req.from_requirement(req, source=label), marker=None))
        return deps

    def _version_ok(self, req: Req, version: Version) -> bool:
        """``req``'s specifier admits ``version`` (memoised: resolvelib asks again and again)."""
        spec = req.specifier
        text = self._spec_texts.get(id(spec))
        if text is None:
            text = str(spec)
            self._spec_texts[id(spec)] = text
            self._specs_seen.append(spec)  # keeps the id unique while memoised
        key = (text, version)
        ok = self._spec_ok.get(key)
        if ok is None:
            ok = spec.contains(version, prereleases=True)
            self._spec_ok[key] = ok
        return ok

    def _python_ok(self, spec: SpecifierSet) -> bool:
        ok = self._rp_ok.get(id(spec))
        if ok is None:
            ok = spec.contains(self.python_version, prereleases=True)
            self._rp_ok[id(spec)] = ok
        return ok

    def _requires_python(self, text: str) -> SpecifierSet | None:
        """Parsed ``Requires-Python`` of a wheel (None when invalid), memoised by text."""
        if text not in self._rp_specs:
            try:
                self._rp_specs[text] = SpecifierSet(text)
            except ValueError:
                self._rp_specs[text] = None
        return self._rp_specs[text]

    def _accept(
        self,
        version: Version,
        wheel: Candidate | None,
        checks: Sequence[Req],
        rejected: list[RejectedVersion],
        direct_ok: bool = False,
    ) -> bool:
        for req in checks:
            if not self._version_ok(req, version):
                rejected.append(RejectedVersion(str(version), f"does not match {req} (from {req.source})"))
                return False
        if wheel is None:
            return True
        if wheel.yanked and not direct_ok and not any(r.is_exact_pin for r in checks):
            rejected.append(RejectedVersion(str(version), "yanked (pin it with == to use it)"))
            return False
        if wheel.requires_python:
            spec = self._requires_python(wheel.requires_python)
            if spec is not None and not self._python_ok(spec):
                rejected.append(RejectedVersion(str(version), f"requires-python {spec}"))
                return False
        for req in checks:
            if req.hashes and wheel.artifact.sha256.lower() not in req.hashes:
                rejected.append(RejectedVersion(str(version), f"{wheel.artifact.filename}: sha256 not among the --hash values"))
                return False
        return True


def _version_or_none(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _parse_requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None
