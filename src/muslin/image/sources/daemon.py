"""The ``docker:`` source: an image held by a Docker-API daemon (Docker, or Podman's socket).

The daemon is found the way the Docker CLI finds it (``DOCKER_HOST``,
``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``).  The image is exported with
``docker save`` into a temporary file (deleted afterwards) and read by the
docker-archive source, so both sources see exactly the same layers.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from muslin.errors import DockerError, ImageNotFoundError, MuslinError
from muslin.image.platform import Platform
from muslin.image.reference import parse_reference
from muslin.image.sources.archive import DockerArchiveSource
from muslin.image.sources.base import OpenedImage

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


class DaemonSource:
    """An image in the local Docker daemon, read via ``docker save``."""

    name = "docker"

    def __init__(self, reference: str, platform: Platform | None = None) -> None:
        self.reference = reference
        self.platform = platform

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
            with tempfile.TemporaryDirectory(prefix="muslin-docker-") as tmp:
                archive = Path(tmp) / "image.tar"
                self._save(image, archive)
                opened = DockerArchiveSource(archive).open()
        finally:
            client.close()
        return dataclasses.replace(
            opened,
            source="docker",
            reference=self.reference,
            canonical_reference=self._canonical(image.attrs),
            digest=self._digest(image.attrs),
        )

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
