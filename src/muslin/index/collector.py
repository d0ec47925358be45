"""Collect the files an index offers for one project.

Simple indexes: PEP 691 JSON is asked for first, PEP 503 HTML is the fallback
(``data-requires-python``, ``data-yanked``, PEP 658/714 metadata attributes,
``#sha256=`` fragments, relative links and ``<base href>``).  Find-links: a flat
HTML page or a local directory.  A page that cannot be parsed is a
:class:`NetworkError` naming the index and project.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload
from urllib.parse import unquote, urljoin

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from muslin.errors import NetworkError
from muslin.index.config import IndexConfig, redact_url
from muslin.index.http import HttpClient, Response, local_path, strip_userinfo

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class IndexFile:
    """One file link on a project page."""

    filename: str
    url: str
    """Absolute URL without fragment or credentials."""
    sha256: str | None
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    metadata: bool = False
    """PEP 658/714: ``<url>.metadata`` is available."""
    metadata_sha256: str | None = None
    size: int | None = None

    @property
    def metadata_url(self) -> str | None:
        return self.url + ".metadata" if self.metadata else None


@dataclass(frozen=True)
class ProjectPage:
    """What one index says about one project."""

    index: str
    name: NormalizedName
    url: str
    """Page URL, redacted."""
    found: bool
    """False when the index does not list the project (404)."""
    files: tuple[IndexFile, ...] = ()
    from_cache: bool = False


def project_of(filename: str) -> NormalizedName | None:
    """The project a distribution filename belongs to, or None if unparseable."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _unreadable(index: str, name: str) -> NetworkError:
    return NetworkError(f"index {index} returned an unreadable page for {name}")


@functools.cache
def _link_parser() -> type[Any]:
    """The PEP 503 link parser class (``html.parser`` is imported by the first HTML page:
    its regular expressions cost ~9 ms of start-up that a JSON-only plan never needs)."""
    from html.parser import HTMLParser

    class _LinkParser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.base: str | None = None
            self.links: list[dict[str, str | None]] = []
            self.tags_seen = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags_seen += 1
            if tag == "base" and self.base is None:
                for key, value in attrs:
                    if key == "href" and value:
                        self.base = value
            elif tag == "a":
                self.links.append(dict(attrs))

    return _LinkParser


def _metadata_attr(value: Any) -> tuple[bool, str | None]:
    """PEP 658/714 value (``true``, ``sha256=...``, JSON bool or dict) -> (available, sha256)."""
    if value is None or value is False:
        return False, None
    if value is True:
        return True, None
    if isinstance(value, dict):
        sha = value.get("sha256")
        return True, str(sha).lower() if sha else None
    text = str(value).strip()
    if text.lower() in ("", "false"):
        return False, None
    algo, sep, digest = text.partition("=")
    if sep and algo.lower() == "sha256":
        return True, digest.lower()
    return True, None


class _Resolver:
    """``urljoin`` against one page URL, memoised per link directory (pages have thousands of links)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._dirs: dict[str, str] = {}

    def __call__(self, href: str) -> tuple[str, dict[str, str]]:
        """Absolute URL without fragment/credentials, and the fragment's hashes."""
        hashes: dict[str, str] = {}
        link, sep, fragment = href.partition("#")
        if sep and fragment:
            algo, eq, value = fragment.partition("=")
            if eq and value:
                hashes[algo.lower()] = value.lower()
        if link.startswith(("https://", "http://")) and "@" not in link:
            return link, hashes
        if "?" in link or "@" in link or ("/" not in link.rstrip("/") and link.startswith("..")):
            return strip_userinfo(urljoin(self.base, link)), hashes
        head, slash, tail = link.rpartition("/")
        key = head + slash
        joined = self._dirs.get(key)
        if joined is None:
            joined = strip_userinfo(urljoin(self.base, key or "./"))
            if not joined.endswith("/"):
                joined = joined.rpartition("/")[0] + "/"
            self._dirs[key] = joined
        return joined + tail, hashes


