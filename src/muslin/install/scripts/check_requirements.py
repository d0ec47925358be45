"""Check that installed distributions' requirements are met (``pip check`` without pip).

Usage: ``python check_requirements.py LIBDIR NAME...``.  LIBDIR holds the
``packaging`` package copied in by muslin.  Every distribution on ``sys.path``
is checked; a problem counts (exit 1) when it involves one of the canonical
NAMEs (just installed); other pre-existing problems are printed as warnings.
"""

from __future__ import annotations

import re
import sys


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: check_requirements.py LIBDIR NAME...", file=sys.stderr)
        return 2
    sys.path.insert(0, argv[0])
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    watched: set[str] = {_canonical(n) for n in argv[1:]}
    versions: dict[str, str] = {}
    dists: list[tuple[str, str, list[str]]] = []
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or _canonical(name) in versions:
            continue
        versions[_canonical(name)] = dist.version
        dists.append((name, dist.version, list(dist.requires or [])))
    problems = 0
    for name, version, requires in dists:
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
            if relevant:
                problems += 1
                print(line)
            else:
                print("warning (not caused by this install): " + line)
    if problems:
        return 1
    print("No broken requirements found.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
