"""HTTP for the index side: one shared client, an on-disk cache, retries, credentials.

* HTTP/2 where the server offers it (:mod:`muslin.index.http2`: one connection per
  origin, shared by every thread), else one :class:`httpx.Client` over HTTP/1.1
  (kept-alive connections; httpx is imported only then), and a small thread pool for
  parallel page fetches.
* Cache under ``platformdirs.user_cache_dir("muslin")/http`` (``MUSLIN_CACHE_DIR``
  overrides the root) honouring ``Cache-Control`` (``max-age``, ``no-store``,
  ``no-cache``) and revalidating with ``ETag``/``Last-Modified`` (304); a
  response without any ``Cache-Control`` stays fresh for ``default_ttl`` (600 s).
  ``offline``: cache only; ``refresh``: revalidate everything.
* Retries with exponential backoff on 429 (``Retry-After`` honoured, capped),
  5xx, timeouts and connection errors; attempts and total wait are bounded.
* Credentials, in order: URL userinfo, ``MUSLIN_INDEX_<NAME>_USERNAME`` /
  ``MUSLIN_INDEX_<NAME>_PASSWORD`` (registered per index by the finder), then
  ``.netrc`` (``NETRC`` honoured).  They are sent as HTTP basic auth and never
  appear in logs or errors: every URL shown goes through :func:`redact_url`.
* :meth:`HttpClient.download` streams to a temporary file, verifies sha256 and
  renames; verified files are kept in a cache keyed by sha256.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

from muslin.errors import AuthenticationError, HashMismatchError, NetworkError
from muslin.index import tls
from muslin.index.config import redact_url
from muslin.index.credentials import CredentialStore as CredentialStore
from muslin.index.credentials import env_credentials as env_credentials
from muslin.index.credentials import url_origin
from muslin.index.http2 import ACCEPT_ENCODING, Http2Pool, TransportError, TransportTimeout
from muslin.index.httpcache import DEFAULT_TTL, _CacheEntry, _PageCache
from muslin.index.httpcache import _atomic_write as _atomic_write
from muslin.index.httpcache import cache_root as cache_root

log = logging.getLogger(__name__)

USER_AGENT = "muslin"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 20
"""As httpx (and pip's requests) allow."""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PATH_SAFE = "/?&=;:@!$'()*+,~%-._[]"
"""Left as they are in a request target (escapes included); anything else is percent-encoded, as httpx does."""

if TYPE_CHECKING:
    import http.cookiejar

    import httpx


class _Wire(Protocol):
    """A response as it comes in: over HTTP/2 (:class:`muslin.index.http2.Http2Response`) or httpx's."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def url(self) -> object: ...
    def read(self) -> bytes: ...
    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]: ...


def strip_userinfo(url: str) -> str:
    return redact_url(url)


def _env_proxy() -> str | None:
    """The proxy the environment sets for HTTPS (``HTTPS_PROXY``, then ``ALL_PROXY``, any case), if any."""
    for key in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        value = os.environ.get(key, "").strip()
        if value:
            return value
    return None


def http2_enabled() -> bool:
    """HTTP/2 over TLS where the server offers it (:mod:`muslin.index.http2`), unless
    ``MUSLIN_HTTP2=0`` or a proxy is set in the environment (``HTTPS_PROXY``, ``ALL_PROXY``):
    then httpx's HTTP/1.1 transport carries everything, and routes it as configured."""
    return os.environ.get("MUSLIN_HTTP2", "1").strip() != "0" and _env_proxy() is None


def preload(urls: Iterable[str]) -> None:
    """Start loading what the first requests to ``urls`` need on a background thread, while
    the caller does other work (reads the image): the TLS context when one is ``https:``, and
    httpx when one goes over HTTP/1.1 (plain ``http:``, or HTTP/2 off).  See :func:`tls.preload`."""
    schemes = {url.split(":", 1)[0].lower() for url in urls}
    h2 = http2_enabled()
    http11 = "http" in schemes or ("https" in schemes and not h2)
    purposes = [*([""] if "https" in schemes and h2 else []), *([tls.HTTP11 if h2 else ""] if http11 else [])]
    if purposes:
        tls.preload(purposes=tuple(purposes), imports=("httpx",) if http11 else ())


def _no_cookies() -> http.cookiejar.CookieJar:
    """A cookie jar that keeps nothing: an index is read without cookies (uv keeps none
    either), and httpx otherwise copies every response's headers into an ``email``
    message to look for some."""
    import http.cookiejar

    class NoCookies(http.cookiejar.CookieJar):
        def extract_cookies(self, response: Any, request: Any) -> None:
            return None

    return NoCookies()


def _h2_fields(headers: Mapping[str, str], creds: tuple[str, str] | None) -> list[tuple[bytes, bytes]]:
    """An HTTP/2 request's fields: what httpx would send (``User-Agent``, ``Accept``,
    ``Accept-Encoding``), the caller's, and basic auth."""
    given = {k.lower(): v for k, v in headers.items()}
    fields = [(b"user-agent", USER_AGENT.encode())]
    if "accept" not in given:
        fields.append((b"accept", b"*/*"))
    if "accept-encoding" not in given:
        fields.append((b"accept-encoding", ACCEPT_ENCODING))
    fields.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in given.items())
    if creds is not None:
        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")
        fields.append((b"authorization", f"Basic {token}".encode("ascii")))
    return fields