def parse_html(content: bytes, page_url: str, index: str, name: str) -> list[IndexFile]:
    """Parse a PEP 503 page (or a flat find-links page) into files."""
    if b"\x00" in content:
        raise _unreadable(index, name)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise _unreadable(index, name) from None
    import html

    parser = _link_parser()()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some junk
        raise _unreadable(index, name) from None
    if parser.tags_seen == 0 and text.strip():
        raise _unreadable(index, name)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    resolve = _Resolver(base)
    files: list[IndexFile] = []
    for attrs in parser.links:
        href = attrs.get("href")
        if not href:
            continue
        url, hashes = resolve(href)
        filename = unquote(url.rpartition("/")[2].partition("?")[0])
        if not filename:
            continue
        rp = attrs.get("data-requires-python")
        rp = html.unescape(rp).strip() or None if rp is not None else None
        yanked = "data-yanked" in attrs
        reason = attrs.get("data-yanked") or None
        meta_value = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
        has_meta, meta_sha = (
            _metadata_attr(meta_value if meta_value is not None else "true")
            if ("data-core-metadata" in attrs or "data-dist-info-metadata" in attrs)
            else (False, None)
        )
        files.append(
            IndexFile(
                filename=filename,
                url=url,
                sha256=hashes.get("sha256"),
                requires_python=rp,
                yanked=yanked,
                yanked_reason=reason,
                metadata=has_meta,
                metadata_sha256=meta_sha,
            )
        )
    return files


def _json_file(entry: Any, filename: str, resolve: _Resolver) -> IndexFile:
    """One PEP 691 file entry (``filename`` already read from it) as an :class:`IndexFile`."""
    url = resolve(str(entry["url"]))[0]
    hashes = entry.get("hashes") or {}
    yanked_value = entry.get("yanked", False)
    meta_value = entry.get("core-metadata", entry.get("dist-info-metadata"))
    has_meta, meta_sha = _metadata_attr(meta_value)
    rp = entry.get("requires-python")
    size = entry.get("size")
    return IndexFile(
        filename=filename,
        url=url,
        sha256=str(hashes["sha256"]).lower() if hashes.get("sha256") else None,
        requires_python=str(rp).strip() or None if rp else None,
        yanked=bool(yanked_value),
        yanked_reason=yanked_value if isinstance(yanked_value, str) and yanked_value else None,
        metadata=has_meta,
        metadata_sha256=meta_sha,
        size=int(size) if isinstance(size, int) else None,
    )


def parse_json(content: bytes, page_url: str, index: str, name: str) -> list[IndexFile]:
    """Parse a PEP 691 project page into files."""
    files = parse_json_deferred(content, page_url, index, name, None)
    return [f for f in files if isinstance(f, IndexFile)]


def parse_json_deferred(
    content: bytes, page_url: str, index: str, name: str, defer: Callable[[str], bool] | None
) -> list[IndexFile | str]:
    """Parse a PEP 691 page; files whose name ``defer`` accepts stay bare file names (big pages).

    Deferred entries are still checked enough that a malformed page is rejected as before.
    """
    try:
        doc = json.loads(content)
        raw_files = doc["files"]
        if not isinstance(raw_files, list):
            raise TypeError
        resolve = _Resolver(page_url)
        files: list[IndexFile | str] = []
        for entry in raw_files:
            filename = str(entry["filename"])
            if defer is not None and defer(filename):
                str(entry["url"])
                hashes = entry.get("hashes")
                if hashes and not isinstance(hashes, dict):
                    raise TypeError
                files.append(filename)
                continue
            files.append(_json_file(entry, filename, resolve))
        return files
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _unreadable(index, name) from None


_FILENAME = re.compile(r'"filename"\s*:\s*"([^"\\]*)"')
_FILENAME_PYPI = re.compile(r'"filename": "([^"\\]*)"')
""":data:`_FILENAME` with the spacing PyPI writes: found in half the time."""
_DECODER = json.JSONDecoder()
_ENTRY_BREAKS = ("}, {", "},{")


class DeferredNames(Sequence[str]):
    """The file names a page scan left unread, in page order, listed from the page on first use."""

    __slots__ = ("_count", "_kept", "_names", "_text")

    def __init__(self, text: str | Callable[[], str], kept: frozenset[int], count: int) -> None:
        self._text = text
        """The page, or how to read it again (a cached page is read only when its names are needed)."""
        self._kept = kept
        """Offsets of the ``"filename"`` keys of entries that were read."""
        self._count = count
        self._names: list[str] | None = None

    @property
    def kept(self) -> frozenset[int]:
        return self._kept

    @property
    def size(self) -> int:
        """How many names there are, counted without listing them."""
        return self._count if self._names is None else len(self._names)

    def _all(self) -> list[str]:
        if self._names is None:
            kept = self._kept
            text = self._text if isinstance(self._text, str) else self._text()
            self._names = [m.group(1) for m in _FILENAME.finditer(text) if m.start() not in kept]
            self._text = ""
        return self._names

    def __bool__(self) -> bool:
        return self._count > 0 if self._names is None else bool(self._names)

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        return self._all()[i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())


