"""Host-side parts of verification: which modules to import, and reading the verify step's output."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

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


SUMMARY = "verify:"
"""The last line ``verify_installed.py`` prints: ``verify: compile=0 requirements=R imports=I``."""

_WARNING = "warning (not caused by this install): "
_SUMMARY = re.compile(r"^verify: compile=(-?\d+) requirements=(-?\d+) imports=(-?\d+)$")


def verify_failures(stdout: Sequence[str], stderr: Sequence[str], exit_code: int) -> tuple[list[str], list[str]]:
    """(failures, pre-existing problems) from the output of ``verify_installed.py``.

    Requirement problems are the lines between the ``compiled`` line and the
    first ``importing`` line; a process that died before its summary line is
    blamed on the module it was importing.
    """
    problems: list[str] = []
    warnings: list[str] = []
    started: list[str] = []
    summary: re.Match[str] | None = None
    phase = "compile"
    for line in stdout:
        if phase == "compile" and line.startswith("compiled "):
            phase = "requirements"
        elif line.startswith("importing "):
            phase = "imports"
            started.append(line[len("importing "):])
        elif _SUMMARY.match(line):
            summary = _SUMMARY.match(line)
        elif phase == "requirements" and line.startswith(_WARNING):
            warnings.append(line[len(_WARNING):])
        elif phase == "requirements" and line.strip() and not line.startswith("No broken requirements"):
            problems.append(line)
    failed = [line.removeprefix("FAILED ") for line in stderr if line.startswith("FAILED ")]
    failures: list[str] = []
    if summary is None:
        if exit_code == 0:
            return failures, warnings
        if problems:
            failures.append("requirements check: " + "; ".join(problems))
        if phase == "imports" and not failed:
            failed = [f"{started[-1]}: the interpreter died (exit code {exit_code})"]
        if failed:
            failures.append("import " + "; ".join(failed))
        if not failures:
            failures.append(f"byte-compiling failed (exit code {exit_code}): " + " ".join(stderr[-1:]))
        return failures, warnings
    if summary.group(2) != "0":
        failures.append("requirements check: " + ("; ".join(problems) or f"exit code {summary.group(2)}"))
    if summary.group(3) != "0":
        failures.append("import " + ("; ".join(failed) or f"exit code {summary.group(3)}"))
    return failures, warnings
