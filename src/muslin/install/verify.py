"""Host-side parts of verification: which modules to import, and reading ``pip check``."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

from muslin.errors import DockerError

SKIPPED_MODULES = frozenset({"test", "tests", "testing", "benchmark", "benchmarks", "doc", "docs", "example", "examples"})
"""Top-level names wheels sometimes ship that are not meant to be imported."""

_DATA_PREFIX = re.compile(r"^[^/]+\.data/(purelib|platlib)/")


def top_level_modules(wheel: Path) -> tuple[str, ...]:
    """Importable top-level module names a wheel installs, from its file list (sorted).

    A directory (package, or namespace package) counts, as do root ``.py`` files
    and extension modules; ``.dist-info``, scripts/data/headers and
    :data:`SKIPPED_MODULES` do not.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise DockerError(f"{wheel.name}: not a readable wheel ({exc})") from None
    found: set[str] = set()
    for raw in names:
        name = raw
        if raw.partition("/")[0].endswith(".data"):
            match = _DATA_PREFIX.match(raw)
            if match is None:
                continue
            name = raw[match.end():]
        first, sep, _rest = name.partition("/")
        if first.endswith(".dist-info") or first == "__pycache__":
            continue
        if sep:
            module = first
        elif first.endswith(".py"):
            module = first[:-3]
        elif first.endswith(".so"):
            module = first.split(".", 1)[0]
        else:
            continue
        if module.isidentifier() and module not in SKIPPED_MODULES:
            found.add(module)
    return tuple(sorted(found))


def modules_for(wheels: Iterable[Path]) -> tuple[str, ...]:
    """Top-level modules of all ``wheels``, de-duplicated, in a stable order."""
    seen: dict[str, None] = {}
    for wheel in wheels:
        for module in top_level_modules(wheel):
            seen.setdefault(module, None)
    return tuple(seen)


_REQUIRES = re.compile(r"^(?P<dist>\S+) \S+ requires (?P<dep>[^,\s]+), which is not installed\.$")
_HAS_REQ = re.compile(r"^(?P<dist>\S+) \S+ has requirement .*, but you have (?P<dep>\S+) \S+\.$")
_PLATFORM = re.compile(r"^(?P<dist>\S+) \S+ is not supported on this platform$")


def pip_check_problems(lines: Iterable[str], installed: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split ``pip check`` output into (problems involving ``installed`` names, other problems).

    Lines muslin cannot parse count as problems; the success line is ignored.
    """
    watched = {canonicalize_name(n) for n in installed}
    ours: list[str] = []
    others: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("No broken requirements"):
            continue
        match = _REQUIRES.match(line) or _HAS_REQ.match(line) or _PLATFORM.match(line)
        if match is None:
            ours.append(line)
            continue
        names = {canonicalize_name(v) for v in match.groupdict().values()}
        (ours if names & watched else others).append(line)
    return ours, others
