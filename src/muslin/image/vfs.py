"""An in-memory root filesystem built from image layers (a FileTree).

Every path gets a node (directory, file, symlink or "other" for devices and
fifos); file content is kept only where the layer reader decided to keep it.
Symlinks are resolved inside the virtual root like a chroot: absolute targets
restart at the root and ``..`` stops at it, so nothing can point outside.

Nodes carry the number of the layer that last wrote them (``stamp``) and the
newest layer that wrote anything beneath them (``touched``); whiteouts and
opaque directories use these to hide lower layers only, never entries of the
layer that carries the whiteout, whatever their order in the tar.
"""

from __future__ import annotations

from collections.abc import Iterator

from muslin.facts.tree import normalize

DIR, FILE, SYMLINK, OTHER = "dir", "file", "symlink", "other"
_MAX_LINKS = 40


class Node:
    """One filesystem entry."""

    __slots__ = ("children", "data", "kind", "size", "stamp", "target", "touched")

    def __init__(
        self,
        kind: str,
        stamp: int,
        *,
        target: str | None = None,
        data: bytes | None = None,
        size: int = 0,
    ) -> None:
        self.kind = kind
        self.stamp = stamp
        self.touched = stamp
        self.target = target
        self.data = data
        self.size = size
        self.children: dict[str, Node] | None = {} if kind == DIR else None


