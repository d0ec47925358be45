"""Explain an impossible resolution in words a user can act on.

Turns resolvelib's ``ResolutionImpossible`` causes, plus what the provider
recorded (candidate sets, rejected versions, requirement chains), into one of:

* :class:`~muslin.errors.ResolutionError` (exit 7): a conflict with an
  installed pin (naming its version and owner, and ``--upgrade-system``), a
  version conflict between requirements, an index pin or first-index owner
  lacking the requested version ("found on INDEX but not at the requested
  version"), or a ``Requires-Python`` mismatch;
* :class:`~muslin.errors.NoWheelError` (exit 8): the owning index has files
  at the requested versions but no wheel for the target ("no wheel for
  cp311-musllinux_1_2_x86_64; versions 3.2.x publish sdists only").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from muslin.errors import MuslinError, NoWheelError, ResolutionError
from muslin.index.candidate import CandidateSet, Rejection
from muslin.resolve.provider import PYTHON, USER, MuslinProvider, Req

MAX_LISTED = 5


def compress_versions(versions: Iterable[str]) -> str:
    """``3.2.0, 3.2.1`` -> ``3.2.x``; otherwise a short sorted list."""
    unique: dict[str, Version | None] = {}
    for v in versions:
        try:
            unique[v] = Version(v)
        except InvalidVersion:
            unique[v] = None
    ordered = sorted(unique, key=lambda s: (unique[s] is None, unique[s] or Version("0"), s))
    if len(ordered) > 1:
        prefixes = {".".join(str(p) for p in v.release[:2]) for v in unique.values() if v is not None}
        if len(prefixes) == 1 and all(v is not None for v in unique.values()):
            return f"{prefixes.pop()}.x"
    if len(ordered) > MAX_LISTED:
        return ", ".join(ordered[:2]) + ", ..., " + ", ".join(ordered[-2:])
    return ", ".join(ordered)


def _chain(provider: MuslinProvider, info: Any) -> str:
    req: Req = info.requirement
    parent = info.parent
    if parent is None:
        return f"you -> {req}"
    chain = (*provider.chains.get(parent.identifier, (USER,)), parent.label)
    words = ["you" if c == USER else c for c in chain]
    return " -> ".join([*words, str(req)])


def _matches(version: str, reqs: Sequence[Req]) -> bool:
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    return all(r.specifier.contains(v, prereleases=True) for r in reqs)


def _wheel_tags(rejections: Iterable[Rejection]) -> list[tuple[str, str]]:
    """(interpreter, platform) of every rejected wheel."""
    out: list[tuple[str, str]] = []
    for rej in rejections:
        if not rej.filename.endswith(".whl"):
            continue
        try:
            _n, _v, _b, tags = parse_wheel_filename(rej.filename)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        out.extend((t.interpreter, t.platform) for t in tags)
    return out


def _platforms(rejections: Iterable[Rejection]) -> list[str]:
    """Platforms with wheels: musllinux first, then manylinux, then the rest."""
    plats = {p for _i, p in _wheel_tags(rejections)}

    def rank(p: str) -> tuple[int, str]:
        return (0 if p.startswith("musllinux") else 1 if p.startswith(("manylinux", "linux")) else 2, p)

    return sorted(plats, key=rank)


def _musl_pythons(rejections: Iterable[Rejection], target_tag: str) -> list[str]:
    """Interpreters that do have musllinux wheels for the target's arch (``cp312`` ...)."""
    m = re.search(r"musllinux_\d+_\d+_(.+)$", target_tag)
    if m is None:
        return []
    arch = m.group(1)
    found = {i for i, p in _wheel_tags(rejections) if p.startswith("musllinux") and p.endswith("_" + arch)}
    return sorted(found)


def _rejection_lines(provider: MuslinProvider, identifier: str, cset: CandidateSet | None) -> list[str]:
    by_reason: dict[str, list[str]] = {}
    for rv in provider.rejected.get(identifier, []):
        by_reason.setdefault(rv.reason, []).append(rv.version)
    if cset is not None:
        for rej in cset.rejections:
            by_reason.setdefault(rej.reason, []).append(rej.version)
    lines = []
    for reason, versions in list(by_reason.items())[:8]:
        lines.append(f"  rejected {compress_versions(versions)}: {reason}")
    return lines