Located = tuple[str, int]
"""A file of a PEP 691 page found by :func:`scan_json`: its name, and where its ``"filename"`` key is."""


class JsonEntries:
    """Decodes chosen file entries of a PEP 691 page, each on its own (see :func:`scan_json`).

    Each entry is decoded from the break before its ``"filename"`` key and must name the
    file it was found for.  If one does not (an unusual layout), the page is parsed whole
    once, which also validates it, and files are taken from there by name: an unreadable
    page is then a :class:`NetworkError`, as for any page.
    """

    def __init__(self, text: str | Callable[[], str], page_url: str, index: str, name: str) -> None:
        self._text = text
        """The page, or how to read it (a cached page is read only when an entry is needed)."""
        self._page_url = page_url
        self._index = index
        self._name = name
        self._resolve = _Resolver(page_url)
        self._whole: dict[str, IndexFile] | None = None
        self._lock = threading.Lock()

    def text(self) -> str:
        with self._lock:
            if not isinstance(self._text, str):
                self._text = self._text()
            return self._text

    def read(self, located: Iterable[Located]) -> list[IndexFile]:
        """The files at ``located``, in that order."""
        text = self.text()
        files: list[IndexFile] = []
        for filename, key in located:
            file = self._read_one(text, filename, key) if self._whole is None else None
            if file is None:
                file = self._from_whole(filename)
            if file is not None:
                files.append(file)
        return files

    def _read_one(self, text: str, filename: str, key: int) -> IndexFile | None:
        previous = text.rfind('"filename"', 0, key)
        start = max(text.rfind(b, max(previous, 0), key) for b in _ENTRY_BREAKS)
        if start >= 0:
            start = text.find("{", start + 1)
        elif previous < 0:
            start = text.rfind("[", 0, key) + 1
        if start <= 0:
            return None
        try:
            entry, end = _DECODER.raw_decode(text, start)
            if not isinstance(entry, dict) or entry.get("filename") != filename or end <= key:
                return None
            return _json_file(entry, filename, self._resolve)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def _from_whole(self, filename: str) -> IndexFile | None:
        """``filename``'s entry from the whole page, parsed once (None: no such file)."""
        with self._lock:
            if self._whole is None:
                text = self._text if isinstance(self._text, str) else self._text()
                files = parse_json(text.encode("utf-8"), self._page_url, self._index, self._name)
                whole: dict[str, IndexFile] = {}
                for f in files:
                    whole.setdefault(f.filename, f)
                self._whole = whole
            return self._whole.get(filename)


@dataclass(frozen=True)
class ScannedPage:
    """A PEP 691 page as :func:`scan_json` leaves it: kept files located, the others listed on demand."""

    kept: list[Located]
    """The files ``defer`` kept, in page order, not decoded yet."""
    more: DeferredNames
    """The files it deferred."""
    entries: JsonEntries
    """Decodes kept files when asked."""


def scan_json(
    content: bytes, page_url: str, defer: Callable[[str], bool], index: str = "", name: str = ""
) -> ScannedPage | None:
    """Scan a PEP 691 page without decoding it: where the entries are whose name ``defer`` keeps.

    File names are listed with one regular-expression pass; each kept name's ``"filename"``
    key is then located (not decoded: :class:`JsonEntries` decodes the entries asked for).
    None when the page does not have the plain shape this relies on (not one line, escapes in
    a file name, unusual spacing, a kept name listed twice, no kept entry at all): the caller
    then parses it whole, which also validates it.
    """
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")) or '"files"' not in text or "\n" in body:
        return None
    keys = text.count('"filename"')
    names = _FILENAME_PYPI.findall(text)
    if len(names) != keys:  # other spacing, or a name with escapes
        names = _FILENAME.findall(text)
        if len(names) != keys:  # a name with escapes
            return None
    kept: list[Located] = []
    seen: set[str] = set()
    after = 0
    for filename in names:
        if defer(filename):
            continue
        at = text.find(f'"{filename}"', after)  # the value; inside URLs the name follows a "/"
        key = text.rfind('"filename"', after, at)
        if at < 0 or key < 0 or text[key + 10 : at].strip() != ":" or filename in seen:
            return None
        seen.add(filename)
        kept.append((filename, key))
        after = at + len(filename) + 2
    if not kept:
        return None
    more = DeferredNames(text, frozenset(k for _f, k in kept), len(names) - len(kept))
    return ScannedPage(kept, more, JsonEntries(text, page_url, index, name))


