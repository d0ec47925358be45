"""The input, index, target and venv options shared by ``plan``, ``dockerfile`` and ``install``.

Usage (the ``IMAGE`` argument is declared by each command, *above* the
decorator so it comes first on the command line)::

    @click.command(name="dockerfile")
    @click.argument("image")
    @plan_options
    @click.option("-o", "--output", ...)
    def command(image: str, output: str, **kwargs: Any) -> None:
        request = request_from_options(image, **kwargs)   # unknown keys are ignored
        outcome = make_plan(request)

``plan_options`` adds the trailing ``REQUIREMENT...`` argument (requirement
strings after ``IMAGE``) and every option below; ``request_from_options``
validates them (``NAME=URL`` shapes, conflicting venv flags) and raises
:class:`~muslin.errors.UsageError` (exit 2) on bad values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click
from packaging.utils import canonicalize_name

from muslin.errors import UsageError
from muslin.plan.planner import PlanRequest

F = TypeVar("F", bound=Callable[..., Any])

PLAN_OPTION_NAMES: frozenset[str] = frozenset(
    {
        "requirements",
        "requirement_files",
        "constraint_files",
        "extras",
        "all_extras",
        "groups",
        "indexes",
        "default_index",
        "find_links",
        "no_index",
        "pins",
        "index_strategy",
        "accept_linux_tags",
        "platform",
        "python",
        "profile",
        "offline",
        "refresh",
        "upgrade_system",
        "venv",
        "no_venv",
        "break_system_packages",
    }
)
"""Keyword names ``plan_options`` adds to the decorated function."""

_OPTIONS: list[Callable[[F], F]] = [
    click.argument("requirements", nargs=-1, metavar="[REQUIREMENT]..."),
    click.option(
        "-r",
        "--requirement",
        "requirement_files",
        multiple=True,
        metavar="FILE",
        help="pyproject.toml or requirements file (repeatable).",
    ),
    click.option(
        "-c",
        "--constraint",
        "constraint_files",
        multiple=True,
        metavar="FILE",
        help="Constraints file: limits versions without adding requirements (repeatable).",
    ),
    click.option("--extra", "extras", multiple=True, metavar="NAME", help="pyproject extra to include (repeatable)."),
    click.option("--all-extras", is_flag=True, help="Include every pyproject extra."),
    click.option("--group", "groups", multiple=True, metavar="NAME", help="PEP 735 dependency group to include (repeatable)."),
    click.option(
        "--index",
        "indexes",
        multiple=True,
        metavar="NAME=URL",
        help="Add a package index, highest priority first (repeatable).",
    ),
    click.option("--default-index", metavar="URL", help="Replace PyPI as the default (last) index."),
    click.option("--find-links", multiple=True, metavar="DIR|URL", help="Flat directory or page of wheels (repeatable)."),
    click.option("--no-index", is_flag=True, help="Ignore every package index (PyPI included): --find-links only."),
    click.option(
        "--pin",
        "pins",
        multiple=True,
        metavar="PACKAGE=INDEX",
        help="Look PACKAGE up on INDEX only, also as a transitive dependency (repeatable).",
    ),
    click.option(
        "--index-strategy",
        type=click.Choice(["first-index", "unsafe-best-match", "unsafe-first-match"]),
        default=None,
        help="first-index (default): the first index listing a name owns it.",
    ),
    click.option(
        "--accept-linux-tags",
        multiple=True,
        metavar="INDEX",
        help="Treat INDEX's linux_<arch> wheels as built for the target (alpine-wheels style).",
    ),
    click.option("--platform", metavar="OS/ARCH", help="Image platform, e.g. linux/arm64."),
    click.option("--python", metavar="X.Y", help="Target this Python version (default: the image's)."),
    click.option(
        "--profile",
        metavar="alpine:X.Y",
        help="Plan for the built-in profile of an Alpine release instead of reading the image.",
    ),
    click.option("--offline", is_flag=True, help="Use cached data only; no network."),
    click.option("--refresh", is_flag=True, help="Revalidate every cached index page."),
    click.option(
        "--upgrade-system",
        multiple=True,
        metavar="NAME|:all:",
        help="Allow another version of an installed (e.g. apk) package, in a venv (repeatable).",
    ),
    click.option("--venv", metavar="PATH", help="Install into a virtual environment at PATH."),
    click.option("--no-venv", is_flag=True, help="Install into the system Python, no virtual environment."),
    click.option(
        "--break-system-packages",
        is_flag=True,
        help="Install into a PEP 668 externally-managed system Python anyway.",
    ),
]


def plan_options(func: F) -> F:
    """Add the trailing ``REQUIREMENT...`` argument and every plan option to a click command."""
    for decorator in reversed(_OPTIONS):
        func = decorator(func)
    return func


def _pairs(values: Iterable[str], option: str, shape: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise UsageError(f"{option} expects {shape}, got {value!r}")
        out.append((left.strip(), right.strip()))
    return tuple(out)


def _profile(value: str | None) -> str | None:
    if value is None:
        return None
    name, sep, release = value.partition(":")
    parts = release.split(".")
    if name != "alpine" or not sep or not (release == "edge" or (len(parts) == 2 and all(p.isdigit() for p in parts))):
        raise UsageError(f"--profile expects alpine:X.Y or alpine:edge, got {value!r}")
    return value


def _python(value: str | None) -> str | None:
    if value is None:
        return None
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts[0] != "3":
        raise UsageError(f"--python expects 3.Y (e.g. 3.11), got {value!r}")
    return value


def _upgrade_system(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            out.append(":all:" if part == ":all:" else canonicalize_name(part))
    return tuple(out)


def request_from_options(image: str, **kwargs: Any) -> PlanRequest:
    """Build a :class:`PlanRequest` from ``plan_options`` keyword values (other keys ignored)."""
    get = kwargs.get
    if not image or not image.strip():
        raise UsageError("IMAGE must not be empty")
    venv = get("venv")
    no_venv = bool(get("no_venv"))
    break_system = bool(get("break_system_packages"))
    if venv and no_venv:
        raise UsageError("--venv and --no-venv exclude each other")
    if venv and break_system:
        raise UsageError("--venv and --break-system-packages exclude each other")
    if venv is not None and not venv.startswith("/"):
        raise UsageError(f"--venv expects an absolute path inside the image, got {venv!r}")
    pins = tuple((canonicalize_name(p), ix) for p, ix in _pairs(get("pins") or (), "--pin", "PACKAGE=INDEX"))
    return PlanRequest(
        image=image.strip(),
        requirement_files=tuple(get("requirement_files") or ()),
        constraint_files=tuple(get("constraint_files") or ()),
        requirements=tuple(get("requirements") or ()),
        extras=tuple(get("extras") or ()),
        all_extras=bool(get("all_extras")),
        groups=tuple(get("groups") or ()),
        indexes=_pairs(get("indexes") or (), "--index", "NAME=URL"),
        default_index=get("default_index"),
        find_links=tuple(get("find_links") or ()),
        no_index=bool(get("no_index")),
        pins=pins,
        index_strategy=get("index_strategy"),
        accept_linux_tags=tuple(get("accept_linux_tags") or ()),
        platform=get("platform"),
        python=_python(get("python")),
        profile=_profile(get("profile")),
        offline=bool(get("offline")),
        refresh=bool(get("refresh")),
        upgrade_system=_upgrade_system(get("upgrade_system") or ()),
        venv=venv,
        no_venv=no_venv,
        break_system_packages=break_system,
    )


def split_plan_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a command's keyword arguments into (plan option values, the command's own)."""
    plan = {k: v for k, v in kwargs.items() if k in PLAN_OPTION_NAMES}
    rest = {k: v for k, v in kwargs.items() if k not in PLAN_OPTION_NAMES}
    return plan, rest
