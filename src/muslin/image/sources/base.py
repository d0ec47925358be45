"""The image-source protocol: every adapter ends in an :class:`OpenedImage`.

Adapters (one module each): ``registry`` (OCI distribution API), ``daemon``
(Docker SDK), ``archive`` (``docker save`` output), ``oci`` (OCI layout dir or
archive), ``rootdir`` (an unpacked root filesystem).  Layered adapters hand
their layers to :func:`muslin.image.layers.apply_layers`, which builds an
in-memory :class:`~muslin.facts.tree.FileTree` of the files that matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from muslin.facts.model import ImageConfig
from muslin.facts.tree import FileTree


@dataclass(frozen=True)
class OpenedImage:
    """An image ready for inspection."""

    source: str
    """``registry``, ``docker``, ``docker-archive``, ``oci-dir``, ``oci-archive`` or ``dir``."""
    reference: str
    """The reference as the user gave it."""
    canonical_reference: str | None
    """``docker.io/library/alpine:3.18`` for registry/daemon images, else None."""
    digest: str | None
    """Manifest digest where known."""
    config: ImageConfig
    tree: FileTree


class ImageSource(Protocol):
    """Something that can produce an :class:`OpenedImage`.

    Raises :class:`~muslin.errors.ImageNotFoundError`,
    :class:`~muslin.errors.AuthenticationError`,
    :class:`~muslin.errors.NetworkError` or
    :class:`~muslin.errors.CorruptImageError`.
    """

    name: str

    def open(self) -> OpenedImage: ...
