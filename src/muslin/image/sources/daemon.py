"""The ``docker:`` source: an image held by a Docker-API daemon (Docker, or Podman's socket).

The daemon is found the way the Docker CLI finds it (``DOCKER_HOST``,
``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``).  The image is exported with
``docker save`` into a temporary file (deleted afterwards) and read by the
docker-archive source, so both sources see exactly the same layers.

A caller that is running a container of the image anyway (``muslin install``) can
offer a :data:`RootfsView`: a directory on this host that shows the image's files
(the container's root filesystem, as the daemon mounts it).  The files are then
read there, in place and confined like ``dir:``, instead of exporting the whole
image; without one, or when it gives None, the image is exported.

Image IDs are content addresses, so the facts inspected from one never change:
they are cached (:class:`FactsCache`, ``$MUSLIN_CACHE_DIR/facts/<id>.json``) and a
later open of the same image ID skips the export; its file tree is then exported
only if something reads it (:class:`_LazyTree`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from muslin import __version__
from muslin.errors import DockerError, ImageNotFoundError, MuslinError
from muslin.facts.hostdir import HostDirTree
from muslin.facts.model import FACTS_CACHE_SCHEMA, ImageFacts, facts_from_cache, facts_to_cache
from muslin.facts.tree import FileTree
from muslin.image.manifest import image_config
from muslin.image.platform import Platform
from muslin.image.reference import parse_reference
from muslin.image.sources.archive import DockerArchiveSource
from muslin.image.sources.base import OpenedImage

RootfsView = Callable[[str], Path | None]
"""Image ID -> a host directory showing exactly that image's root filesystem, or None."""

OPEN_TIMEOUT = 300
PROBE_TIMEOUT = 3
SAVE_CHUNK = 1 << 20


def _connect(timeout: int) -> Any:
    """A ping-checked Docker SDK client; DockerError if no daemon answers."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
    except Exception as exc:  # DockerException, or a malformed DOCKER_HOST
        raise DockerError(f"no Docker daemon reachable: {_short(exc)}") from None
    try:
        client.ping()
    except Exception as exc:
        client.close()
        raise DockerError(f"no Docker daemon reachable: {_short(exc)}") from None
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _image_platform(attrs: dict[str, Any]) -> Platform:
    return Platform(
        os=str(attrs.get("Os") or "linux"),
        architecture=str(attrs.get("Architecture") or "amd64"),
        variant=attrs.get("Variant") or None,
    )


def _config_doc(attrs: dict[str, Any]) -> dict[str, Any]:
    """``docker image inspect`` output in the shape of an image config document."""
    return {
        "os": attrs.get("Os"),
        "architecture": attrs.get("Architecture"),
        "variant": attrs.get("Variant"),
        "config": attrs.get("Config") or {},
    }


def _get_image(client: Any, reference: str) -> Any:
    import docker.errors

    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if exc.status_code == 404:
            return None
        if exc.status_code == 400:
            raise ImageNotFoundError(f"invalid image reference for the Docker daemon: {reference}") from None
        raise DockerError(f"Docker daemon: {_short(exc)}") from None
    except Exception as exc:  # connection dropped, timeout
        raise DockerError(f"Docker daemon: {_short(exc)}") from None


def _same_repository(a: str, b: str) -> bool:
    """Whether two ``name[:tag|@digest]`` strings name the same repository."""
    try:
        left, right = parse_reference(a), parse_reference(b)
    except MuslinError:
        return False
    return (left.registry, left.repository) == (right.registry, right.repository)


_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


def facts_cache_dir() -> Path:
    """``$MUSLIN_CACHE_DIR/facts``, else the user cache dir's ``facts``."""
    override = os.environ.get("MUSLIN_CACHE_DIR")
    if override:
        return Path(override) / "facts"
    import platformdirs

    return Path(platformdirs.user_cache_dir("muslin")) / "facts"