def _no_wheel(
    name: str,
    reqs: Sequence[Req],
    cset: CandidateSet,
    target_tag: str,
) -> NoWheelError | None:
    """NoWheelError when the owning index has the requested versions, but not as target wheels."""
    usable = [c for c in cset.candidates if _matches(str(c.version), reqs)]
    if usable:
        return None
    wanted = [r for r in cset.rejections if _matches(r.version, reqs)]
    if not wanted:
        return None
    sdist_versions = sorted(
        {r.version for r in wanted}
        - {r.version for r in wanted if r.filename.endswith(".whl")}
    )
    wheel_rejections = [r for r in wanted if r.filename.endswith(".whl")]
    parts = [f"{name}: no wheel for {target_tag or 'the target'}"]
    if sdist_versions:
        word = "version" if len(sdist_versions) == 1 else "versions"
        verb = "publishes" if len(sdist_versions) == 1 else "publish"
        parts.append(f"{word} {compress_versions(sdist_versions)} {verb} sdists only")
    if wheel_rejections:
        platforms = _platforms(wheel_rejections)
        versions = compress_versions(r.version for r in wheel_rejections)
        musl_pythons = _musl_pythons(wheel_rejections, target_tag)
        if musl_pythons:
            parts.append(f"its musllinux wheels for this arch are for {', '.join(musl_pythons)} only")
        if platforms:
            shown = ", ".join(platforms[:6]) + (", ..." if len(platforms) > 6 else "")
            parts.append(f"wheels of {versions} exist for {shown}")
        else:
            reasons = sorted({r.reason for r in wheel_rejections})
            parts.append(f"wheels of {versions} rejected: {'; '.join(reasons[:3])}")
    if cset.candidates:
        have = compress_versions(str(c.version) for c in cset.candidates)
        parts.append(f"versions with a target wheel: {have}")
    where = f" on index {cset.index}" if cset.index else ""
    advice = (
        f"\n  what you can do: Alpine may package it (apk add py3-{name}; muslin keeps apk packages as pins), "
        f"use an index with musl wheels for it (--index NAME=URL, --pin {name}=NAME), "
        "or choose a version that has a wheel; source builds are not supported yet"
    )
    return NoWheelError("; ".join(parts) + where + advice)


def _index_names(provider: MuslinProvider) -> list[str]:
    settings = getattr(provider.finder, "settings", None)
    return [str(ix.name) for ix in getattr(settings, "indexes", ())]


def _other_index(
    provider: MuslinProvider,
    name: NormalizedName,
    reqs: Sequence[Req],
    cset: CandidateSet,
    index_pins: Mapping[NormalizedName, str],
) -> ResolutionError | None:
    """The owning (or pinned) index lacks a matching version that another index has."""
    if cset.index is None:
        return None
    find_on = getattr(provider.finder, "find_on", None)
    others: list[str] = []
    names = _index_names(provider) or list(cset.also_on)
    if callable(find_on):
        for other in names:
            if other == cset.index:
                continue
            try:
                oset: CandidateSet = find_on(name, other)
            except MuslinError:
                continue
            if oset.index is not None and any(_matches(str(c.version), reqs) for c in oset.candidates):
                others.append(other)
    spec = ", ".join(str(r) for r in reqs)
    have = compress_versions(str(c.version) for c in cset.candidates) or "none usable on the target"
    pinned = name in index_pins
    why = f"pinned to index {cset.index} (--pin)" if pinned else f"owned by index {cset.index} (first-index: it lists {name} first)"
    if others:
        return ResolutionError(
            f"{name} found on {others[0]} but not at the requested version on {cset.index}: {spec}; "
            f"{name} is {why}, which has {have}; use --pin {name}={others[0]} "
            "or --index-strategy unsafe-best-match"
        )
    if pinned:
        return ResolutionError(
            f"{name} is {why}, which has no version matching {spec} (it has {have})"
        )
    return None


