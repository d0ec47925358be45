"""Helpers for the install tests and bench: the real musllinux wheel set, hand-made plans."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from muslin.plan.model import (
    Action,
    Artifact,
    ImageInfo,
    IndexRef,
    Plan,
    PlanItem,
    TargetInfo,
    VenvDecision,
)

REPO = Path(__file__).resolve().parents[2]
WHEEL_LIST = REPO / "tests" / "data" / "install" / "musl-wheels.txt"
PLATFORM_ARGS = (
    "--only-binary=:all:",
    "--platform", "musllinux_1_1_x86_64",
    "--platform", "musllinux_1_2_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
    "--no-deps",
)


def pinned_requirements() -> list[str]:
    lines = WHEEL_LIST.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def wheel_cache_dir() -> Path:
    """``$MUSLIN_TEST_WHEELS`` or ``tests/.cache/wheels`` (git-ignored by its own .gitignore)."""
    env = os.environ.get("MUSLIN_TEST_WHEELS")
    if env:
        path = Path(env)
        path.mkdir(parents=True, exist_ok=True)
        return path
    cache = REPO / "tests" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    path = cache / "wheels"
    path.mkdir(exist_ok=True)
    return path


def _have(cache: Path, requirement: str) -> Path | None:
    name, _, version = requirement.partition("==")
    for wheel in cache.glob("*.whl"):
        wname, wversion, _b, _t = parse_wheel_filename(wheel.name)
        if wname == canonicalize_name(name) and str(wversion) == version:
            return wheel
    return None


def musl_wheels(requirements: Sequence[str] | None = None) -> list[Path]:
    """The wheels for ``requirements`` (default: all of musl-wheels.txt), downloading missing ones from PyPI."""
    reqs = list(requirements) if requirements is not None else pinned_requirements()
    cache = wheel_cache_dir()
    missing = [r for r in reqs if _have(cache, r) is None]
    if missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", *PLATFORM_ARGS, "-d", str(cache), *missing],
            check=True,
        )
    out = []
    for req in reqs:
        wheel = _have(cache, req)
        assert wheel is not None, f"pip download did not produce {req}"
        out.append(wheel)
    return out


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fixture_image_info(reference: str, has_pip: bool = True, python: str = "/usr/bin/python3.11") -> ImageInfo:
    return ImageInfo(
        reference=reference,
        pull_reference=reference,
        digest=None,
        alpine_release="3.18.3",
        has_python=True,
        python_prefix="/usr",
        python_executable=python,
        has_pip=has_pip,
        externally_managed=False,
    )


TARGET = TargetInfo("3.11", "3.11.2", "1.2", "x86_64", "linux/amd64")


def install_item(wheel: Path, base_url: str, index: str = "local") -> PlanItem:
    name, version, _build, _tags = parse_wheel_filename(wheel.name)
    return PlanItem(
        name=str(name),
        display_name=str(name),
        version=str(version),
        action=Action.INSTALL,
        source=index,
        artifact=Artifact(
            filename=wheel.name,
            url=f"{base_url.rstrip('/')}/files/{wheel.name}",
            sha256=sha256_of(wheel),
            index=index,
            size=wheel.stat().st_size,
        ),
        requested_by=("<user>",),
    )


def make_plan(
    image: ImageInfo,
    wheels: Iterable[Path],
    base_url: str,
    keeps: Iterable[PlanItem] = (),
    venv: VenvDecision | None = None,
) -> Plan:
    """A plan installing ``wheels`` (served under ``base_url/files/``) into ``image``."""
    items = [install_item(w, base_url) for w in wheels]
    return Plan(
        image=image,
        target=TARGET,
        items=(*keeps, *items),
        indexes=(IndexRef("local", base_url.rstrip("/") + "/simple/"),),
        venv=venv or VenvDecision(None),
        requirements=tuple(f"{i.name}=={i.version}" for i in items),
        muslin_version="test",
    )
