"""An OCI distribution API client (``/v2/``) on httpx: manifests, blobs, auth, retries.

HTTPS with certificate verification by default; plain HTTP only for loopback
registries (``127.0.0.0/8``, ``::1``, ``localhost``), tried after HTTPS fails
to connect.  429, 5xx, timeouts and connection errors are retried a bounded
number of times with exponential backoff.  Blobs are streamed into the
:class:`~muslin.image.registry.cache.BlobCache` and verified on the way.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from muslin import __version__
from muslin.errors import (
    AuthenticationError,
    CorruptImageError,
    ImageNotFoundError,
    MuslinError,
    NetworkError,
    UnsupportedImageError,
)
from muslin.image.manifest import ACCEPT
from muslin.image.reference import is_loopback_registry
from muslin.image.registry.auth import (
    Challenge,
    basic_authorization,
    fetch_bearer_token,
    parse_www_authenticate,
)
from muslin.image.registry.cache import BlobCache, RefRecord, digest_bytes, split_digest
from muslin.image.registry.credentials import CredentialProvider, Credentials

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_SMALL_BLOB_BYTES = 64 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0
CHUNK = 1 << 20


def _tls_failure(exc: BaseException) -> str | None:
    """The reason if ``exc`` was caused by a certificate verification failure, else None."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or "certificate rejected"
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest or index exactly as served, with the digest of those bytes."""

    data: bytes
    media_type: str | None
    digest: str


class RegistryClient:
    """One registry host.  Once a first request chose the scheme, threads may share it."""

    def __init__(
        self,
        host: str,
        *,
        display_host: str | None = None,
        credentials: CredentialProvider | None = None,
        cache: BlobCache | None = None,
        offline: bool = False,
        timeout: float = 60.0,
        attempts: int = 4,
        backoff: float = 0.5,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.host = host
        self.display_host = display_host or host
        self.cache = cache if cache is not None else BlobCache()
        self.offline = offline
        self._credentials = credentials or (lambda: None)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._authz: dict[str, str] = {}
        self._scheme: str | None = None if is_loopback_registry(host) else "https"
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            follow_redirects=True,
            verify=verify,
            headers={"User-Agent": f"muslin/{__version__}"},
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------------

    def _base(self) -> str:
        if self._scheme is None:
            self._scheme = self._probe_scheme()
        return f"{self._scheme}://{self.host}"

    def _probe_scheme(self) -> str:
        """Loopback only: HTTPS if a TLS server answers (even with an untrusted certificate), else HTTP."""
        try:
            self._http.get(f"https://{self.host}/v2/", timeout=5.0).close()
        except httpx.TransportError as exc:
            return "https" if _tls_failure(exc) is not None else "http"
        return "https"

    def _sleep(self, attempt: int, response: httpx.Response | None) -> None:
        delay = self._backoff * (2**attempt)
        if response is not None:
            retry_after = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
        time.sleep(delay)

    def send(self, request: httpx.Request, stream: bool = False) -> httpx.Response:
        """Send with bounded retries on 429/5xx/timeouts/connection errors; never raises on status."""
        reason = ""
        for attempt in range(self._attempts):
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TimeoutException:
                reason = "timed out"
            except httpx.TransportError as exc:
                tls = _tls_failure(exc)
                if tls is not None:
                    raise NetworkError(
                        f"{request.url.host}: TLS certificate verification failed ({tls})"
                    ) from None
                reason = f"connection failed ({type(exc).__name__})"
                if _unknown_host(exc):
                    raise NetworkError(f"{request.url.host}: cannot resolve host name") from None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                reason = f"HTTP {response.status_code}"
                response.close()
                if attempt + 1 < self._attempts:
                    self._sleep(attempt, response)
                continue
            if attempt + 1 < self._attempts:
                self._sleep(attempt, None)
        where = f"{request.url.host}:{request.url.port}" if request.url.port else request.url.host
        raise NetworkError(
            f"{where}: {reason} after {self._attempts} attempts ({request.method} {request.url.path})"
        )

    # -- authentication ------------------------------------------------------------

    def _authorizations(self, challenges: list[Challenge], scope: str) -> Iterator[tuple[str, bool]]:
        """Authorization values to try in order: (value, used credentials)."""
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is None and basic is None:
            schemes = ", ".join(c.scheme for c in challenges) or "none"
            raise AuthenticationError(f"{self.display_host}: unsupported authentication scheme ({schemes})")
        if bearer is not None:
            anonymous: str | None = None
            with contextlib.suppress(AuthenticationError):
                anonymous = fetch_bearer_token(self.send, bearer, scope, None, self.display_host)
            if anonymous is not None:
                yield anonymous, False
        credentials = self._credentials()
        if credentials is None:
            return
        if bearer is not None:
            yield fetch_bearer_token(self.send, bearer, scope, credentials, self.display_host), True
        else:
            yield basic_authorization(credentials), True

    def _request(self, url: str, scope: str, headers: dict[str, str], stream: bool, what: str) -> httpx.Response:
        """GET ``url``, answering auth challenges; returns any non-401/403 response."""
        authz = self._authz.get(scope)
        response = self.send(self._build(url, headers, authz), stream)
        if response.status_code not in (401, 403):
            return response
        challenges = parse_www_authenticate(", ".join(response.headers.get_list("www-authenticate")))
        status = response.status_code
        response.close()
        if not challenges:
            raise AuthenticationError(f"access denied to {what} (HTTP {status})")
        used_credentials = False
        for value, with_credentials in self._authorizations(challenges, scope):
            used_credentials = used_credentials or with_credentials
            response = self.send(self._build(url, headers, value), stream)
            status = response.status_code
            if status not in (401, 403):
                self._authz[scope] = value
                return response
            response.close()
        credentials: Credentials | None = self._credentials()
        if used_credentials and credentials is not None:
            raise AuthenticationError(
                f"access denied to {what} (HTTP {status}): the registry refused the credentials "
                f"from {credentials.source}"
            )
        raise AuthenticationError(
            f"authentication required for {what} (HTTP {status}): no credentials found "
            f"(docker login {self.display_host}, or set MUSLIN_REGISTRY_USERNAME and "
            "MUSLIN_REGISTRY_PASSWORD)"
        )

    @staticmethod
    def _build(url: str, headers: dict[str, str], authz: str | None) -> httpx.Request:
        all_headers = dict(headers)
        if authz is not None:
            all_headers["Authorization"] = authz
        return httpx.Request("GET", url, headers=all_headers)

    def _fail(self, response: httpx.Response, what: str, not_found: str) -> MuslinError:
        status = response.status_code
        response.close()
        if status == 404:
            return ImageNotFoundError(not_found)
        return NetworkError(f"{self.display_host}: HTTP {status} for {what}")

    # -- manifests -----------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> FetchedManifest:
        """The manifest/index for a tag or digest; digest-pinned ones are verified (and cached)."""
        by_digest = ":" in reference
        shown = f"{self.display_host}/{repository}{'@' if by_digest else ':'}{reference}"
        if by_digest:
            split_digest(reference)
            cached = self.cache.read(reference)
            if cached is not None:
                return FetchedManifest(cached, self._media_type_of(cached, None), reference)
        if self.offline:
            record = self.cache.load_ref(shown)
            data = self.cache.read(record.digest) if record is not None else None
            if record is None or data is None:
                raise NetworkError(f"offline and not cached: {shown}")
            return FetchedManifest(data, self._media_type_of(data, record.media_type), record.digest)
        url = f"{self._base()}/v2/{repository}/manifests/{reference}"
        headers = {"Accept": ACCEPT}
        response = self._request(url, f"repository:{repository}:pull", headers, True, shown)
        if response.status_code != 200:
            raise self._fail(response, shown, f"manifest unknown: {shown}")
        try:
            data = self._read_limited(response, MAX_MANIFEST_BYTES, f"manifest {shown}")
        finally:
            response.close()
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip() or None
        if by_digest:
            algorithm, _ = split_digest(reference)
            actual = digest_bytes(data, algorithm)
            if actual != reference:
                raise CorruptImageError(f"manifest {shown}: digest mismatch (got {actual})")
            digest = reference
        else:
            digest = digest_bytes(data)
            served = response.headers.get("docker-content-digest", "")
            if served.startswith("sha256:") and served != digest:
                raise CorruptImageError(
                    f"manifest {shown}: content digest {digest} differs from the registry's {served}"
                )
        media_type = self._media_type_of(data, content_type)
        if media_type is not None and media_type.startswith("application/vnd.docker.distribution.manifest.v1"):
            raise UnsupportedImageError(f"manifest {shown}: Docker schema 1 manifests are not supported")
        self.cache.put_bytes(digest, data, f"manifest {shown}")
        if not by_digest:
            self.cache.save_ref(RefRecord(shown, digest, media_type))
        return FetchedManifest(data, media_type, digest)

    @staticmethod
    def _media_type_of(data: bytes, fallback: str | None) -> str | None:
        """The ``mediaType`` field of the JSON if present, else ``fallback``."""
        try:
            value = json.loads(data).get("mediaType")
        except (ValueError, AttributeError):
            return fallback
        return value if isinstance(value, str) and value else fallback

    @staticmethod
    def _read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise UnsupportedImageError(f"{what}: larger than {limit} bytes")
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise NetworkError(f"{what}: transfer failed ({type(exc).__name__})") from None
        return b"".join(chunks)

    # -- blobs -----------------------------------------------------------------------

    def fetch_blob(self, repository: str, digest: str, size: int | None = None) -> Path:
        """The verified blob in the cache, downloading it if needed (bounded retries)."""
        cached = self.cache.get(digest, size)
        if cached is not None:
            return cached
        shown = f"{self.display_host}/{repository}@{digest}"
        if self.offline:
            raise NetworkError(f"offline and not cached: blob {shown}")
        url = f"{self._base()}/v2/{repository}/blobs/{digest}"
        headers = {"Accept-Encoding": "identity"}
        reason = ""
        for attempt in range(self._attempts):
            response = self._request(url, f"repository:{repository}:pull", headers, True, shown)
            if response.status_code != 200:
                raise self._fail(response, f"blob {shown}", f"blob unknown: {shown}")
            try:
                return self.cache.put_stream(digest, response.iter_bytes(CHUNK), f"blob {shown}", size)
            except httpx.TimeoutException:
                reason = "timed out"
            except httpx.TransportError as exc:
                reason = f"transfer failed ({type(exc).__name__})"
            finally:
                response.close()
            if attempt + 1 < self._attempts:
                self._sleep(attempt, None)
        raise NetworkError(f"blob {shown}: {reason} after {self._attempts} attempts")

    def read_blob(self, repository: str, digest: str, size: int | None = None) -> bytes:
        """A small blob (an image config) as bytes, verified and cached."""
        if size is not None and size > MAX_SMALL_BLOB_BYTES:
            raise UnsupportedImageError(f"blob {digest}: {size} bytes is too large for a config")
        path = self.fetch_blob(repository, digest, size)
        data = path.read_bytes()
        if digest_bytes(data, split_digest(digest)[0]) != digest:
            path.unlink(missing_ok=True)
            raise CorruptImageError(f"blob {self.display_host}/{repository}@{digest}: cached copy is corrupt")
        return data


def _unknown_host(exc: BaseException) -> bool:
    """True when the name does not resolve at all (EAI_NONAME): retrying cannot help.

    A temporary resolver failure (EAI_AGAIN) is still retried.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return seen.errno == socket.EAI_NONAME
        seen = seen.__cause__ or seen.__context__
    return False
