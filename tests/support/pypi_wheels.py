"""Real musllinux wheels from PyPI for the Docker tests, downloaded once into a cache.

The cache is ``$MUSLIN_TEST_WHEELS`` or ``tests/.cache/wheels`` (git-ignored by
its own ``.gitignore``); CI fills it on its first run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from support.common import REPO, need

PLATFORM_ARGS = (
    "--only-binary=:all:",
    "--platform", "musllinux_1_1_x86_64",
    "--platform", "musllinux_1_2_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
    "--no-deps",
)


def wheel_cache_dir() -> Path:
    """``$MUSLIN_TEST_WHEELS`` or ``tests/.cache/wheels``."""
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


def cached_wheel(cache: Path, requirement: str) -> Path | None:
    """The cached wheel for ``name==version``, if there is one."""
    name, _, version = requirement.partition("==")
    for wheel in sorted(cache.glob("*.whl")):
        wname, wversion, _build, _tags = parse_wheel_filename(wheel.name)
        if wname == canonicalize_name(name) and str(wversion) == version:
            return wheel
    return None


def musl_wheels(requirements: Sequence[str]) -> list[Path]:
    """One wheel per ``name==version`` pin, downloading the missing ones from PyPI."""
    cache = wheel_cache_dir()
    missing = [r for r in requirements if cached_wheel(cache, r) is None]
    if missing:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", *PLATFORM_ARGS, "-d", str(cache), *missing],
            capture_output=True,
            text=True,
        )
        need(proc.returncode == 0, f"cannot download test wheels from PyPI: {proc.stderr[-300:]}")
    out = []
    for req in requirements:
        wheel = cached_wheel(cache, req)
        assert wheel is not None, f"pip download did not produce {req}"
        out.append(wheel)
    return out
