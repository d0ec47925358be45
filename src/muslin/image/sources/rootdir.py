"""``dir:PATH``: an unpacked root filesystem on the host, read in place and confined."""

from __future__ import annotations

from pathlib import Path

from muslin.errors import ImageNotFoundError
from muslin.facts.hostdir import HostDirTree
from muslin.facts.model import ImageConfig
from muslin.facts.tree import read_text
from muslin.image.platform import Platform, from_apk_arch, host_platform
from muslin.image.sources.base import OpenedImage


class RootDirSource:
    """An image that is just a directory: config from ``etc/apk/arch`` or the host."""

    name = "dir"

    def __init__(
        self, path: str | Path, platform: Platform | None = None, reference: str | None = None
    ) -> None:
        self.path = Path(path)
        self.platform = platform
        self.reference = reference or f"dir:{path}"

    def open(self) -> OpenedImage:
        if not self.path.exists():
            raise ImageNotFoundError(f"no such directory: {self.path}")
        if not self.path.is_dir():
            raise ImageNotFoundError(f"not a directory: {self.path}")
        tree = HostDirTree(self.path)
        platform = self.platform
        if platform is None:
            arch = (read_text(tree, "etc/apk/arch") or "").strip()
            platform = from_apk_arch(arch) if arch else host_platform()
        config = ImageConfig(
            os=platform.os, architecture=platform.architecture, variant=platform.variant
        )
        return OpenedImage(
            source=self.name,
            reference=self.reference,
            canonical_reference=None,
            digest=None,
            config=config,
            tree=tree,
        )