class Response:
    """A fetched resource: a body read in full, or (from the cache) read on first use."""

    __slots__ = ("_cached", "_content", "body_id", "from_cache", "headers", "status", "url")

    def __init__(
        self,
        url: str,
        status: int,
        headers: dict[str, str],
        content: bytes | None,
        from_cache: bool = False,
        body_id: str = "",
        cached: _CacheEntry | None = None,
    ) -> None:
        self.url = url
        """Final URL after redirects, without credentials."""
        self.status = status
        self.headers = headers
        """Lower-cased header names."""
        self._content = content
        self._cached = cached
        """The cache entry ``content`` is read from when it was not given."""
        self.from_cache = from_cache
        self.body_id = body_id
        """Identity of the body (sha256 prefix), stable across cache hits and 304s."""

    @property
    def content(self) -> bytes:
        if self._content is None:
            try:
                self._content = self._cached.read_body() if self._cached is not None else b""
            except OSError:
                self._content = b""
        return self._content

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def file_url_to_path(url: str) -> Path:
    """The local path of a ``file:`` URL (percent-escapes decoded once: ``%2541`` is ``%41``)."""
    parts = urlsplit(url)
    if os.name == "nt":  # drive letters
        from urllib.request import url2pathname

        return Path(url2pathname(parts.path))
    return Path(unquote(parts.path))


def local_path(location: str) -> Path:
    """A local find-links location or file: a ``file:`` URL or a plain path."""
    return file_url_to_path(location) if location.startswith("file:") else Path(location)