class VirtualTree:
    """A FileTree held in memory; built by :func:`muslin.image.layers.apply_layers`."""

    def __init__(self) -> None:
        self.root = Node(DIR, 0)

    # --- lookup ---------------------------------------------------------

    def _walk(self, path: str, follow_last: bool) -> tuple[list[str], Node | None]:
        """Resolve ``path``: (resolved components, node or None if absent/looping)."""
        pending = [p for p in path.split("/") if p not in ("", ".")]
        pending.reverse()
        stack: list[tuple[str, Node]] = []
        links = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if stack:
                    stack.pop()
                continue
            parent = stack[-1][1] if stack else self.root
            if parent.kind != DIR or parent.children is None:
                return [n for n, _ in stack], None
            node = parent.children.get(part)
            if node is None:
                return [n for n, _ in stack] + [part], None
            if node.kind == SYMLINK and (pending or follow_last):
                links += 1
                if links > _MAX_LINKS:
                    return [], None
                target = node.target or ""
                if target.startswith("/"):
                    stack = []
                pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
                continue
            stack.append((part, node))
        return [n for n, _ in stack], (stack[-1][1] if stack else self.root)

    def node(self, path: str, follow: bool = True) -> Node | None:
        """The node at ``path`` (symlinks followed unless ``follow`` is false)."""
        return self._walk(path, follow)[1]

    def resolve(self, path: str) -> str | None:
        """The symlink-free root-relative path of an existing ``path``, or None."""
        parts, node = self._walk(path, True)
        return "/".join(parts) if node is not None else None

    # --- FileTree -------------------------------------------------------

    def read_bytes(self, path: str) -> bytes | None:
        """File content, or None if absent, not a file, or content not retained."""
        node = self.node(path)
        return node.data if node is not None and node.kind == FILE else None

    def is_file(self, path: str) -> bool:
        node = self.node(path)
        return node is not None and node.kind == FILE

    def is_dir(self, path: str) -> bool:
        node = self.node(path)
        return node is not None and node.kind == DIR

    def exists(self, path: str) -> bool:
        return self.node(path, follow=False) is not None

    def listdir(self, path: str) -> list[str]:
        node = self.node(path)
        if node is None or node.children is None:
            return []
        return sorted(node.children)

    def readlink(self, path: str) -> str | None:
        node = self.node(path, follow=False)
        return node.target if node is not None and node.kind == SYMLINK else None

    # --- extras ---------------------------------------------------------

    def has_content(self, path: str) -> bool:
        """True if ``path`` is a file whose content was retained."""
        node = self.node(path)
        return node is not None and node.kind == FILE and node.data is not None

    def size(self, path: str) -> int | None:
        """The size recorded in the layer for a file, or None."""
        node = self.node(path)
        return node.size if node is not None and node.kind == FILE else None

    def walk(self, path: str = "") -> Iterator[tuple[str, Node]]:
        """Every entry below ``path`` in sorted pre-order (symlinks not followed)."""
        start = self.node(path)
        if start is None or start.children is None:
            return
        prefix = self.resolve(path) or ""
        stack: list[tuple[str, Iterator[tuple[str, Node]]]] = [
            (prefix, iter(sorted(start.children.items())))
        ]
        while stack:
            base, entries = stack[-1]
            item = next(entries, None)
            if item is None:
                stack.pop()
                continue
            name, child = item
            full = f"{base}/{name}" if base else name
            yield full, child
            if child.children is not None:
                stack.append((full, iter(sorted(child.children.items()))))

    # --- building (used by the layer applier) --------------------------

    def _parent_for_write(self, parts: list[str], stamp: int) -> Node | None:
        """The directory that will hold ``parts[-1]``; missing directories are created.

        Symlinks among the parents are followed inside the root (like a chroot
        extraction); returns None when a parent is a file or loops.
        """
        pending = list(reversed(parts[:-1]))
        stack: list[Node] = []
        links = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if stack:
                    stack.pop()
                continue
            parent = stack[-1] if stack else self.root
            if parent.children is None:
                return None
            node = parent.children.get(part)
            if node is None:
                node = Node(DIR, stamp)
                parent.children[part] = node
            elif node.kind == SYMLINK:
                links += 1
                if links > _MAX_LINKS:
                    return None
                target = node.target or ""
                if target.startswith("/"):
                    stack = []
                pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
                continue
            elif node.kind != DIR:
                return None
            stack.append(node)
        for node in stack:
            node.touched = stamp
        self.root.touched = stamp
        return stack[-1] if stack else self.root

    def put(self, path: str, new: Node) -> bool:
        """Place ``new`` at ``path`` (an existing directory merges with a new directory)."""
        parts = path.split("/")
        parent = self._parent_for_write(parts, new.stamp)
        if parent is None or parent.children is None:
            return False
        name = parts[-1]
        old = parent.children.get(name)
        if new.kind == DIR and old is not None and old.kind == DIR:
            old.stamp = new.stamp
            old.touched = new.stamp
            return True
        parent.children[name] = new
        return True

    def put_root(self, stamp: int) -> None:
        self.root.stamp = stamp
        self.root.touched = stamp

    def whiteout(self, path: str, stamp: int) -> None:
        """Hide ``path`` as lower layers left it (``.wh.NAME``)."""
        parts = path.split("/")
        parent = self._parent_for_write(parts, stamp)
        if parent is None or parent.children is None:
            return
        node = parent.children.get(parts[-1])
        if node is not None and not _hide_lower(node, stamp):
            del parent.children[parts[-1]]

    def opaque(self, path: str, stamp: int) -> None:
        """Hide everything lower layers put inside directory ``path`` (``.wh..wh..opq``)."""
        parent = self._parent_for_write([*path.split("/"), ""], stamp) if path else self.root
        if parent is not None:
            _prune(parent, stamp)

    def link_source(self, path: str) -> Node | None:
        """The node a hard link names (symlinks in parents followed, not the last)."""
        norm = normalize(path)
        if not norm:
            return None
        return self.node(norm, follow=False)


def _hide_lower(node: Node, stamp: int) -> bool:
    """Remove lower-layer content under ``node``; True if ``node`` itself survives."""
    if node.touched < stamp:
        return False
    if node.children is not None:
        _prune(node, stamp)
    return True


def _prune(directory: Node, stamp: int) -> None:
    assert directory.children is not None
    for name in list(directory.children):
        if not _hide_lower(directory.children[name], stamp):
            del directory.children[name]
