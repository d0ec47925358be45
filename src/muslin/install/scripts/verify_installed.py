"""Byte-compile, check requirements and import modules in one process, then remove the work directory.

Usage: ``python verify_installed.py LIBDIR WORKDIR NAME... -- MODULE...``.
NAMEs are the installed distributions (canonical names), MODULEs their
top-level modules; LIBDIR holds ``packaging``.  The workers compiling the
NAMEs' files that have no current ``.pyc`` yet (``compile_installed.py --watch``
compiles beside pip) are forked first; the requirements check (``check_requirements``)
runs meanwhile in this process, and the imports (``import_modules``) once the
compilation is done, with the helpers and muslin's scripts taken off
``sys.path`` and out of ``sys.modules`` so every import finds the installed
code.  When everything passed WORKDIR is removed.  The last line is
``verify: compile=C requirements=R imports=I`` (exit codes, 0 = passed); the
process exits 0 only when all three passed.
"""

from __future__ import annotations

import os
import shutil
import sys

SUMMARY = "verify:"


def _forget(paths: list[str]) -> None:
    """Take ``paths`` off ``sys.path`` and drop every module loaded from them."""
    roots = tuple(os.path.join(os.path.realpath(p), "") for p in paths)
    sys.path[:] = [p for p in sys.path if os.path.join(os.path.realpath(p or "."), "") not in roots]
    for name, module in list(sys.modules.items()):
        if name == "__main__":
            continue
        origin = getattr(module, "__file__", None) or ""
        if origin and os.path.realpath(origin).startswith(roots):
            del sys.modules[name]
    import importlib

    importlib.invalidate_caches()


def main(argv: list[str]) -> int:
    if len(argv) < 2 or "--" not in argv[2:]:
        print("usage: verify_installed.py LIBDIR WORKDIR NAME... -- MODULE...", file=sys.stderr)
        return 2
    libdir, workdir = argv[0], argv[1]
    split = argv.index("--", 2)
    names, modules = argv[2:split], argv[split + 1 :]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, libdir)
    import check_requirements  # type: ignore[import-not-found]
    import compile_installed  # type: ignore[import-not-found]
    import import_modules  # type: ignore[import-not-found]

    jobs = compile_installed.find_sources(names)
    files = [f for _site, _info, sources in jobs for f in sources]
    todo, results = compile_installed.pending(files)  # compiled while installing already
    pool, pending = compile_installed.start_compile(todo)
    problems, others = check_requirements.check(names)
    results.update(compile_installed.finish_compile(todo, pool, pending))
    compiled = compile_installed.record(jobs, results)
    print("compiled " + str(len(todo)) + " files the install step left; " + str(compiled) + " of "
          + str(len(files)) + " files byte-compiled", flush=True)
    requirements = check_requirements.report(problems, others)
    sys.stdout.flush()
    _forget([libdir, here])
    imports = import_modules.main(modules) if modules else 0
    sys.stdout.flush()
    passed = requirements == 0 and imports == 0
    if passed:
        sys.dont_write_bytecode = True  # nothing may recreate the work directory now
        shutil.rmtree(workdir, ignore_errors=True)
    print(SUMMARY + " compile=0 requirements=" + str(requirements) + " imports=" + str(imports), flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