@dataclass
class Collector:
    """Fetches and parses project pages (thread-safe)."""

    http: HttpClient
    _flat: dict[str, list[IndexFile]] = field(default_factory=dict)
    fetched: dict[tuple[str, str], str] = field(default_factory=dict)
    """(URL, Accept) -> body id of every remote find-links page read."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def project_page(self, index: IndexConfig, name: str) -> ProjectPage:
        """The files ``index`` offers for ``name`` (``found=False`` when it does not list it)."""
        canonical = canonicalize_name(name)
        if index.kind == "find-links":
            return self._find_links(index, canonical)
        return self.parse_page(index, canonical, self.fetch_page(index, canonical))

    def page_url(self, index: IndexConfig, name: str) -> str:
        return index.url.rstrip("/") + f"/{canonicalize_name(name)}/"

    def fetch_page(self, index: IndexConfig, name: str) -> Response:
        """The raw project page response of a simple index (404 = not listed)."""
        return self.http.get(
            self.page_url(index, name), headers={"Accept": ACCEPT}, what=f"index {index.name}"
        )

    def base_url(self, index: IndexConfig, name: str, resp: Response) -> str:
        """What relative links on a fetched page are resolved against."""
        return resp.url if resp.url.startswith(("http:", "https:", "file:")) else redact_url(self.page_url(index, name))

    def parse_page_deferred(
        self, index: IndexConfig, name: str, resp: Response, defer: Callable[[str], bool]
    ) -> tuple[bool, list[IndexFile | str] | ScannedPage]:
        """(listed, files) of a fetched page.

        Files ``defer`` accepts are left as bare names in ``files``; a PEP 691 page that
        :func:`scan_json` can read is returned as a :class:`ScannedPage` instead.
        """
        if resp.status == 404:
            return False, []
        canonical = canonicalize_name(name)
        base = self.base_url(index, name, resp)
        if resp.content_type == JSON_TYPE:
            scanned = scan_json(resp.content, base, defer, index.name, canonical)
            if scanned is not None:
                return True, scanned
            return True, parse_json_deferred(resp.content, base, index.name, canonical, defer)
        files = parse_html(resp.content, base, index.name, canonical)
        return True, [f.filename if defer(f.filename) else f for f in files]

    def parse_page(self, index: IndexConfig, name: str, resp: Response) -> ProjectPage:
        canonical = canonicalize_name(name)
        shown = redact_url(self.page_url(index, name))
        if resp.status == 404:
            return ProjectPage(index.name, canonical, shown, False, (), resp.from_cache)
        base = self.base_url(index, name, resp)
        if resp.content_type == JSON_TYPE:
            files = parse_json(resp.content, base, index.name, canonical)
        else:
            files = parse_html(resp.content, base, index.name, canonical)
        return ProjectPage(index.name, canonical, shown, True, tuple(files), resp.from_cache)

    # -- find-links ----------------------------------------------------------
    def _find_links(self, index: IndexConfig, name: NormalizedName) -> ProjectPage:
        files = [f for f in self._flat_files(index) if project_of(f.filename) == name]
        return ProjectPage(index.name, name, index.redacted_url, bool(files), tuple(files))

    def _flat_files(self, index: IndexConfig) -> list[IndexFile]:
        with self._lock:
            cached = self._flat.get(index.name)
        if cached is not None:
            return cached
        location = index.url
        if location.startswith("file:") or "://" not in location:
            path = local_path(location)
            files = self._local_dir(index, path)
        else:
            resp = self.http.get(location, headers={"Accept": "text/html"}, what=f"find-links {index.name}")
            with self._lock:
                self.fetched[(strip_userinfo(location), "text/html")] = resp.body_id
            if resp.status == 404:
                raise NetworkError(f"find-links {index.name}: HTTP 404 from {index.redacted_url}")
            files = parse_html(resp.content, resp.url, index.name, "its file list")
        with self._lock:
            self._flat[index.name] = files
        return files

    def _local_dir(self, index: IndexConfig, path: Path) -> list[IndexFile]:
        if path.is_file() and path.suffix in (".html", ".htm"):
            return parse_html(path.read_bytes(), path.resolve().as_uri(), index.name, "its file list")
        if not path.is_dir():
            raise NetworkError(f"find-links {index.name}: no such directory: {path}")
        files = []
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if not entry.is_file() or project_of(entry.name) is None:
                continue
            p = Path(entry.path).resolve()
            files.append(
                IndexFile(
                    filename=entry.name,
                    url=p.as_uri(),
                    sha256=_sha256_file(p),
                    size=entry.stat().st_size,
                )
            )
        return files


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
