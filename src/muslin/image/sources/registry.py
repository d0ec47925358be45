"""The ``registry:`` source: an image pulled (metadata and layers only) over the OCI distribution API.

Tag -> manifest or index; an index is narrowed to one platform (``--platform``,
default linux + the host's arch; attestation entries skipped); the config and
every layer blob are verified and cached by digest, then the layers are applied
from the cache.  ``offline=True`` uses only what an earlier pull cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from muslin.errors import CorruptImageError
from muslin.image.layers import apply_layers
from muslin.image.manifest import (
    Descriptor,
    Index,
    Manifest,
    check_platform,
    layer_blobs,
    parse_config,
    parse_document,
    select_platform,
)
from muslin.image.platform import Platform
from muslin.image.reference import ImageReference
from muslin.image.registry.cache import BlobCache
from muslin.image.registry.client import RegistryClient
from muslin.image.registry.credentials import credential_provider
from muslin.image.registry.tls import registry_verify
from muslin.image.sources.base import OpenedImage

DOWNLOAD_WORKERS = 3


def _opener(path: Path) -> Callable[[], BinaryIO]:
    def open_blob() -> BinaryIO:
        return path.open("rb")

    return open_blob


class RegistrySource:
    """An image in a registry, read without pulling it into a daemon."""

    name = "registry"

    def __init__(
        self,
        reference: ImageReference,
        platform: Platform | None = None,
        offline: bool = False,
        *,
        given: str | None = None,
        cache: BlobCache | None = None,
        client: RegistryClient | None = None,
    ) -> None:
        self.reference = reference
        self.platform = platform
        self.offline = offline
        self.given = given if given is not None else reference.canonical
        self._cache = cache
        self._client = client

    def _make_client(self) -> RegistryClient:
        ref = self.reference
        return RegistryClient(
            ref.api_host,
            display_host=ref.registry,
            credentials=credential_provider(ref.registry),
            cache=self._cache or BlobCache(),
            offline=self.offline,
            verify=registry_verify(ref.api_host),
        )

    def open(self) -> OpenedImage:
        client = self._client or self._make_client()
        try:
            return self._open(client)
        finally:
            if self._client is None:
                client.close()

    def _open(self, client: RegistryClient) -> OpenedImage:
        ref = self.reference
        repo = ref.repository
        shown = ref.canonical
        top = client.get_manifest(repo, ref.api_reference)
        document = parse_document(top.data, top.media_type, f"manifest {shown}")
        digest = top.digest
        if isinstance(document, Index):
            entry = select_platform(document, self.platform, f"image index {shown}")
            fetched = client.get_manifest(repo, entry.digest)
            if entry.size is not None and entry.size != len(fetched.data):
                raise CorruptImageError(
                    f"manifest {ref.name}@{entry.digest}: {len(fetched.data)} bytes, index says {entry.size}"
                )
            document = parse_document(fetched.data, entry.media_type or fetched.media_type,
                                      f"manifest {ref.name}@{entry.digest}")
            digest = fetched.digest
            if isinstance(document, Index):
                raise CorruptImageError(f"image index {shown}: entry {entry.digest} is another index")
        manifest: Manifest = document
        what = f"image {ref.name}@{digest}"
        config_data = client.read_blob(repo, manifest.config.digest, manifest.config.size)
        config = parse_config(config_data, f"config of {what}")
        check_platform(config.config, self.platform, what)
        paths = self._fetch_layers(client, repo, manifest.layers)
        try:
            tree = apply_layers(layer_blobs(manifest, config, lambda d: _opener(paths[d.digest]), what))
        except CorruptImageError:
            # A cached blob may have been damaged on disk since it was verified: drop
            # the bad ones, download them again once, and re-apply.
            if self.offline or not self._drop_damaged(paths):
                raise
            paths = self._fetch_layers(client, repo, manifest.layers)
            tree = apply_layers(layer_blobs(manifest, config, lambda d: _opener(paths[d.digest]), what))
        return OpenedImage(
            source="registry",
            reference=self.given,
            canonical_reference=shown,
            digest=digest,
            config=config.config,
            tree=tree,
        )

    @staticmethod
    def _drop_damaged(paths: dict[str, Path]) -> bool:
        """Re-hash cached layer blobs, delete those not matching their digest; any dropped?"""
        dropped = False
        for digest, path in paths.items():
            algorithm, _, expected = digest.partition(":")
            hasher = hashlib.new(algorithm)
            try:
                with path.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        hasher.update(chunk)
            except OSError:
                continue
            if hasher.hexdigest() != expected:
                path.unlink(missing_ok=True)
                dropped = True
        return dropped

    @staticmethod
    def _fetch_layers(client: RegistryClient, repo: str, layers: tuple[Descriptor, ...]) -> dict[str, Path]:
        """Download (or find in the cache) every distinct layer blob, a few at a time."""
        unique = list({layer.digest: layer for layer in layers}.values())
        if len(unique) <= 1:
            return {layer.digest: client.fetch_blob(repo, layer.digest, layer.size) for layer in unique}
        with ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS, thread_name_prefix="muslin-pull") as pool:
            futures = {
                layer.digest: pool.submit(client.fetch_blob, repo, layer.digest, layer.size)
                for layer in unique
            }
            try:
                return {digest: future.result() for digest, future in futures.items()}
            finally:
                for future in futures.values():
                    future.cancel()
