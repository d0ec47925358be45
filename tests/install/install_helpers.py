"""Helpers for the install tests and bench: the real musllinux wheel set, hand-made plans."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import parse_wheel_filename
from support import pypi_wheels

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
def pinned_requirements() -> list[str]:
    lines = WHEEL_LIST.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def musl_wheels(requirements: Sequence[str] | None = None) -> list[Path]:
    """The wheels for ``requirements`` (default: all of musl-wheels.txt), downloading missing ones from PyPI."""
    return pypi_wheels.musl_wheels(list(requirements) if requirements is not None else pinned_requirements())


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