class FactsCache:
    """The cached :class:`ImageFacts` of one daemon image ID (inspection hook, see ``inspect_opened``).

    Keyed by image ID, muslin's version and the cache schema.  A missing,
    unreadable or malformed entry is a miss; writes go to a temporary file renamed
    into place, and a failing write only loses the cache entry.
    """

    def __init__(self, image_id: str, root: Path | None = None) -> None:
        digest = image_id.split(":", 1)[1]
        self.path = (root or facts_cache_dir()) / f"{digest}-{__version__}-{FACTS_CACHE_SCHEMA}.json"
        self._loaded: ImageFacts | None = None

    def load(self) -> ImageFacts | None:
        if self._loaded is None:
            try:
                self._loaded = facts_from_cache(json.loads(self.path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return None
        return self._loaded

    def store(self, facts: ImageFacts) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".facts-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(facts_to_cache(facts), out, separators=(",", ":"))
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return


class _LazyTree:
    """A :class:`FileTree` exported from the daemon on first use; carries the facts cache."""

    def __init__(self, load: Callable[[], FileTree], facts_cache: FactsCache) -> None:
        self._load = load
        self._tree: FileTree | None = None
        self.facts_cache = facts_cache

    def _inner(self) -> FileTree:
        if self._tree is None:
            self._tree = self._load()
        return self._tree

    def read_bytes(self, path: str) -> bytes | None:
        return self._inner().read_bytes(path)

    def is_file(self, path: str) -> bool:
        return self._inner().is_file(path)

    def is_dir(self, path: str) -> bool:
        return self._inner().is_dir(path)

    def exists(self, path: str) -> bool:
        return self._inner().exists(path)

    def listdir(self, path: str) -> list[str]:
        return self._inner().listdir(path)

    def readlink(self, path: str) -> str | None:
        return self._inner().readlink(path)

    def __getattr__(self, name: str) -> Any:
        """Anything else the exported tree offers (``walk`` ...)."""
        if name.startswith("__") or name in ("_load", "_tree", "facts_cache"):
            raise AttributeError(name)
        return getattr(self._inner(), name)


class DaemonSource:
    """An image in the local Docker daemon, read via ``docker save``."""

    name = "docker"

    def __init__(self, reference: str, platform: Platform | None = None, view: RootfsView | None = None) -> None:
        self.reference = reference
        self.platform = platform
        self.view = view

    @staticmethod
    def has_image(reference: str, platform: Platform | None = None) -> bool:
        """True if a reachable daemon holds ``reference`` (for ``platform`` when given); fast."""
        try:
            client = _connect(PROBE_TIMEOUT)
        except DockerError:
            return False
        try:
            image = _get_image(client, reference)
        except MuslinError:
            return False
        finally:
            client.close()
        if image is None:
            return False
        return platform is None or platform.matches(_image_platform(image.attrs))

    def open(self) -> OpenedImage:
        client = _connect(OPEN_TIMEOUT)
        try:
            image = _get_image(client, self.reference)
            if image is None:
                raise ImageNotFoundError(f"image not found in the Docker daemon: {self.reference}")
            actual = _image_platform(image.attrs)
            if self.platform is not None and not self.platform.matches(actual):
                raise ImageNotFoundError(
                    f"{self.reference} in the Docker daemon is {actual}, not {self.platform}"
                )
            image_id = str(image.attrs.get("Id") or image.id or "")
            cache = FactsCache(image_id) if _IMAGE_ID.match(image_id) else None
            cached = cache.load() if cache is not None else None
            if cached is None or cache is None:
                root = self.view(image_id) if self.view is not None else None
                opened = self._export(client, image) if root is None else self._viewed(root, image.attrs)
                if cache is not None:
                    files = opened.tree
                    opened = dataclasses.replace(opened, tree=_LazyTree(lambda: files, cache))
            else:
                opened = OpenedImage(
                    source="docker",
                    reference=self.reference,
                    canonical_reference=None,
                    digest=None,
                    config=cached.config,
                    tree=_LazyTree(lambda: self._tree_of(image_id), cache),
                )
        finally:
            client.close()
        return dataclasses.replace(
            opened,
            source="docker",
            reference=self.reference,
            canonical_reference=self._canonical(image.attrs),
            digest=self._digest(image.attrs),
        )

    def _export(self, client: Any, image: Any) -> OpenedImage:
        """``docker save`` of ``image`` read by the docker-archive source."""
        with tempfile.TemporaryDirectory(prefix="muslin-docker-") as tmp:
            archive = Path(tmp) / "image.tar"
            self._save(image, archive)
            return DockerArchiveSource(archive).open()

    def _viewed(self, root: Path, attrs: dict[str, Any]) -> OpenedImage:
        """The image read in place at ``root`` (its config from ``docker image inspect``)."""
        return OpenedImage(
            source="docker",
            reference=self.reference,
            canonical_reference=None,
            digest=None,
            config=image_config(_config_doc(attrs)),
            tree=HostDirTree(root),
        )

    def _tree_of(self, image_id: str) -> FileTree:
        """The files of a cached image, read after all: through the view when one is offered."""
        root = self.view(image_id) if self.view is not None else None
        return HostDirTree(root) if root is not None else self._export_id(image_id).tree

    def _export_id(self, image_id: str) -> OpenedImage:
        """Export by image ID later (a cached image whose files are read after all)."""
        client = _connect(OPEN_TIMEOUT)
        try:
            image = _get_image(client, image_id)
            if image is None:
                raise ImageNotFoundError(f"image {image_id} ({self.reference}) left the Docker daemon")
            return self._export(client, image)
        finally:
            client.close()

    def _save(self, image: Any, archive: Path) -> None:
        """Stream ``docker save`` of exactly this image id into ``archive``."""
        try:
            with archive.open("wb") as out:
                for chunk in image.save(chunk_size=SAVE_CHUNK, named=False):
                    out.write(chunk)
        except OSError as exc:
            raise DockerError(f"cannot store the exported image: {exc.strerror or exc}") from None
        except Exception as exc:
            raise DockerError(f"docker save {self.reference} failed: {_short(exc)}") from None

    def _canonical(self, attrs: dict[str, Any]) -> str | None:
        """The normalised reference, when the user named the image by one of its tags/digests."""
        try:
            parsed = parse_reference(self.reference)
        except MuslinError:
            return None
        names = [*(attrs.get("RepoTags") or []), *(attrs.get("RepoDigests") or [])]
        for name in names:
            try:
                if parse_reference(name).canonical == parsed.canonical:
                    return parsed.canonical
            except MuslinError:
                continue
        return None

    def _digest(self, attrs: dict[str, Any]) -> str | None:
        """The manifest digest of the named repository, if the daemon knows one.

        An image id is not a manifest digest (``FROM name@<id>`` would try to
        pull), and another repository's digest does not apply to this name:
        both give None.
        """
        for entry in attrs.get("RepoDigests") or []:
            if "@" in entry and _same_repository(entry, self.reference):
                return str(entry).split("@", 1)[1]
        return None
