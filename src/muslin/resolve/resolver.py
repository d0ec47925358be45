"""Resolve requirements for one target with resolvelib and :class:`MuslinProvider`.

``resolve`` returns a :class:`Resolution`: one :class:`ResolvedPackage` per
project (extras merged), each either kept (installed distribution) or to be
installed from a wheel.  Impossible resolutions become
:class:`~muslin.errors.ResolutionError` (exit 7) or
:class:`~muslin.errors.NoWheelError` (exit 8) with an explanation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from muslin.errors import ResolutionError
from muslin.facts.model import Distribution, ImageFacts
from muslin.index.candidate import Candidate, Finder

if TYPE_CHECKING:
    # imported by resolve() itself: a warm re-plan served from the resolution cache
    # only needs the result types above
    from muslin.resolve.provider import MarkerTarget, Req

MAX_ROUNDS = 100_000


@dataclass(frozen=True)
class ResolvedPackage:
    """One project in the resolution."""

    name: NormalizedName
    display_name: str
    version: Version
    extras: tuple[str, ...]
    installed: Distribution | None
    """The installed distribution that is kept (None: install ``wheel``)."""
    wheel: Candidate | None
    index: str | None
    """Index that owns the name (for installs: where the wheel comes from)."""
    also_on: tuple[str, ...]
    """Other indexes listing the name that first-index left unconsulted."""
    requested_by: tuple[str, ...]
    replaces: Distribution | None = None
    """An installed distribution this install supersedes (``--upgrade-system``)."""

    @property
    def keep(self) -> bool:
        return self.installed is not None


@dataclass(frozen=True)
class Resolution:
    packages: tuple[ResolvedPackage, ...]
    """Sorted by name."""

    def package(self, name: str) -> ResolvedPackage | None:
        key = canonicalize_name(name)
        for p in self.packages:
            if p.name == key:
                return p
        return None


def installed_distributions(facts: ImageFacts | None, site_packages: Iterable[str] | None = None) -> dict[NormalizedName, Distribution]:
    """Distributions in the target Python's site-packages, by canonical name (first wins)."""
    if facts is None:
        return {}
    allowed: set[str] | None = None
    if site_packages is not None:
        allowed = {s.strip("/") for s in site_packages}
    elif facts.python is not None:
        allowed = {s.strip("/") for s in facts.python.site_packages}
    out: dict[NormalizedName, Distribution] = {}
    for dist in facts.distributions:
        if allowed is not None and dist.site_packages.strip("/") not in allowed:
            continue
        out.setdefault(canonicalize_name(dist.canonical_name or dist.name), dist)
    return out


def resolve(
    requirements: Iterable[Req],
    constraints: Iterable[Req] = (),
    *,
    finder: Finder,
    target: MarkerTarget,
    facts: ImageFacts | None,
    upgrade_system: Iterable[str] = (),
    installed: Mapping[NormalizedName, Distribution] | None = None,
    index_pins: Mapping[str, str] | None = None,
    target_tag: str = "",
    allow_prereleases: bool = False,
) -> Resolution:
    """Resolve ``requirements`` (markers already applied) for ``target``.

    ``installed`` defaults to the distributions of ``facts``' primary Python;
    ``allow_prereleases`` is pip's ``--pre``; ``index_pins`` (name -> index) and ``target_tag`` (``cp311-musllinux_1_2_x86_64``)
    only improve error messages.
    """
    from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

    from muslin.resolve.explain import explain_impossible
    from muslin.resolve.provider import PYTHON, USER, MuslinProvider, RCandidate

    pins = installed if installed is not None else installed_distributions(facts)
    environment = dict(target.markers())
    reqs = [r for r in requirements if _applies(r, environment)]
    cons = [c for c in constraints if _applies(c, environment)]
    provider = MuslinProvider(
        finder=finder,
        target=target,
        installed=pins,
        upgrade_system=upgrade_system,
        constraints=cons,
        user_requirements=reqs,
        allow_prereleases=allow_prereleases,
    )
    prefetch = getattr(finder, "prefetch", None)
    if callable(prefetch):
        names = [r.name for r in reqs if not r.url and not provider.is_pinned_by_system(r.name)]
        if names:
            prefetch(names)
    for req in reqs:
        provider.speculate_dependency(req)
    resolver: Resolver[Req, RCandidate, str] = Resolver(provider, BaseReporter())
    try:
        result = resolver.resolve(reqs, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as exc:
        raise explain_impossible(
            exc.causes,
            provider,
            index_pins=index_pins or {},
            target_tag=target_tag,
        ) from None
    except ResolutionTooDeep:
        raise ResolutionError(
            f"resolution did not finish within {MAX_ROUNDS} rounds; "
            "add == pins for the packages with many versions (or constraints with -c)"
        ) from None
    finally:
        provider.close()

    merged: dict[NormalizedName, ResolvedPackage] = {}
    for identifier, cand in result.mapping.items():
        if identifier == PYTHON:
            continue
        parents: set[str] = set()
        for parent_id in result.graph.iter_parents(identifier):
            if parent_id is None:
                parents.add(USER)
            else:
                pname = parent_id.split("[", 1)[0]
                if pname != cand.name:
                    parents.add(pname)
        old = merged.get(cand.name)
        extras = set(cand.extras) | set(old.extras if old else ())
        parents |= set(old.requested_by if old else ())
        cset = provider.candidate_sets.get(cand.name)
        wheel = cand.wheel
        index = wheel.artifact.index if wheel is not None else (cset.index if cset else None)
        replaced = None
        if cand.installed is None:
            replaced = pins.get(cand.name)
        merged[cand.name] = ResolvedPackage(
            name=cand.name,
            display_name=provider.display_names.get(cand.name, cand.name),
            version=cand.version,
            extras=tuple(sorted(extras)),
            installed=cand.installed,
            wheel=wheel,
            index=index,
            also_on=cset.also_on if cset else (),
            requested_by=tuple(sorted(parents, key=lambda p: (p != USER, p))),
            replaces=replaced,
        )
    return Resolution(tuple(merged[k] for k in sorted(merged)))


def _applies(req: Req, environment: Mapping[str, str]) -> bool:
    return req.marker is None or req.marker.evaluate({**environment, "extra": ""})
