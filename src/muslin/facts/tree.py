"""The read-only view of a root filesystem that every fact extractor reads from.

Image sources (registry, daemon, archives, OCI layouts, plain directories) all
end in a :class:`FileTree`; the fact extractors never see layers, tar streams
or the host filesystem.  Paths are POSIX, relative to the image root, without a
leading slash (``"usr/lib/python3.11"``); ``""`` is the root itself.
Implementations resolve symbolic links *inside* the root: an absolute target
means the image's root, and ``..`` never climbs above it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class FileTree(Protocol):
    """Read-only access to an image's root filesystem."""

    def read_bytes(self, path: str) -> bytes | None:
        """The content of a regular file (symlinks followed), or None if absent or not a file."""

    def is_file(self, path: str) -> bool:
        """True if ``path`` (symlinks followed) is a regular file."""

    def is_dir(self, path: str) -> bool:
        """True if ``path`` (symlinks followed) is a directory."""

    def exists(self, path: str) -> bool:
        """True if ``path`` exists; a dangling symlink exists."""

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names of a directory (symlinks followed); [] if not a directory."""

    def readlink(self, path: str) -> str | None:
        """The target of the symlink at ``path`` (not followed), or None if not a symlink."""


def normalize(path: str) -> str | None:
    """Normalise an in-image path: strip ``./`` and ``/``, fold ``.``/``..``.

    Returns None when the path climbs above the root (``../x``), which callers
    treat as an entry to drop rather than something to clamp.
    """
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def read_text(tree: FileTree, path: str) -> str | None:
    """A file's content decoded as UTF-8 (invalid bytes replaced), or None."""
    data = tree.read_bytes(path)
    return None if data is None else data.decode("utf-8", errors="replace")
