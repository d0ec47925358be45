"""Install wheel files into the running interpreter's environment with ``installer``.

Usage: ``python install_wheels.py LIBDIR WHEEL...``.  LIBDIR holds the pure-Python
``installer`` package copied in by muslin.  Used when the image has no pip.
Byte-compilation is left to ``compile_installed.py`` (in parallel).
A distribution already installed under the same name (with a RECORD) is removed
first, as pip would; PEP 668 is honoured unless MUSLIN_BREAK_SYSTEM_PACKAGES=1.
"""

from __future__ import annotations

import csv
import os
import pathlib
import re
import shutil
import sys
import sysconfig


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _externally_managed() -> bool:
    if sys.prefix != sys.base_prefix:
        return False
    stdlib = sysconfig.get_paths()["stdlib"]
    return os.path.isfile(os.path.join(stdlib, "EXTERNALLY-MANAGED"))


def _installed(site_dirs: list[str]) -> dict[str, str]:
    """Canonical name -> ``.dist-info`` directory, for dists in ``site_dirs``."""
    found: dict[str, str] = {}
    for site in site_dirs:
        if not os.path.isdir(site):
            continue
        for entry in os.listdir(site):
            if entry.endswith(".dist-info"):
                name = entry[: -len(".dist-info")].rsplit("-", 1)[0]
                found[_canonical(name)] = os.path.join(site, entry)
    return found


def _uninstall(dist_info: str, site: str) -> None:
    record = os.path.join(dist_info, "RECORD")
    if not os.path.isfile(record):
        raise SystemExit("cannot replace " + dist_info + ": it has no RECORD")
    with open(record, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if not row:
                continue
            path = os.path.normpath(os.path.join(site, row[0]))
            if os.path.isfile(path) or os.path.islink(path):
                os.unlink(path)
                cache = os.path.join(os.path.dirname(path), "__pycache__")
                if path.endswith(".py") and os.path.isdir(cache):
                    stem = os.path.basename(path)[:-3] + "."
                    for pyc in os.listdir(cache):
                        if pyc.startswith(stem):
                            os.unlink(os.path.join(cache, pyc))
    shutil.rmtree(dist_info, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: install_wheels.py LIBDIR WHEEL...", file=sys.stderr)
        return 2
    sys.path.insert(0, argv[0])
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    if _externally_managed() and os.environ.get("MUSLIN_BREAK_SYSTEM_PACKAGES") != "1":
        print("error: this Python is externally managed (PEP 668); plan a venv "
              "or pass --break-system-packages", file=sys.stderr)
        return 3
    paths = sysconfig.get_paths()
    site_dirs = [paths["purelib"], paths["platlib"]]
    for wheel in argv[1:]:
        base = os.path.basename(wheel)
        dist, version = base.split("-")[:2]
        existing = _installed(site_dirs).get(_canonical(dist))
        if existing is not None:
            print("removing " + os.path.basename(existing))
            _uninstall(existing, os.path.dirname(existing))
        scheme = {
            "purelib": paths["purelib"],
            "platlib": paths["platlib"],
            "headers": os.path.join(paths["include"], dist),
            "scripts": paths["scripts"],
            "data": paths["data"],
        }
        destination = SchemeDictionaryDestination(
            scheme,
            interpreter=sys.executable,
            script_kind="posix",
        )
        with WheelFile.open(pathlib.Path(wheel)) as source:
            install(source, destination, {"INSTALLER": b"muslin\n"})
        print("installed " + dist + " " + version)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
