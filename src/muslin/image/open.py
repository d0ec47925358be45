"""Open an image from a user-given reference, syft style.

``registry:REF``, ``docker:REF``, ``docker-archive:PATH[:TAG]``,
``oci-dir:PATH[:TAG]``, ``oci-archive:PATH[:TAG]``, ``dir:PATH``; a plain
reference means the local daemon if it has the image, else the registry.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from muslin.errors import ImageNotFoundError, NetworkError, UsageError
from muslin.image.platform import Platform, parse_platform
from muslin.image.reference import parse_reference
from muslin.image.sources.base import OpenedImage

if TYPE_CHECKING:
    from muslin.image.sources.daemon import RootfsView

PREFIXES = ("registry", "docker", "docker-archive", "oci-dir", "oci-archive", "dir")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):(.*)\Z", re.S)


def split_path_and_tag(spec: str) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH:TAG``: the longest prefix that exists is the path.

    Raises ImageNotFoundError when no prefix exists.
    """
    if not spec:
        raise UsageError("missing path after the source prefix")
    if Path(spec).exists():
        return Path(spec), None
    for i in range(len(spec) - 1, 0, -1):
        if spec[i] == ":" and Path(spec[:i]).exists():
            tag = spec[i + 1:]
            return Path(spec[:i]), tag or None
    raise ImageNotFoundError(f"no such file or directory: {spec}")


def open_image(
    reference: str, platform: str | None = None, *, offline: bool = False, view: RootfsView | None = None
) -> OpenedImage:
    """Open ``reference`` (see module doc) for the given ``os/arch[/variant]``.

    ``view``: for an image the Docker daemon holds, where its files can be read in place
    (see :data:`muslin.image.sources.daemon.RootfsView`).
    """
    wanted: Platform | None = parse_platform(platform) if platform else None
    text = reference.strip()
    m = _SCHEME.match(text)
    scheme = m.group(1) if m else None
    rest = m.group(2) if m else text
    if scheme in PREFIXES:
        return _open_prefixed(scheme, rest, text, wanted, offline, view)
    if scheme is not None and (rest.startswith(("/", ".", "~")) or not _parses(text)):
        raise UsageError(
            f"unknown image source {scheme + ':'!r} in {text!r} "
            f"(known: {', '.join(p + ':' for p in PREFIXES)})"
        )
    try:
        ref = parse_reference(text)
    except UsageError as exc:
        if Path(text).exists():
            raise UsageError(
                f"{exc}; for a local file or directory use docker-archive:{text}, "
                f"oci-dir:{text}, oci-archive:{text} or dir:{text}"
            ) from None
        raise
    from muslin.image.sources.daemon import DaemonSource

    if DaemonSource.has_image(text, wanted):
        return DaemonSource(text, wanted, view).open()
    from muslin.image.sources.registry import RegistrySource

    try:
        return RegistrySource(ref, wanted, offline=offline, given=text).open()
    except (ImageNotFoundError, NetworkError) as exc:
        # A plain reference tried the daemon first: say so, keep the error's kind.
        raise type(exc)(f"{text}: not in the local Docker daemon; {exc}") from None


def _parses(text: str) -> bool:
    try:
        parse_reference(text)
    except UsageError:
        return False
    return True


def _open_prefixed(
    scheme: str, rest: str, text: str, platform: Platform | None, offline: bool, view: RootfsView | None = None
) -> OpenedImage:
    if scheme == "registry":
        from muslin.image.sources.registry import RegistrySource

        return RegistrySource(parse_reference(rest), platform, offline=offline, given=text).open()
    if scheme == "docker":
        parse_reference(rest)
        from muslin.image.sources.daemon import DaemonSource

        return DaemonSource(rest, platform, view).open()
    if scheme == "dir":
        from muslin.image.sources.rootdir import RootDirSource

        if not rest:
            raise UsageError("missing path after dir:")
        return RootDirSource(rest, platform, reference=text).open()
    path, tag = split_path_and_tag(rest)
    if scheme == "docker-archive":
        from muslin.image.sources.archive import DockerArchiveSource

        return DockerArchiveSource(path, tag=tag, platform=platform, reference=text).open()
    from muslin.image.sources.oci import OciLayoutSource

    return OciLayoutSource(
        path, platform, tag=tag, archive=scheme == "oci-archive", reference=text
    ).open()
