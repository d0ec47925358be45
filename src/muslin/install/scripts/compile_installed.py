"""Byte-compile the ``.py`` files of the named installed distributions, in parallel.

Usage: ``python compile_installed.py NAME...`` (canonical names).  Files come from
each distribution's RECORD in this interpreter's site-packages; the ``.pyc`` files
written are appended to RECORD (as pip records them) so uninstalling removes them.
When this Python runs with a ``PYTHONPYCACHEPREFIX`` (muslin's, in its work
directory), each ``.pyc`` is also copied there, so the import check run afterwards
loads it instead of compiling the module again.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import py_compile
import re
import shutil
import sys
import sysconfig
from importlib.util import cache_from_source


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_infos(names: set[str]) -> list[tuple[str, str]]:
    """(site directory, ``.dist-info`` path) of each named distribution found."""
    paths = sysconfig.get_paths()
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for site in dict.fromkeys([paths["purelib"], paths["platlib"]]):
        if not os.path.isdir(site):
            continue
        for entry in sorted(os.listdir(site)):
            if not entry.endswith(".dist-info"):
                continue
            name = _canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0])
            if name in names and name not in seen:
                seen.add(name)
                found.append((site, os.path.join(site, entry)))
    return found


def _compile(path: str) -> str | None:
    """Compile one file beside its source (whatever ``PYTHONPYCACHEPREFIX`` says); the ``.pyc`` path."""
    folder, name = os.path.split(path)
    cfile = os.path.join(folder, "__pycache__", name[:-3] + "." + str(sys.implementation.cache_tag) + ".pyc")
    try:
        written = py_compile.compile(path, cfile=cfile, doraise=True, quiet=1)
    except (py_compile.PyCompileError, OSError, ValueError):
        return None
    if written and sys.pycache_prefix:
        try:
            mirror = cache_from_source(path)
            os.makedirs(os.path.dirname(mirror), exist_ok=True)
            shutil.copyfile(written, mirror)
        except (OSError, ValueError):
            pass
    return written


def _record_row(site: str, path: str) -> list[str]:
    with open(path, "rb") as fh:
        data = fh.read()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [os.path.relpath(path, site), "sha256=" + digest, str(len(data))]


def main(argv: list[str]) -> int:
    jobs: list[tuple[str, str, list[str]]] = []
    for site, dist_info in _dist_infos({_canonical(n) for n in argv}):
        with open(os.path.join(dist_info, "RECORD"), newline="", encoding="utf-8") as fh:
            recorded = [row[0] for row in csv.reader(fh) if row]
        sources = [os.path.normpath(os.path.join(site, r)) for r in recorded if r.endswith(".py")]
        jobs.append((site, dist_info, [s for s in sources if os.path.isfile(s)]))
    files = [f for _site, _info, sources in jobs for f in sources]
    results: dict[str, str | None] = {}
    workers = os.cpu_count() or 1
    if workers > 1 and len(files) > 50:
        try:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                outputs = list(pool.map(_compile, files, chunksize=64))
            results = {path: outputs[i] for i, path in enumerate(files)}
        except (ImportError, OSError, NotImplementedError):
            results = {}
    for path in files:
        if path not in results:
            results[path] = _compile(path)
    compiled = 0
    for site, dist_info, sources in jobs:
        rows = [_record_row(site, pyc) for pyc in (results.get(s) for s in sources) if pyc]
        if rows:
            record = os.path.join(dist_info, "RECORD")
            ends_open = False
            if os.path.getsize(record) > 0:
                with open(record, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    ends_open = fh.read(1) != b"\n"
            with open(record, "a", newline="", encoding="utf-8") as fh:
                if ends_open:
                    fh.write("\n")
                csv.writer(fh, lineterminator="\n").writerows(rows)
        compiled += len(rows)
    print("compiled " + str(compiled) + " of " + str(len(files)) + " files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
