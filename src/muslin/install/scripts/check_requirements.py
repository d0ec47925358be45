"""Check that installed distributions' requirements are met (``pip check`` without pip).

Usage: ``python check_requirements.py LIBDIR NAME...``.  LIBDIR holds the
``packaging`` package copied in by muslin (else pip's vendored copy is used).  Every distribution on ``sys.path``
is checked; a problem counts (exit 1) when it involves one of the canonical
NAMEs (just installed); other pre-existing problems are printed as warnings.
The NAMEs' wheel tags are checked against the interpreter's, as newer pips do.
"""

from __future__ import annotations

import re
import sys
from typing import Any


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _packaging(module: str) -> Any:
    """``packaging.<module>``: the copy in LIBDIR, else pip's vendored one (the pip path only)."""
    import importlib

    try:
        return importlib.import_module("packaging." + module)
    except ImportError:
        return importlib.import_module("pip._vendor.packaging." + module)


def _supported_tags() -> set[str] | None:
    """This interpreter's wheel tags (``cp311-cp311-musllinux_1_2_x86_64`` ...), None if unknown."""
    try:
        return {str(tag) for tag in _packaging("tags").sys_tags()}
    except Exception:  # packaging too old or the platform undetectable: skip the tag check
        return None


def _wheel_tags(dist: object) -> list[str]:
    read = getattr(dist, "read_text", None)
    text = read("WHEEL") if read is not None else None
    return [line.split(":", 1)[1].strip() for line in (text or "").splitlines() if line.startswith("Tag:")]


def check(watched_names: list[str]) -> tuple[list[str], list[str]]:
    """(problems involving ``watched_names``, other problems) of every distribution on ``sys.path``.

    Missing and conflicting requirements, as ``pip check`` words them; for the
    watched distributions also wheel tags this interpreter does not support.
    """
    from importlib import metadata

    requirements = _packaging("requirements")
    Requirement, InvalidRequirement = requirements.Requirement, requirements.InvalidRequirement

    watched: set[str] = {_canonical(n) for n in watched_names}
    versions: dict[str, str] = {}
    dists: list[tuple[str, str, list[str], object]] = []
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or _canonical(name) in versions:
            continue
        versions[_canonical(name)] = dist.version
        dists.append((name, dist.version, list(dist.requires or []), dist))
    problems: list[str] = []
    others: list[str] = []
    supported: set[str] | None = None
    for name, version, requires, found in dists:
        if _canonical(name) in watched:
            tags = _wheel_tags(found)
            if tags:
                if supported is None:
                    supported = _supported_tags() or set(tags)
                if not supported & set(tags):
                    problems.append(name + " " + version + " is not supported on this platform")
        for text in requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                line = name + " " + version + " has an invalid requirement: " + text
                relevant = _canonical(name) in watched
            else:
                if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                    continue
                have = versions.get(_canonical(req.name))
                if have is None:
                    line = name + " " + version + " requires " + req.name + ", which is not installed."
                elif req.specifier and not req.specifier.contains(have, prereleases=True):
                    line = (name + " " + version + " has requirement " + str(req)
                            + ", but you have " + req.name + " " + have + ".")
                else:
                    continue
                relevant = bool({_canonical(name), _canonical(req.name)} & watched)
            (problems if relevant else others).append(line)
    return problems, others


def report(problems: list[str], others: list[str]) -> int:
    """Print the result as ``pip check`` would (other problems as warnings); the exit code."""
    for line in problems:
        print(line)
    for line in others:
        print("warning (not caused by this install): " + line)
    if problems:
        return 1
    print("No broken requirements found.")
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: check_requirements.py LIBDIR NAME...", file=sys.stderr)
        return 2
    sys.path.insert(0, argv[0])
    return report(*check(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
