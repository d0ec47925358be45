"""Virtual environments in an image: directories holding a ``pyvenv.cfg``.

Looked for where images put them: the image's ``VIRTUAL_ENV``, the parents of
``bin`` directories on its ``PATH``, and one level below ``/``, ``/opt``,
``/app``, ``/srv``, ``/usr/src/app``, ``/usr/local``, ``/root`` and ``/home/*``
(``/opt/venv``, ``/app/.venv`` ...).  The active one is the one ``VIRTUAL_ENV``
names, else the first on ``PATH``: what a ``python`` or ``pip`` in the image runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from muslin.facts.model import ImageConfig, PythonInstall, VirtualEnv
from muslin.facts.tree import FileTree, normalize, read_text

SEARCH_DIRS = ("", "opt", "app", "srv", "usr/src/app", "usr/local", "root")
"""Directories whose children may be virtual environments (``home/*`` too)."""

_VERSION = re.compile(r"^(\d+)\.(\d+)")
_LIB_VERSION = re.compile(r"^python(3\.\d+)$")


def _config(text: str) -> dict[str, str]:
    """``key = value`` lines of a ``pyvenv.cfg`` (keys lower-cased, ``-`` as ``_``)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower().replace("-", "_")] = value.strip()
    return out


def _candidates(tree: FileTree, config: ImageConfig) -> list[str]:
    found: list[str] = []
    virtual_env = config.env_value("VIRTUAL_ENV")
    if virtual_env:
        found.append(virtual_env)
    for entry in (config.env_value("PATH") or "").split(":"):
        if entry.rstrip("/").endswith("/bin"):
            found.append(entry.rstrip("/")[: -len("/bin")])
    homes = [f"home/{name}" for name in tree.listdir("home")]
    for parent in (*SEARCH_DIRS, *homes):
        for name in tree.listdir(parent):
            found.append(f"{parent}/{name}" if parent else name)
    out: list[str] = []
    for path in found:
        clean = normalize(path)
        if clean and clean not in out and tree.is_file(f"{clean}/pyvenv.cfg"):
            out.append(clean)
    return out


def _version(tree: FileTree, path: str, cfg: dict[str, str]) -> str | None:
    for key in ("version_info", "version"):
        match = _VERSION.match(cfg.get(key, ""))
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    libs = [m.group(1) for m in map(_LIB_VERSION.match, tree.listdir(f"{path}/lib")) if m]
    return libs[0] if len(libs) == 1 else None


def _active(config: ImageConfig, candidates: Iterable[str]) -> str | None:
    names = set(candidates)
    virtual_env = normalize(config.env_value("VIRTUAL_ENV") or "")
    if virtual_env in names:
        return virtual_env
    for entry in (config.env_value("PATH") or "").split(":"):
        clean = normalize(entry)
        if clean and clean.endswith("/bin") and clean[: -len("/bin")] in names:
            return clean[: -len("/bin")]
        if clean in ("usr/local/bin", "usr/bin", "bin"):
            return None  # a system interpreter comes first
    return None


def find_venvs(
    tree: FileTree, config: ImageConfig, pythons: Iterable[PythonInstall] = ()
) -> tuple[VirtualEnv, ...]:
    """Every virtual environment found, the active one first.

    An environment whose Python version cannot be told (no ``version`` in its
    ``pyvenv.cfg``, not exactly one ``lib/python3.X``) is skipped; so is one
    without its ``site-packages``.
    """
    candidates = _candidates(tree, config)
    active = _active(config, candidates)
    has_pip = {p.version: p.has_pip for p in pythons}
    out: list[VirtualEnv] = []
    for path in candidates:
        cfg = _config(read_text(tree, f"{path}/pyvenv.cfg") or "")
        version = _version(tree, path, cfg)
        if version is None:
            continue
        site = f"{path}/lib/python{version}/site-packages"
        if not tree.is_dir(site):
            continue
        system = cfg.get("include_system_site_packages", "false").lower() == "true"
        own_pip = any(n.lower().startswith("pip-") for n in tree.listdir(site))
        out.append(
            VirtualEnv(
                path=path,
                version=version,
                home=cfg.get("home") or None,
                system_site_packages=system,
                site_packages=site,
                active=path == active,
                has_pip=own_pip or (system and has_pip.get(version, False)),
            )
        )
    out.sort(key=lambda v: not v.active)
    return tuple(out)