def explain_impossible(
    causes: Iterable[Any],
    provider: MuslinProvider,
    *,
    index_pins: Mapping[str, str],
    target_tag: str,
) -> MuslinError:
    """The most useful error for ``causes`` (resolvelib ``RequirementInformation`` list)."""
    groups: dict[str, list[Any]] = {}
    for info in causes:
        groups.setdefault(info.requirement.identifier, []).append(info)
    pins = {canonicalize_name(k): v for k, v in index_pins.items()}

    # 1. conflicts with installed pins: the most specific thing we can say
    for infos in groups.values():
        req0 = infos[0].requirement
        name = req0.name
        if name == PYTHON or not provider.is_pinned_by_system(name):
            continue
        dist = provider.installed[name]
        reqs = [i.requirement for i in infos]
        bad = [i for i in infos if not _matches(dist.version, [i.requirement])]
        if not bad and all(not r.url for r in reqs):
            continue
        chains = "; ".join(_chain(provider, i) for i in (bad or infos))
        owner = dist.owner.label
        return ResolutionError(
            f"{chains}: conflicts with {dist.name} {dist.version} installed in the image "
            f"(owner: {owner}, /{dist.metadata_path}), which muslin keeps as a fixed pin.\n"
            f"  what you can do: relax the requirement to accept {dist.version}, or let muslin "
            f"install another version into a venv beside the system one with --upgrade-system {name}"
        )

    # 2. Requires-Python of a chosen version
    if PYTHON in groups:
        infos = groups[PYTHON]
        lines = [
            f"{i.parent.label if i.parent else 'you'} requires Python {i.requirement.specifier}"
            for i in infos
        ]
        return ResolutionError(
            f"{'; '.join(lines)}, but the target has Python {provider.python_version}; "
            "pick versions that support it (or target another Python with --python X.Y)"
        )

    # 3. per-name explanations: no wheel, other index, index pin
    for infos in groups.values():
        name = infos[0].requirement.name
        reqs = [i.requirement for i in infos] + provider.constraints.get(name, [])
        cset = provider.candidate_sets.get(name)
        if cset is None:
            continue
        if name in pins and cset.index is None:
            chains = "; ".join(_chain(provider, i) for i in infos)
            return ResolutionError(
                f"{chains}: {name} is pinned to index {pins[name]} (--pin or config), "
                f"which does not list it; pin it to another index or remove the pin"
            )
        if cset.index is None and not cset.candidates and not cset.rejections:
            chains = "; ".join(_chain(provider, i) for i in infos)
            looked = ", ".join(_index_names(provider))
            where = f" (looked at: {looked})" if looked else ""
            return ResolutionError(f"{chains}: no configured index lists {name}{where}")
        no_wheel = _no_wheel(name, reqs, cset, target_tag)
        if no_wheel is not None:
            return no_wheel
        other = _other_index(provider, name, reqs, cset, pins)
        if other is not None:
            return other
        if len(groups) == 1 and not any(i.parent is not None for i in infos):
            listed = {str(c.version) for c in cset.candidates} | {r.version for r in cset.rejections}
            if listed and not any(_matches(v, reqs) for v in listed):
                spec = ", ".join(str(r) for r in reqs)
                return ResolutionError(
                    f"{spec}: no such version on index {cset.index} "
                    f"(it has {compress_versions(listed)})"
                )

    # 4. plain conflict between requirements
    lines = ["the requirements cannot all be satisfied on the target:"]
    for identifier, infos in groups.items():
        name = infos[0].requirement.name
        for info in infos:
            lines.append(f"  {_chain(provider, info)}")
        cset = provider.candidate_sets.get(name)
        lines.extend(_rejection_lines(provider, identifier, cset))
        if cset is not None and cset.index:
            have = compress_versions(str(c.version) for c in cset.candidates) or "none"
            lines.append(f"  {name} on index {cset.index}: {have}")
    lines.append("  what you can do: relax one of these requirements (or add constraints with -c)")
    return ResolutionError("\n".join(lines))
