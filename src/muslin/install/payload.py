"""The files copied into the install container: wheels, muslin's scripts, helper libraries.

Helpers (``installer`` to install without pip, ``packaging`` for the requirement
check) are copied as source from the host's site-packages: both are pure Python.
``packaging`` is left out when it does not support the image's Python; the check
then uses the copy pip vendors.
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
SCRIPTS = (
    "install_wheels.py", "compile_installed.py", "check_requirements.py", "import_modules.py", "verify_installed.py",
)


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


def _requires_python(name: str) -> str:
    try:
        meta = metadata.metadata(name)
    except metadata.PackageNotFoundError:
        raise DockerError(f"the {name} package is missing on this host (pip install {name})") from None
    return str(meta.json.get("requires_python") or "")


def supports(name: str, python_version: str) -> bool:
    """Whether the host's copy of helper ``name`` runs on the image's Python (``3.11``)."""
    requires = _requires_python(name)
    if not requires:
        return True
    try:
        return SpecifierSet(requires).contains(python_version + ".0", prereleases=True)
    except InvalidSpecifier:
        return True


def check_helper_python(python_version: str) -> None:
    """Raise when a helper library does not support the image's Python (``3.11``)."""
    for name in HELPER_LIBRARIES:
        if not supports(name, python_version):
            requires = _requires_python(name)
            raise DockerError(
                f"the image's Python {python_version} has no pip, and the {name} version on this host "
                f"needs Python {requires}; add pip to the image or install an older {name} here"
            )


def payload_entries(
    wheels: Sequence[tuple[str, Path]], libraries: Sequence[str] = HELPER_LIBRARIES
) -> list[TarEntry]:
    """Tar entries (paths relative to ``/``) for the wheels ``(filename, host path)``, scripts and ``libraries``."""
    entries = [TarEntry(_rel(d)) for d in (WORK_DIR, WHEEL_DIR, SCRIPT_DIR, LIB_DIR)]
    entries += [TarEntry(f"{_rel(WHEEL_DIR)}/{name}", source=path) for name, path in wheels]
    scripts = files("muslin.install.scripts")
    for script in SCRIPTS:
        entries.append(TarEntry(f"{_rel(SCRIPT_DIR)}/{script}", data=scripts.joinpath(script).read_bytes()))
    for name in libraries:
        entries += _package_entries(name)
    return entries


def libraries_for(use_pip: bool, python_version: str) -> tuple[str, ...]:
    """The helpers an install copies in: ``packaging`` (if it runs there), ``installer`` without pip."""
    names = ("packaging",) if supports("packaging", python_version) else ()
    return names if use_pip else (*names, "installer")