@dataclass
class HttpClient:
    """The shared HTTP machinery (thread-safe)."""

    offline: bool = False
    refresh: bool = False
    cache_dir: Path | None = None
    """Root of the HTTP cache; default ``cache_root()/http``."""
    timeout: float = 30.0
    retries: int = 3
    """Retries after the first attempt (so ``retries + 1`` attempts at most)."""
    backoff: float = 0.25
    """First retry delay in seconds; doubles each time."""
    max_retry_wait: float = 10.0
    """Cap on one wait (also on ``Retry-After``)."""
    max_total_wait: float = 30.0
    default_ttl: float = DEFAULT_TTL
    """Freshness of cached responses that carry no ``Cache-Control`` header at all."""
    max_workers: int = 8
    credentials: CredentialStore = field(default_factory=CredentialStore)
    progress: bool | None = None
    """Progress bars on downloads: None = only when stderr is a TTY."""
    verify: bool | str = True

    def __post_init__(self) -> None:
        root = Path(self.cache_dir) if self.cache_dir is not None else cache_root() / "http"
        self.cache_dir = root
        self._pages = _PageCache(root / "pages")
        self._blobs = root / "blobs"
        self._client: httpx.Client | None = None
        self._h2: Http2Pool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0, "cache_hits": 0, "revalidated": 0}

    # -- lifecycle -----------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        """httpx's client, over HTTP/1.1: origins without ``h2``, plain ``http:``, proxies
        (made, and httpx imported, when a request first needs it)."""
        import httpx

        with self._lock:
            if self._client is None:
                # its own TLS context when HTTP/2 is on: httpx sets its ALPN list on the context it is given
                context = tls.context(self.verify, tls.HTTP11 if http2_enabled() else "")
                self._client = httpx.Client(
                    http1=True,
                    http2=False,
                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
                    verify=context,
                    cookies=_no_cookies(),
                    follow_redirects=True,
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                    headers={"User-Agent": USER_AGENT},
                    trust_env=True,
                )
            return self._client

    def _http2(self) -> Http2Pool | None:
        """The HTTP/2 connections (None when HTTP/2 is off)."""
        if not http2_enabled():
            return None
        with self._lock:
            if self._h2 is None:
                self._h2 = Http2Pool(self.tls_context())
            return self._h2

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context of the HTTP/2 connections: made once per process and ``verify`` setting
        (loading a CA bundle takes 20-40 ms: see :mod:`muslin.index.tls`), and inherited by page
        workers forked after it."""
        return tls.context(self.verify)

    @property
    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix="muslin-http"
                )
            return self._executor

    def close(self) -> None:
        # Detach under the lock, wait outside it: fetches still running need the lock to finish.
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            client, self._client = self._client, None
            pool, self._h2 = self._h2, None
        if client is not None:
            client.close()
        if pool is not None:
            pool.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------
    def _wait(self, attempt: int, resp: _Wire | None, waited: float) -> float:
        delay: float = self.backoff * float(2**attempt)
        if resp is not None and resp.status_code == 429:
            retry_after = resp.headers.get("retry-after")
            if retry_after:
                delay = max(delay, _parse_retry_after(retry_after))
        delay = min(delay, self.max_retry_wait, max(0.0, self.max_total_wait - waited))
        if delay > 0:
            time.sleep(delay)
        return delay

    @contextlib.contextmanager
    def _send(
        self,
        url: str,
        headers: Mapping[str, str],
        what: str,
        method: str = "GET",
        preload: bool = True,
    ) -> Iterator[_Wire]:
        """One request with retries; yields a response with a status < 400, or 404.

        ``preload`` reads the body inside the retry loop; otherwise the caller
        streams it and a failure while streaming is a :class:`NetworkError`.
        """
        clean = strip_userinfo(url)
        creds = self.credentials.lookup(url)
        waited = 0.0
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            with self._lock:
                self.stats["requests"] += 1
            try:
                with self._exchange(method, clean, headers, creds) as resp:
                    status = resp.status_code
                    if status in RETRY_STATUSES and not last:
                        resp.read()
                        log.debug("HTTP %s from %s, retrying", status, clean)
                        waited += self._wait(attempt, resp, waited)
                        continue
                    if status in (401, 403):
                        raise AuthenticationError(
                            f"{what}: HTTP {status} from {clean}: credentials "
                            f"{'refused' if creds else 'required'} (use URL userinfo, .netrc or "
                            "MUSLIN_INDEX_<NAME>_USERNAME/_PASSWORD)"
                        )
                    if status >= 400 and status != 404:
                        tries = f" after {attempt + 1} attempts" if attempt else ""
                        raise NetworkError(f"{what}: HTTP {status} from {clean}{tries}")
                    if preload:
                        resp.read()
                        yield resp
                        return
                    try:
                        yield resp
                    except TransportTimeout:
                        raise NetworkError(f"{what}: timed out reading {clean}") from None
                    except TransportError as exc:
                        raise NetworkError(f"{what}: connection lost reading {clean} ({exc.kind})") from None
                    return
            except TransportTimeout:
                if last:
                    raise NetworkError(
                        f"{what}: timed out after {attempts} attempts ({self.timeout:g}s each): {clean}"
                    ) from None
                waited += self._wait(attempt, None, waited)
            except TransportError as exc:
                if last:
                    raise NetworkError(f"{what}: cannot reach {clean} ({exc.kind}) after {attempts} attempts") from None
                waited += self._wait(attempt, None, waited)
        raise NetworkError(f"{what}: no response from {clean}")  # pragma: no cover - loop always returns

    @contextlib.contextmanager
    def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], creds: tuple[str, str] | None
    ) -> Iterator[_Wire]:
        """One request (redirects followed): over HTTP/2 where the origin offers it, else over
        HTTP/1.1 (httpx).  Credentials go to the URL's own origin only, as httpx does on redirects.
        Failures are :class:`TransportError`/:class:`TransportTimeout` either way."""
        origin = url_origin(url)
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                break
            pool = self._http2()  # made (with its TLS context) once an https URL needs it
            if pool is None:
                break
            host, port = parts.hostname, parts.port or 443
            fields = _h2_fields(headers, creds if url_origin(url) == origin else None)
            target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_PATH_SAFE)
            resp = pool.request(
                method, host, port, target.encode("ascii"), fields,
                connect_timeout=min(self.timeout, 10.0), read_timeout=self.timeout, pool_timeout=self.timeout,
            )
            if resp is None:
                break  # the origin does not offer h2: HTTP/1.1 from here on
            resp.url = url
            location = resp.headers.get("location")
            if resp.status_code in _REDIRECTS and location:
                resp.close()
                url = urljoin(url, location)
                continue
            try:
                yield resp
            finally:
                resp.close()
            return
        else:
            raise TransportError(f"more than {MAX_REDIRECTS} redirects", "TooManyRedirects")
        with self._http11(method, url, headers, creds if url_origin(url) == origin else None) as resp1:
            yield resp1

    @contextlib.contextmanager
    def _http11(
        self, method: str, url: str, headers: Mapping[str, str], creds: tuple[str, str] | None
    ) -> Iterator[_Wire]:
        """The request through httpx, its failures turned into ours."""
        import httpx

        auth = httpx.BasicAuth(creds[0], creds[1]) if creds else None
        try:
            with self.client.stream(method, url, headers=dict(headers), auth=auth) as resp:
                yield resp
        except httpx.TimeoutException as exc:
            raise TransportTimeout(str(exc), type(exc).__name__) from None
        except httpx.TransportError as exc:
            raise TransportError(str(exc), type(exc).__name__) from None
        except httpx.TooManyRedirects as exc:
            raise TransportError(str(exc), "TooManyRedirects") from None

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        cache: bool = True,
        what: str = "fetch",
    ) -> Response:
        """GET ``url`` through the cache; 404 comes back as a response, other errors raise."""
        if url.startswith("file:"):
            return self._get_file(url)
        hdrs = dict(headers or {})
        accept = hdrs.get("Accept", "")
        clean = strip_userinfo(url)
        entry = self._pages.load(clean, accept) if cache else None
        if self.offline:
            if entry is None:
                raise NetworkError(f"offline: not in cache: {clean}")
            return self._from_entry(entry)
        if entry is not None and not self.refresh and entry.fresh(time.time(), self.default_ttl):
            with self._lock:
                self.stats["cache_hits"] += 1
            return self._from_entry(entry)
        if entry is not None:
            if "etag" in entry.headers:
                hdrs["If-None-Match"] = entry.headers["etag"]
            if "last-modified" in entry.headers:
                hdrs["If-Modified-Since"] = entry.headers["last-modified"]
        with self._send(url, hdrs, what) as resp:
            if resp.status_code == 304 and entry is not None:
                resp.read()
                headers_304 = {k.lower(): v for k, v in resp.headers.items()}
                try:
                    entry = self._pages.touch(clean, accept, entry, headers_304)
                except OSError as exc:  # the old entry stays as it was: still the same body
                    log.warning("cannot write HTTP cache (%s)", type(exc).__name__)
                with self._lock:
                    self.stats["revalidated"] += 1
                return self._from_entry(entry)
            body = resp.read()
            out = Response(
                url=strip_userinfo(str(resp.url)),
                status=resp.status_code,
                headers={k.lower(): v for k, v in resp.headers.items()},
                content=body,
                body_id=hashlib.sha256(body).hexdigest()[:32],
            )
        if cache and out.status in (200, 404):
            try:
                self._pages.store(clean, accept, out)
            except OSError as exc:
                log.warning("cannot write HTTP cache (%s)", type(exc).__name__)
        return out

    def _from_entry(self, entry: _CacheEntry) -> Response:
        # The body is read when used: a page whose evaluation is cached never needs it.
        resp = Response(entry.url, entry.status, dict(entry.headers), None, True, entry.body_id, entry)
        if not resp.body_id:
            resp.body_id = hashlib.sha256(resp.content).hexdigest()[:32]
        return resp

    def _get_file(self, url: str) -> Response:
        path = file_url_to_path(url)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return Response(url, 404, {}, b"")
        except OSError as exc:
            raise NetworkError(f"cannot read {path} ({type(exc).__name__})") from None
        return Response(url, 200, {}, data)

    def get_range(self, url: str, range_header: str, *, what: str = "fetch") -> Response:
        """GET with a ``Range`` header (never cached): 206 partial, or 200 full body."""
        if self.offline:
            raise NetworkError(f"offline: not in cache: {strip_userinfo(url)}")
        with self._send(url, {"Range": range_header, "Accept-Encoding": "identity"}, what) as resp:
            body = resp.read()
            if resp.status_code == 404:
                raise NetworkError(f"{what}: HTTP 404 from {strip_userinfo(url)}")
            return Response(
                strip_userinfo(str(resp.url)),
                resp.status_code,
                {k.lower(): v for k, v in resp.headers.items()},
                body,
            )

    # -- downloads -----------------------------------------------------------
    def cached_blob(self, sha256: str) -> Path | None:
        """A previously verified download with this sha256, if cached."""
        folder = self._blobs / sha256[:2] / sha256
        if folder.is_dir():
            for item in folder.iterdir():
                if not item.name.startswith(".tmp-"):
                    return item
        return None

    def download(
        self, url: str, sha256: str | None, dest_dir: Path | str, *, filename: str | None = None
    ) -> Path:
        """Stream ``url`` into ``dest_dir``, verify sha256, return the final path.

        With ``sha256=None`` the hash is computed (see :meth:`download_and_hash`).
        A mismatch raises :class:`HashMismatchError` and leaves no file behind.
        """
        path, _digest = self._download(url, sha256, Path(dest_dir), filename)
        return path

    def download_and_hash(self, url: str, *, filename: str | None = None) -> tuple[Path, str]:
        """Download into the blob cache without a known hash; return (path, sha256)."""
        staging = self._blobs / "staging"
        path, digest = self._download(url, None, staging, filename)
        final_dir = self._blobs / digest[:2] / digest
        final_dir.mkdir(parents=True, exist_ok=True)
        final = final_dir / path.name
        os.replace(path, final)
        return final, digest

    def _download(
        self, url: str, sha256: str | None, dest_dir: Path, filename: str | None
    ) -> tuple[Path, str]:
        clean = strip_userinfo(url)
        name = filename or unquote(urlsplit(clean).path.rsplit("/", 1)[-1]) or "download"
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / name
        expected = sha256.lower() if sha256 else None
        if expected:
            cached = self.cached_blob(expected)
            if cached is not None:
                if cached.resolve() != dest.resolve():
                    _copy_atomic(cached, dest)
                return dest, expected
        if url.startswith("file:"):
            src = file_url_to_path(url)
            if not src.is_file():
                raise NetworkError(f"download: no such file: {src}")
            fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".tmp-")
            try:
                h = hashlib.sha256()
                with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                    for chunk in iter(lambda: fin.read(1 << 20), b""):
                        h.update(chunk)
                        fout.write(chunk)
                self._finish(tmp, dest, h.hexdigest(), expected, name, clean)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return dest, h.hexdigest()
        if self.offline:
            raise NetworkError(f"offline: not in cache: {clean}")
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".tmp-")
        try:
            h = hashlib.sha256()
            with (
                os.fdopen(fd, "wb") as fout,
                self._send(url, {}, f"download {name}", preload=False) as resp,
            ):
                if resp.status_code == 404:
                    raise NetworkError(f"download {name}: HTTP 404 from {clean}")
                total = int(resp.headers.get("content-length") or 0)
                with self._progress(name, total) as advance:
                    for chunk in resp.iter_bytes(1 << 16):
                        h.update(chunk)
                        fout.write(chunk)
                        advance(len(chunk))
            digest = h.hexdigest()
            self._finish(tmp, dest, digest, expected, name, clean)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if expected:
            self._remember_blob(dest, digest)
        return dest, digest

    def _finish(
        self, tmp: str, dest: Path, digest: str, expected: str | None, name: str, url: str
    ) -> None:
        if expected is not None and digest != expected:
            raise HashMismatchError(
                f"hash mismatch for {name} from {url}: expected sha256:{expected}, got sha256:{digest}"
            )
        os.replace(tmp, dest)

    def _remember_blob(self, path: Path, digest: str) -> None:
        folder = self._blobs / digest[:2] / digest
        target = folder / path.name
        if target.exists():
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _copy_atomic(path, target)
        except OSError as exc:
            log.warning("cannot cache download (%s)", type(exc).__name__)

    @contextlib.contextmanager
    def _progress(self, name: str, total: int) -> Iterator[Any]:
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        if not show or total < (1 << 20):
            yield lambda n: None
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(name, total=total)
            yield lambda n: bar.advance(task, n)


def _copy_atomic(src: Path, dest: Path) -> None:
    """Hard-link (same filesystem) or copy ``src`` to ``dest`` through a temporary name."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    os.close(fd)
    try:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _parse_retry_after(value: str) -> float:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        import email.utils

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())
