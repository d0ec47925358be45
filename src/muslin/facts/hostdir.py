"""A :class:`~muslin.facts.tree.FileTree` over an unpacked root filesystem on the host.

Symlinks are resolved by hand, component by component, as if the directory
were ``/``: absolute targets restart at the root and ``..`` stops at it, so
nothing outside the directory is ever read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from muslin.facts.tree import normalize

_MAX_LINKS = 40


class HostDirTree:
    """A FileTree backed by a directory on the host, confined to that directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _resolve(self, path: str, follow_last: bool = True) -> str | None:
        """Resolve ``path`` to a root-relative path with no symlinks (None if it escapes)."""
        pending = [p for p in path.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join([*resolved, part])
            is_last = not pending
            try:
                st = os.lstat(self.root / candidate)
            except OSError:
                resolved.append(part)
                resolved.extend(p for p in pending if p not in ("", "."))
                return "/".join(resolved)
            if stat.S_ISLNK(st.st_mode) and (follow_last or not is_last):
                links += 1
                if links > _MAX_LINKS:
                    return None
                target = os.readlink(self.root / candidate)
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            resolved.append(part)
        return "/".join(resolved)

    def _stat(self, path: str, follow: bool = True) -> os.stat_result | None:
        rel = self._resolve(path, follow_last=follow)
        if rel is None:
            return None
        try:
            return os.lstat(self.root / rel) if rel else os.stat(self.root)
        except OSError:
            return None

    def read_bytes(self, path: str) -> bytes | None:
        rel = self._resolve(path)
        if rel is None:
            return None
        full = self.root / rel
        try:
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                return None
            return full.read_bytes()
        except OSError:
            return None

    def is_file(self, path: str) -> bool:
        st = self._stat(path)
        return st is not None and stat.S_ISREG(st.st_mode)

    def is_dir(self, path: str) -> bool:
        st = self._stat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def exists(self, path: str) -> bool:
        return self._stat(path, follow=False) is not None

    def listdir(self, path: str) -> list[str]:
        rel = self._resolve(path)
        if rel is None or not self.is_dir(path):
            return []
        try:
            return sorted(os.listdir(self.root / rel))
        except OSError:
            return []

    def readlink(self, path: str) -> str | None:
        norm = normalize(path)
        if norm is None or norm == "":
            return None
        parent, _, name = norm.rpartition("/")
        rel_parent = self._resolve(parent) if parent else ""
        if rel_parent is None:
            return None
        full = self.root / rel_parent / name if rel_parent else self.root / name
        try:
            return os.readlink(full)
        except OSError:
            return None
