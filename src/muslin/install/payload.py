"""The files copied into the install container: wheels, muslin's scripts, helper libraries.

Helpers (``installer`` to install without pip, ``packaging`` for the requirement
check) are copied as source from the host's site-packages: both are pure Python.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib import metadata
from importlib.resources import files
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from muslin.errors import DockerError
from muslin.install.archive import TarEntry
from muslin.install.steps import LIB_DIR, SCRIPT_DIR, WHEEL_DIR, WORK_DIR

HELPER_LIBRARIES = ("installer", "packaging")
SCRIPTS = ("install_wheels.py", "compile_installed.py", "check_requirements.py", "import_modules.py")


def _rel(path: str) -> str:
    return path.lstrip("/")


def _package_entries(name: str) -> list[TarEntry]:
    module = importlib.import_module(name)
    root = Path(next(iter(module.__path__)))
    entries: list[TarEntry] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or path.is_dir() or path.suffix not in (".py", ".typed"):
            continue
        entries.append(TarEntry(f"{_rel(LIB_DIR)}/{name}/{rel.as_posix()}", source=path))
    return entries


def check_helper_python(python_version: str) -> None:
    """Raise when a helper library does not support the image's Python (``3.11``)."""
    for name in HELPER_LIBRARIES:
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            raise DockerError(f"the {name} package is missing on this host (pip install {name})") from None
        requires = str(meta.json.get("requires_python") or "")
        if not requires:
            continue
        try:
            ok = SpecifierSet(requires).contains(python_version + ".0", prereleases=True)
        except InvalidSpecifier:
            continue
        if not ok:
            raise DockerError(
                f"the image's Python {python_version} has no pip, and the {name} version on this host "
                f"needs Python {requires}; add pip to the image or install an older {name} here"
            )


def payload_entries(wheels: Sequence[tuple[str, Path]], with_libraries: bool) -> list[TarEntry]:
    """Tar entries (paths relative to ``/``) for the wheels ``(filename, host path)`` and helpers."""
    entries = [TarEntry(_rel(d)) for d in (WORK_DIR, WHEEL_DIR, SCRIPT_DIR)]
    entries += [TarEntry(f"{_rel(WHEEL_DIR)}/{name}", source=path) for name, path in wheels]
    scripts = files("muslin.install.scripts")
    for script in SCRIPTS:
        entries.append(TarEntry(f"{_rel(SCRIPT_DIR)}/{script}", data=scripts.joinpath(script).read_bytes()))
    if with_libraries:
        entries.append(TarEntry(_rel(LIB_DIR)))
        for name in HELPER_LIBRARIES:
            entries += _package_entries(name)
    return entries
