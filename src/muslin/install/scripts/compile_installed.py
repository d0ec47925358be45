"""Byte-compile the ``.py`` files of the named installed distributions, in parallel.

Usage: ``python compile_installed.py NAME...`` (canonical names).  Files come from
each distribution's RECORD in this interpreter's site-packages; the ``.pyc`` files
are appended to RECORD (as pip records them) so uninstalling removes them.  A
``.pyc`` already current for its source (same magic, source mtime and size) is
kept, and only recorded if RECORD lacks it.

``python compile_installed.py --watch STOPFILE NAME...`` runs beside ``pip
install``: each named distribution is compiled as soon as pip has installed it
(pip writes INSTALLER after the distribution's files, then RECORD, atomically;
a RECORD older than INSTALLER is the wheel's own copy), until all are done or
STOPFILE exists (then one last look); the verify step compiles whatever was missed.
When this Python runs with a ``PYTHONPYCACHEPREFIX`` (muslin's, on
``/dev/shm``), each ``.pyc`` is also copied there (atomically), so the import check run afterwards
loads it instead of compiling the module again.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import os
import py_compile
import re
import shutil
import sys
import sysconfig
from importlib.util import MAGIC_NUMBER, cache_from_source


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


def _cfile(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, "__pycache__", name[:-3] + "." + str(sys.implementation.cache_tag) + ".pyc")


def _current(path: str) -> bool:
    """Whether the timestamp-based ``.pyc`` beside ``path`` is valid for it."""
    try:
        with open(_cfile(path), "rb") as fh:
            head = fh.read(16)
        st = os.stat(path)
    except OSError:
        return False
    return (
        len(head) == 16
        and head[:4] == MAGIC_NUMBER
        and head[4:8] == b"\0\0\0\0"
        and int.from_bytes(head[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(head[12:16], "little") == st.st_size & 0xFFFFFFFF
    )


def _compile_many(paths: list[str]) -> list[str | None]:
    return [_compile(p) for p in paths]


def _compile(path: str) -> str | None:
    """Compile one file beside its source (whatever ``PYTHONPYCACHEPREFIX`` says); the ``.pyc`` path."""
    try:
        written = py_compile.compile(path, cfile=_cfile(path), doraise=True, quiet=1)
    except (py_compile.PyCompileError, OSError, ValueError):
        return None
    if written and sys.pycache_prefix:
        try:
            mirror = cache_from_source(path)
            os.makedirs(os.path.dirname(mirror), exist_ok=True)
            # atomically, as Python writes bytecode: a copy cut short (a full tmpfs) must not be
            # found by the import check, which would fail on it instead of compiling the module
            partial = mirror + ".part" + str(os.getpid())
            try:
                shutil.copyfile(written, partial)
                os.replace(partial, mirror)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
                raise
        except (OSError, ValueError):
            pass
    return written


def _record_row(site: str, path: str) -> list[str]:
    with open(path, "rb") as fh:
        data = fh.read()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [os.path.relpath(path, site), "sha256=" + digest, str(len(data))]


def find_sources(names: list[str]) -> list[tuple[str, str, list[str]]]:
    """(site directory, ``.dist-info`` path, the ``.py`` files its RECORD lists) per named distribution."""
    return [(site, info, _sources(site, info)) for site, info in _dist_infos({_canonical(n) for n in names})]


def _sources(site: str, dist_info: str) -> list[str]:
    with open(os.path.join(dist_info, "RECORD"), newline="", encoding="utf-8") as fh:
        recorded = [row[0] for row in csv.reader(fh) if row]
    sources = [os.path.normpath(os.path.join(site, r)) for r in recorded if r.endswith(".py")]
    return [s for s in sources if os.path.isfile(s)]


def start_compile(files: list[str]) -> tuple[object, object]:
    """Start compiling ``files`` in worker processes: (pool, result iterator), or (None, None).

    Call this before starting any thread: the workers are forked right away.
    """
    workers = os.cpu_count() or 1
    if workers > 1 and len(files) > 50:
        try:
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(max_workers=workers)
            return pool, pool.map(_compile, files, chunksize=32)
        except (ImportError, OSError, NotImplementedError):
            pass
    return None, None


def finish_compile(files: list[str], pool: object, pending: object) -> dict[str, str | None]:
    """Source -> written ``.pyc`` (None when it does not compile), for every file."""
    results: dict[str, str | None] = {}
    if pool is not None:
        try:
            outputs = list(pending)  # type: ignore[call-overload]
            results = {path: outputs[i] for i, path in enumerate(files)}
        except (OSError, RuntimeError):  # a broken pool: compile what is left here
            results = {}
        finally:
            pool.shutdown(wait=True)  # type: ignore[attr-defined]
    for path in files:
        if path not in results:
            results[path] = _compile(path)
    return results


def pending(files: list[str]) -> tuple[list[str], dict[str, str | None]]:
    """(files to compile, results for those whose ``.pyc`` is current already)."""
    done: dict[str, str | None] = {f: _cfile(f) for f in files if _current(f)}
    return [f for f in files if f not in done], done


def record(jobs: list[tuple[str, str, list[str]]], results: dict[str, str | None]) -> int:
    """Append the ``.pyc`` files to each RECORD (unless listed); how many sources have one."""
    compiled = 0
    for site, dist_info, sources in jobs:
        path = os.path.join(dist_info, "RECORD")
        with open(path, newline="", encoding="utf-8") as fh:
            listed = {row[0] for row in csv.reader(fh) if row}
        pycs = [pyc for pyc in (results.get(s) for s in sources) if pyc]
        compiled += len(pycs)
        rows = [_record_row(site, pyc) for pyc in pycs if os.path.relpath(pyc, site) not in listed]
        if rows:
            ends_open = False
            if os.path.getsize(path) > 0:
                with open(path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    ends_open = fh.read(1) != b"\n"
            with open(path, "a", newline="", encoding="utf-8") as fh:
                if ends_open:
                    fh.write("\n")
                csv.writer(fh, lineterminator="\n").writerows(rows)
    return compiled


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def watch(stop: str, names: list[str]) -> int:
    """Compile each named distribution once pip has installed it (see the module doc)."""
    wanted = {_canonical(n) for n in names}
    before = {info: _stamp(os.path.join(info, "INSTALLER")) for _site, info in _dist_infos(wanted)}
    workers = os.cpu_count() or 1
    if workers < 2 or not wanted:
        return 0
    import time
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers)
    jobs: list[tuple[str, str, list[str]]] = []
    futures: list[tuple[list[str], object]] = []
    done: set[str] = set()
    stopping = False
    try:
        while True:
            for site, info in _dist_infos(wanted - done):
                stamp = _stamp(os.path.join(info, "INSTALLER"))
                record_stamp = _stamp(os.path.join(info, "RECORD"))
                if stamp is None or record_stamp is None or before.get(info) == stamp or record_stamp[1] < stamp[1]:
                    continue  # not installed yet, the old copy pip is about to replace, or RECORD not yet pip's
                done.add(_canonical(os.path.basename(info)[: -len(".dist-info")].rsplit("-", 1)[0]))
                sources = _sources(site, info)
                jobs.append((site, info, sources))
                for i in range(0, len(sources), 16):
                    chunk = sources[i : i + 16]
                    futures.append((chunk, pool.submit(_compile_many, chunk)))
            if stopping or done == wanted:
                break
            stopping = os.path.exists(stop)
            if not stopping:
                time.sleep(0.02)
        results: dict[str, str | None] = {}
        for chunk, future in futures:
            outputs = future.result()  # type: ignore[attr-defined]
            for i, path in enumerate(chunk):
                results[path] = outputs[i]
    finally:
        pool.shutdown(wait=True)
    compiled = record(jobs, results)
    print("compiled " + str(compiled) + " of " + str(len(results)) + " files while installing", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--watch"] and len(argv) >= 2:
        return watch(argv[1], argv[2:])
    jobs = find_sources(argv)
    files = [f for _site, _info, sources in jobs for f in sources]
    todo, results = pending(files)
    pool, outputs = start_compile(todo)
    results.update(finish_compile(todo, pool, outputs))
    compiled = record(jobs, results)
    print("compiled " + str(compiled) + " of " + str(len(files)) + " files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
