"""Import pip while muslin is still planning; run ``pip install`` once the wheels are there.

Usage: ``PYTHONDONTWRITEBYTECODE=1 python pip_waiter.py GOFILE PYCACHE [--no-pip]``.
Started in the install container before the plan exists.  In an image whose standard library
ships no ``.pyc`` files the bytecode this process compiles goes to PYCACHE (the
later processes use it, with ``PYTHONPYCACHEPREFIX``); otherwise none is written.

It imports pip's install command, then the modules pip imports only once it runs
(:data:`PIP_LATER_MODULES`) and the standard library modules muslin's verify step
needs, until GOFILE appears: the last file muslin copies in, JSON
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


def _import(name: str) -> bool:
    import importlib

    try:
        importlib.import_module(name)
    except Exception:
        return False
    return True


def _wait(go: str, warm: list[str]) -> dict[str, object]:
    """Warm ``warm`` modules while waiting for GOFILE; its JSON (retried while still being written)."""
    import json
    import time

    deadline = time.monotonic() + MAX_WAIT
    while not os.path.exists(go):
        if warm:
            _import(warm.pop(0))
        elif time.monotonic() > deadline:
            return {"exit": True}
        else:
            time.sleep(POLL)
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
    have_pip = all(_import(name) for name in PIP_MODULES)
    request = _wait(go, [*(PIP_LATER_MODULES if have_pip else ()), *(() if shipped else VERIFY_MODULES)])
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
