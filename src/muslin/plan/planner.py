"""Plan making: from a :class:`PlanRequest` (every option of ``muslin plan``) to a :class:`Plan`.

:class:`PlanRequest` carries every input, index, target and venv option as
given on the command line, already split (``NAME=URL`` pairs parsed) but not
yet interpreted; :func:`make_plan` opens the image, resolves, and builds the plan.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from muslin import __version__
from muslin.errors import ImageNotFoundError, NetworkError, UsageError
from muslin.facts.model import Distribution, ImageFacts, VirtualEnv
from muslin.index.config import (
    IndexConfig,
    IndexSettings,
    IndexStrategy,
    redact_url,
    redact_urls_in,
)
from muslin.plan.model import Action, ImageInfo, IndexRef, Plan, PlanItem, VenvDecision

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

    # imported lazily at run time: ``muslin.cli.options`` imports this module, and
    # every command's start-up time should not pay for HTTP, resolver and parser imports
    from muslin.image.sources.daemon import RootfsView
    from muslin.index.finder import PackageFinder
    from muslin.index.http import HttpClient
    from muslin.inputs.config import CliIndexOptions
    from muslin.inputs.requirements import ParsedRequirement
    from muslin.resolve.provider import Req
    from muslin.resolve.resolver import Resolution, ResolvedPackage
    from muslin.target.target import Target

DIRECT_INDEX = "direct"
"""Index name of ``name @ url`` artifacts (same value as ``muslin.resolve.provider.DIRECT_INDEX``)."""


@dataclass(frozen=True)
class PlanRequest:
    """Every option of ``muslin plan`` that shapes the plan."""

    image: str
    requirement_files: tuple[str, ...] = ()
    """``-r``: ``pyproject.toml`` or requirements files, in order."""
    constraint_files: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    """Requirement strings from the command line."""
    extras: tuple[str, ...] = ()
    all_extras: bool = False
    groups: tuple[str, ...] = ()
    indexes: tuple[tuple[str, str], ...] = ()
    """``--index NAME=URL`` in priority order (URLs may carry credentials)."""
    default_index: str | None = None
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    """``--no-index``: no package index at all, only ``find_links``."""
    pins: tuple[tuple[str, str], ...] = ()
    """``--pin PACKAGE=INDEX``."""
    index_strategy: str | None = None
    accept_linux_tags: tuple[str, ...] = ()
    platform: str | None = None
    python: str | None = None
    profile: str | None = None
    """``alpine:X.Y``: plan for the built-in release profile instead of reading the image."""
    offline: bool = False
    refresh: bool = False
    upgrade_system: tuple[str, ...] = ()
    """Canonical names (or ``:all:``) allowed to move away from their installed version."""
    venv: str | None = None
    no_venv: bool = False
    break_system_packages: bool = False
    project_dir: str | None = None
    """Where to look for ``pyproject.toml``/``muslin.yaml`` config; default: the current directory."""
    command_name: str = "plan"
    extra_args: tuple[str, ...] = field(default=())
    """Command-specific arguments appended to the regenerate command (``-o lock.txt``)."""

    def command_line(self) -> str:
        """A ``muslin`` command line that regenerates this plan, with credentials removed."""
        args: list[str] = ["muslin", self.command_name, self.image]
        args.extend(redact_urls_in(r) for r in self.requirements)
        for path in self.requirement_files:
            args += ["-r", redact_url(path)]
        for path in self.constraint_files:
            args += ["-c", redact_url(path)]
        for extra in self.extras:
            args += ["--extra", extra]
        if self.all_extras:
            args.append("--all-extras")
        for group in self.groups:
            args += ["--group", group]
        for name, url in self.indexes:
            args += ["--index", f"{name}={redact_url(url)}"]
        if self.default_index:
            args += ["--default-index", redact_url(self.default_index)]
        for link in self.find_links:
            args += ["--find-links", redact_url(link)]
        if self.no_index:
            args.append("--no-index")
        for package, index in self.pins:
            args += ["--pin", f"{package}={index}"]
        if self.index_strategy:
            args += ["--index-strategy", self.index_strategy]
        for index in self.accept_linux_tags:
            args += ["--accept-linux-tags", index]
        if self.platform:
            args += ["--platform", self.platform]
        if self.python:
            args += ["--python", self.python]
        if self.profile:
            args += ["--profile", self.profile]
        for name in self.upgrade_system:
            args += ["--upgrade-system", name]
        if self.venv:
            args += ["--venv", self.venv]
        if self.no_venv:
            args.append("--no-venv")
        if self.break_system_packages:
            args.append("--break-system-packages")
        args.extend(self.extra_args)
        return shlex.join(args)


@dataclass(frozen=True)
class PlanOutcome:
    """A plan and what was learnt making it."""

    plan: Plan
    facts: ImageFacts
    target: Target
    notes: tuple[str, ...] = ()
    """One-line remarks for stderr (built-in profile used, ...)."""
    resolution: Resolution | None = None
    direct_urls: tuple[str, ...] = ()
    """Direct-reference URLs as given: they may carry credentials (memory only, never written)."""


_OFFICIAL_ALPINE = re.compile(r"^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)/)?(?:library/)?alpine:(\d+\.\d+|edge)$")
VENV_PATH = "/opt/venv"


def official_alpine_release(reference: str) -> str | None:
    """``3.18`` for ``alpine:3.18`` / ``docker.io/library/alpine:3.18``, else None."""
    m = _OFFICIAL_ALPINE.match(reference.strip())
    return m.group(1) if m else None


def _profile_arch(platform: str | None) -> str:
    return platform or "x86_64"


def load_facts(request: PlanRequest, view: RootfsView | None = None) -> tuple[ImageFacts, list[str]]:
    """Facts of the image, or of the built-in release profile (``--profile``, or fallback).

    ``view``: for an image in the Docker daemon, a host directory showing its files (the
    install's running container), read instead of exporting the image; see
    :data:`muslin.image.sources.daemon.RootfsView`.
    """
    from muslin.target.releases import profile_facts

    notes: list[str] = []
    if request.profile:
        release = request.profile.split(":", 1)[1]
        facts = profile_facts(release, _profile_arch(request.platform))
        notes.append(f"using the built-in profile of alpine:{release} (--profile): python3 and musl from muslin's release table")
        return facts, notes
    from muslin.facts.inspector import inspect_opened
    from muslin.image.open import open_image

    try:
        opened = open_image(request.image, request.platform, offline=request.offline, view=view)
    except (NetworkError, ImageNotFoundError) as exc:
        official = official_alpine_release(request.image)
        if official is None:
            raise
        facts = profile_facts(official, _profile_arch(request.platform))
        why = "offline and not cached" if request.offline else f"could not be fetched ({exc})"
        notes.append(
            f"{request.image} {why}; using the built-in profile of alpine:{official} "
            "(a fresh image, no Python yet)"
        )
        return facts, notes
    return inspect_opened(opened), notes


def _cli_index_options(request: PlanRequest) -> CliIndexOptions:
    from muslin.inputs.config import CliIndexOptions

    return CliIndexOptions(
        indexes=tuple(f"{name}={url}" for name, url in request.indexes),
        default_index=request.default_index,
        find_links=request.find_links,
        no_index=request.no_index,
        pins=tuple(f"{package}={index}" for package, index in request.pins),
        index_strategy=request.index_strategy,
        accept_linux_tags=request.accept_linux_tags,
    )


def _requirements_fetcher(request: PlanRequest, stack: contextlib.ExitStack) -> Callable[[str], bytes]:
    """Reads ``-r https://...`` files through the HTTP cache (``--offline``/``--refresh`` apply);
    credentials from the URL or ``.netrc``; a 404 reads as a missing file."""
    client: HttpClient | None = None

    def fetch(url: str) -> bytes:
        nonlocal client
        if client is None:
            # imported here (httpx): only a requirements file on the web needs it
            from muslin.index.http import HttpClient

            client = stack.enter_context(HttpClient(offline=request.offline, refresh=request.refresh))
        client.credentials.add_from_url(url)
        resp = client.get(url.split("#", 1)[0], what="requirements file")
        if resp.status == 404:
            raise FileNotFoundError(errno.ENOENT, "HTTP 404 Not Found")
        return resp.content

    return fetch


def _to_req(parsed: ParsedRequirement) -> Req:
    from muslin.resolve.provider import Req

    return Req.from_requirement(parsed.requirement, hashes=parsed.sha256_hashes(), source=parsed.location)


def _existing_venv(request: PlanRequest, facts: ImageFacts, target: Target) -> VirtualEnv | None:
    """The image's own virtual environment the plan installs into: the one ``--venv`` names,
    else the active one (``VIRTUAL_ENV``/``PATH``) when it runs the target's Python."""
    if request.no_venv or request.break_system_packages:
        return None
    if request.venv:
        wanted = request.venv.strip().strip("/")
        return next((v for v in facts.venvs if v.path == wanted), None)
    active = facts.active_venv
    if active is not None and active.version_tuple == target.python_version:
        return active
    return None


def _environment_sites(facts: ImageFacts, venv: VirtualEnv | None) -> list[str] | None:
    """site-packages whose distributions are the plan's fixed pins (None: the primary Python's)."""
    if venv is None:
        return None
    sites = [venv.site_packages]
    if venv.system_site_packages:
        base = next((p for p in facts.pythons if p.version == venv.version), None)
        sites += list(base.site_packages) if base is not None else []
    return sites


def _venv_decision(
    request: PlanRequest, target: Target, resolution: Resolution, existing: VirtualEnv | None = None
) -> VenvDecision:
    replaced = [p for p in resolution.packages if p.replaces is not None and p.replaces.owner.kind == "apk"]
    replaced_any = [p for p in resolution.packages if p.replaces is not None]
    if existing is not None:
        why = "--venv: the image's own virtual environment" if request.venv else (
            "the image's active virtual environment (VIRTUAL_ENV/PATH)"
        )
        return VenvDecision("/" + existing.path, existing.system_site_packages, why, exists=True)
    if replaced_any and (request.no_venv or request.break_system_packages):
        names = ", ".join(p.name for p in replaced_any)
        flag = "--no-venv" if request.no_venv else "--break-system-packages"
        raise UsageError(
            f"--upgrade-system replaces installed {names}: that needs a virtual environment "
            f"(never over apk-owned files), so it cannot be combined with {flag}"
        )
    if request.venv:
        return VenvDecision(request.venv, True, "--venv")
    if request.break_system_packages:
        return VenvDecision(None, True, "--break-system-packages: installing into the system Python", True)
    if request.no_venv:
        if target.externally_managed:
            raise UsageError(
                "the image's Python is externally managed (PEP 668): --no-venv needs --break-system-packages"
            )
        return VenvDecision(None, True, "--no-venv")
    if replaced or replaced_any:
        names = ", ".join(p.name for p in replaced_any)
        return VenvDecision(VENV_PATH, True, f"--upgrade-system: {names} installed in a venv beside the system packages")
    if target.externally_managed:
        return VenvDecision(VENV_PATH, True, "PEP 668: the image's Python is externally managed")
    return VenvDecision(None, True, "")


def _image_info(request: PlanRequest, facts: ImageFacts, target: Target, from_profile: bool) -> ImageInfo:
    python = facts.python
    pull: str | None = None
    if request.profile:
        pull = request.profile
    elif facts.source == "profile":
        pull = request.image
    elif facts.source in ("registry", "docker"):
        name = request.image.strip()
        for scheme in ("docker:", "registry:"):
            if name.startswith(scheme):
                name = name[len(scheme):]
                break
        pull = name
    if python is not None:
        wanted = f"python{python.version}"
        exes = sorted(python.executables, key=lambda e: (not e.endswith("/" + wanted), not e.endswith("/python3"), e))
        executable = "/" + exes[0] if exes else f"/{python.prefix}/bin/python3"
        prefix: str | None = "/" + python.prefix
        has_pip = python.has_pip
    else:
        executable = "/usr/bin/python3"
        prefix = None
        has_pip = target.python_from_apk
    return ImageInfo(
        reference=request.image,
        pull_reference=pull,
        digest=facts.digest,
        alpine_release=facts.alpine_release,
        has_python=python is not None,
        python_prefix=prefix,
        python_executable=executable,
        has_pip=has_pip,
        externally_managed=target.externally_managed,
        from_profile=from_profile,
    )


def _item(pkg: ResolvedPackage, pins: dict[str, str], lower_priority: Mapping[str, list[str]]) -> PlanItem:
    if pkg.installed is not None:
        owner = pkg.installed.owner
        label = owner.label
        note = f"installed by apk: {owner.name} {owner.version}" if owner.kind == "apk" else None
        return PlanItem(
            name=pkg.name,
            display_name=pkg.display_name,
            version=str(pkg.version),
            action=Action.KEEP,
            source=label,
            requested_by=pkg.requested_by,
            extras=pkg.extras,
            top_level=pkg.installed.top_level,
            note=note,
        )
    assert pkg.wheel is not None
    artifact = pkg.wheel.artifact
    notes: list[str] = []
    if pkg.name in pins:
        notes.append(f"from {artifact.index} (pinned with --pin/config)")
    elif pkg.also_on:
        others = ", ".join(pkg.also_on)
        notes.append(
            f"from {artifact.index}, the first index listing it (first-index; also on {others}: "
            f"--pin {pkg.name}={pkg.also_on[0]} to use that)"
        )
    elif artifact.index in lower_priority:
        later = ", ".join(lower_priority[artifact.index])
        notes.append(
            f"from {artifact.index}, the first index listing it (first-index; not looked up on "
            f"{later}: --pin {pkg.name}=INDEX to choose)"
        )
    if pkg.replaces is not None:
        notes.append(f"replaces {pkg.replaces.version} ({pkg.replaces.owner.label}) inside the venv")
    return PlanItem(
        name=pkg.name,
        display_name=pkg.display_name,
        version=str(pkg.version),
        action=Action.INSTALL,
        source=artifact.index,
        artifact=artifact,
        requested_by=pkg.requested_by,
        extras=pkg.extras,
        note="; ".join(notes) or None,
    )


def _index_refs(
    settings: IndexSettings, resolution: Resolution, direct_urls: Sequence[str] = ()
) -> tuple[IndexRef, ...]:
    from muslin.index.credentials import CredentialStore, env_credentials

    store = CredentialStore()

    def needs_credentials(ix: IndexConfig) -> bool:
        """Credentials in the URL, ``MUSLIN_INDEX_<NAME>_*`` or ``.netrc``: the build needs a secret."""
        if ix.has_credentials or env_credentials(ix.name) is not None:
            return True
        return ix.url.startswith(("http://", "https://")) and store.lookup(ix.url) is not None

    refs = [IndexRef(ix.name, ix.redacted_url, needs_credentials(ix), ix.kind) for ix in settings.indexes]
    if any(p.wheel is not None and p.wheel.artifact.index == DIRECT_INDEX for p in resolution.packages):
        private = any(
            urlsplit(u).username is not None or (u.startswith(("http://", "https://")) and store.lookup(u) is not None)
            for u in direct_urls
        )
        refs.append(IndexRef(DIRECT_INDEX, "", private, "direct"))
    return tuple(refs)


def _lower_priority(settings: IndexSettings) -> dict[str, list[str]]:
    """Under first-index: index name -> the indexes consulted after it (empty otherwise)."""
    if settings.strategy is not IndexStrategy.FIRST_INDEX:
        return {}
    simple = [ix.name for ix in settings.indexes if ix.kind != "find-links" and not ix.explicit]
    return {name: simple[i + 1 :] for i, name in enumerate(simple) if simple[i + 1 :]}


def _with_hashes(resolution: Resolution, finder: PackageFinder) -> Resolution:
    """Every chosen wheel with its sha256 (downloaded once where the index published none)."""
    from muslin.resolve.resolver import Resolution

    packages = []
    for pkg in resolution.packages:
        if pkg.wheel is not None and not pkg.wheel.artifact.sha256:
            pkg = replace(pkg, wheel=finder.with_hash(pkg.wheel))
        packages.append(pkg)
    return Resolution(tuple(packages))


def _apk_packages(facts: ImageFacts, target: Target) -> tuple[str, ...]:
    """``python3~X.Y`` and ``py3-pip~A.B`` (the release's pip) for an image without Python."""
    from muslin.target.releases import find_release

    if facts.python is not None or not target.python_from_apk:
        return ()
    major, minor = target.python_version
    release = find_release(target.alpine_release)
    if release is None:  # python_from_apk implies a known release; keep apk's own choice then
        return (f"python3~{major}.{minor}", "py3-pip")
    pip_major, pip_minor = release.py3_pip_version
    return (f"python3~{major}.{minor}", f"py3-pip~{pip_major}.{pip_minor}")


def _resolve(
    request: PlanRequest,
    settings: IndexSettings,
    target: Target,
    facts: ImageFacts,
    installed: Mapping[NormalizedName, Distribution],
    pins: dict[str, str],
    requirements: list[Req],
    constraints: list[Req],
    pre: bool,
    cache_dir: Path,
    cache_key: str,
    direct_urls: Sequence[str] = (),
) -> Resolution:
    """Resolve with the indexes (the resolution cache missed) and record the result."""
    if not request.offline:
        from muslin.index.http import preload

        preload(ix.url for ix in settings.indexes)  # while the HTTP machinery is imported (once per process)
    from muslin.index.finder import PackageFinder
    from muslin.resolve.cache import store_resolution
    from muslin.resolve.resolver import resolve

    finder = PackageFinder(settings, target, offline=request.offline, refresh=request.refresh)
    finder.use_workers()  # index pages fetched and scanned in worker processes, when it can
    for url in direct_urls:  # name @ https://user:pw@host/x.whl: the download needs them (no output shows them)
        finder.http.credentials.add_from_url(url)
    info = target.info()
    try:
        resolution = resolve(
            requirements,
            constraints,
            finder=finder,
            target=target,
            facts=facts,
            installed=installed,
            upgrade_system=request.upgrade_system,
            index_pins=pins,
            target_tag=f"{info.interpreter_tag}-{info.platform_tag}",
            allow_prereleases=pre,
        )
        resolution = _with_hashes(resolution, finder)
    finally:
        finder.close()
    if finder.cacheable:
        pages, paths = finder.resolution_deps()
        store_resolution(cache_dir, cache_key, resolution, pages, paths)
    return resolution


def make_plan(
    request: PlanRequest,
    *,
    env: Mapping[str, str] | None = None,
    view: RootfsView | None = None,
    preload_http: bool = False,
) -> PlanOutcome:
    """Inspect (or profile) the image, resolve for its target, and build the plan.

    ``view``: where a daemon image's files can be read in place (see :func:`load_facts`).
    ``preload_http``: the caller needs the HTTP stack after the plan anyway (``muslin install``
    downloads the wheels): start loading it (httpx, the TLS context) while the image is read.
    Otherwise it is loaded only when the plan has to resolve (a cached resolution needs none).
    """
    from muslin.index.httpcache import cache_root
    from muslin.inputs.collect import collect_inputs
    from muslin.inputs.config import build_index_settings
    from muslin.resolve.cache import load_resolution, resolution_key
    from muslin.resolve.resolver import installed_distributions
    from muslin.target.target import build_target

    environ = os.environ if env is None else env
    cwd = Path(request.project_dir) if request.project_dir else None
    with contextlib.ExitStack() as remote:
        inputs = collect_inputs(
            requirement_files=request.requirement_files,
            constraint_files=request.constraint_files,
            extras=request.extras,
            all_extras=request.all_extras,
            groups=request.groups,
            requirement_strings=request.requirements,
            cwd=cwd,
            env=environ,
            fetch=_requirements_fetcher(request, remote),
        )
    if not inputs.requirements:
        raise UsageError("nothing to plan: give requirements (REQUIREMENT..., -r FILE)")
    settings = build_index_settings(
        cli=_cli_index_options(request),
        config=inputs.config,
        req_options=inputs.requirement_files,
        env=environ,
        cwd=cwd,
    )
    if preload_http and not request.offline:
        from muslin.index.http import preload

        preload(ix.url for ix in settings.indexes)
    facts, notes = load_facts(request, view)
    from_profile = facts.source == "profile"
    target = build_target(facts, platform=request.platform, python=request.python)
    warnings: list[str] = []
    if facts.python is None and not target.python_from_apk:
        warnings.append(
            f"the image has no Python and Alpine {facts.alpine_release or '?'} does not ship "
            f"python3 {target.info().python_version}: provide that interpreter before installing"
        )
    environment = target.markers()
    pins = {
        str(pin.package): pin.index
        for pin in settings.pins
        if pin.marker is None or pin.marker.evaluate({**environment, "extra": ""})
    }
    info = target.info()
    existing_venv = _existing_venv(request, facts, target)
    installed = installed_distributions(facts, _environment_sites(facts, existing_venv))
    if facts.python is not None and facts.python.version_tuple != target.python_version:
        installed = {}  # another interpreter: nothing in its site-packages yet
        warnings.append(
            f"the image's Python is {facts.python.version} but the plan targets "
            f"{info.python_version} (--python): provide that interpreter before installing"
        )
    requirements = [_to_req(r) for r in inputs.requirements]
    constraints = [_to_req(c) for c in inputs.constraints]
    direct_urls = tuple(r.url.split("#", 1)[0] for r in [*requirements, *constraints] if r.url)
    cache_key = resolution_key(
        requirements=requirements,
        constraints=constraints,
        settings=settings,
        target=target,
        installed=installed,
        upgrade_system=request.upgrade_system,
        allow_prereleases=inputs.pre,
    )
    root = cache_root()
    cached = None if request.refresh else load_resolution(root, cache_key, installed, offline=request.offline)
    resolution = cached if cached is not None else _resolve(
        request, settings, target, facts, installed, pins, requirements, constraints, inputs.pre, root, cache_key,
        direct_urls,
    )

    venv = _venv_decision(request, target, resolution, existing_venv)
    if existing_venv is not None and not existing_venv.has_pip and any(p.installed is None for p in resolution.packages):
        warnings.append(
            f"the image's virtual environment /{existing_venv.path} has no pip: a Dockerfile's pip steps "
            "need one (muslin install uses the installer library)"
        )
    items = tuple(_item(p, pins, _lower_priority(settings)) for p in resolution.packages)
    warnings.extend(inputs.warnings)
    plan = Plan(
        image=_image_info(request, facts, target, from_profile),
        target=info,
        items=items,
        indexes=_index_refs(settings, resolution, direct_urls),
        venv=venv,
        apk_packages=_apk_packages(facts, target),
        inputs=tuple(inputs.files),
        requirements=inputs.requirement_strings,
        command=request.command_line(),
        muslin_version=__version__,
        warnings=tuple(warnings),
    )
    return PlanOutcome(
        plan=plan, facts=facts, target=target, notes=tuple(notes), resolution=resolution, direct_urls=direct_urls
    )
