"""Import pip while muslin is still planning; run ``pip install`` once the wheels are there.

Usage: ``PYTHONDONTWRITEBYTECODE=1 python pip_waiter.py GOFILE PYCACHE [--no-pip]``.
Started in the install container before the plan exists.  In an image whose standard library
ships no ``.pyc`` files the bytecode this process compiles goes to PYCACHE (the
later processes use it, with ``PYTHONPYCACHEPREFIX``); otherwise none is written.

It imports pip's install command, then the modules pip imports only once it runs
(:data:`PIP_LATER_MODULES`) and the standard library modules muslin's verify step
needs, until GOFILE appears.  Where there is no bytecode, a forked helper compiles pip's
files into PYCACHE from the other end of the package (reverse name order) while this process
imports from its start, so that two cores share the ~450 modules (:func:`_compile_helper`);
it is stopped once pip's modules are imported.  GOFILE is the last file muslin copies in, JSON
``{"python": PATH, "args": ["install", ...], "env": {...}}``.  When PATH is
this interpreter it runs ``python -m pip ARGS`` here, as ``runpy`` runs
``-m``, with ``env`` added to the environment, and exits with pip's status.
``{"exit": true}``, another interpreter, no pip, or no GOFILE within an hour:
exit 99 without running pip (muslin then runs its own steps).  ``--no-pip``: only warm the bytecode, exit 0.
"""

from __future__ import annotations

import os
import sys

NOT_USED = 99
PIP_MODULES = (
    "pip._internal.cli.main",
    "pip._internal.commands.install",
    "pip._internal.operations.install.wheel",
)
PIP_LATER_MODULES = (
    "pip._internal.resolution.resolvelib.resolver",
    "pip._internal.metadata.importlib",
    "pip._internal.metadata.pkg_resources",
    "pip._vendor.distro",
    "pip._internal.utils._jaraco_text",
)
"""What ``pip install`` of local wheels imports later, while it runs (pip 23: its resolver, both
metadata backends, the user agent's ``distro``): imported while waiting, when they exist."""
VERIFY_MODULES = (
    "csv", "hashlib", "importlib.metadata", "py_compile", "shutil", "sysconfig", "traceback",
    "concurrent.futures.process", "multiprocessing.pool",
)
POLL = 0.01
MAX_WAIT = 3600.0
"""Seconds to wait for GOFILE before giving up (muslin removes the container long before)."""


def _bytecode(pycache: str) -> bool:
    """Choose where compiled modules go (started with ``PYTHONDONTWRITEBYTECODE=1``); whether the image ships bytecode."""
    pyc = os.path.join(os.path.dirname(os.__file__), "__pycache__", "os." + str(sys.implementation.cache_tag) + ".pyc")
    if os.path.exists(pyc):
        sys.dont_write_bytecode = True
        return True
    sys.pycache_prefix = pycache
    sys.dont_write_bytecode = False
    return False


def _package_dir(name: str) -> str | None:
    """Where package ``name`` lives on ``sys.path`` (found without importing it)."""
    for entry in sys.path:
        folder = os.path.join(entry or ".", name)
        if os.path.isfile(os.path.join(folder, "__init__.py")):
            return folder
    return None


def _compile_tree(root: str) -> None:
    """Byte-compile the ``.py`` files under ``root`` into ``sys.pycache_prefix``, last name first.

    Each ``.pyc`` is what an import would write (timestamp-based, source mtime and size, written
    atomically), so the importing process loads it; one it already wrote is skipped.
    """
    bootstrap = sys.modules["_frozen_importlib_external"]  # what import compiles with: nothing to import

    paths: list[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        paths.extend(os.path.join(folder, n) for n in names if n.endswith(".py"))
    for path in sorted(paths, reverse=True):
        cached = bootstrap.cache_from_source(path)
        if os.path.exists(cached):
            continue
        try:
            st = os.stat(path)
            with open(path, "rb") as fh:
                code = compile(fh.read(), path, "exec", dont_inherit=True)
            data = bootstrap._code_to_timestamp_pyc(code, st.st_mtime, st.st_size)
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            bootstrap._write_atomic(cached, data, 0o644)
        except Exception:  # a file that does not compile: the import reports it, if it is ever imported
            continue


def _compile_helper(package: str) -> int | None:
    """Fork a process compiling ``package`` (see :func:`_compile_tree`); its PID, or None."""
    root = _package_dir(package)
    if root is None or not hasattr(os, "fork"):
        return None
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the helper: never returns into the waiter's code
        code = 0
        try:
            _compile_tree(root)
        except BaseException:
            code = 1
        os._exit(code)
    return pid


def _stop(pid: int | None) -> None:
    """End the compile helper (its work is only ever a head start)."""
    if pid is None:
        return
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _import(name: str) -> bool:
    import importlib

    try:
        importlib.import_module(name)
    except Exception:
        return False
    return True


def _wait(go: str, warm: list[str], helper: int | None = None, helped: int = 0) -> dict[str, object]:
    """Warm ``warm`` modules while waiting for GOFILE; its JSON (retried while still being written).

    ``helper`` (a compile helper's PID) is stopped once the first ``helped`` modules are imported.
    """
    import json
    import time

    deadline = time.monotonic() + MAX_WAIT
    while not os.path.exists(go):
        if helped <= 0:
            _stop(helper)
            helper = None
        if warm:
            _import(warm.pop(0))
            helped -= 1
        elif time.monotonic() > deadline:
            return {"exit": True}
        else:
            time.sleep(POLL)
    _stop(helper)
    for _ in range(500):
        try:
            with open(go, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict):
                return data
        except (OSError, ValueError):
            pass
        time.sleep(POLL)
    return {"exit": True}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: pip_waiter.py GOFILE PYCACHE [--no-pip]", file=sys.stderr)
        return 2
    go, pycache = argv[0], argv[1]
    shipped = _bytecode(pycache)
    if "--no-pip" in argv[2:]:
        if not shipped:
            for name in VERIFY_MODULES:
                _import(name)
        return 0
    helper = None if shipped else _compile_helper("pip")
    have_pip = all(_import(name) for name in PIP_MODULES)
    later = PIP_LATER_MODULES if have_pip else ()
    request = _wait(go, [*later, *(() if shipped else VERIFY_MODULES)], helper, len(later))
    python = request.get("python")
    args = request.get("args")
    env = request.get("env") or {}
    if (
        request.get("exit")
        or not have_pip
        or not isinstance(python, str)
        or not isinstance(args, list)
        or not isinstance(env, dict)
        or os.path.realpath(python) != os.path.realpath(sys.executable)
    ):
        return NOT_USED
    os.environ.update({str(k): str(v) for k, v in env.items()})
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.argv = ["pip", *[str(a) for a in args]]
    import runpy

    try:
        runpy.run_module("pip", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
