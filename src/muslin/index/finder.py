"""The finder: which index owns a name, which of its wheels fit, and their metadata.

``PackageFinder`` implements :class:`muslin.index.candidate.Finder`:

* index pins (``IndexPin``, markers evaluated against the target) restrict a
  name to one index, for transitive dependencies too;
* ``first-index``: non-explicit indexes in priority order, the first whose
  project page exists owns the name; ``unsafe-best-match``: all are merged, newest
  version first; ``unsafe-first-match``: all are merged, the first index's versions first;
  find-links locations are always merged in;
* :meth:`PackageFinder.metadata` reads METADATA through PEP 658/714 files, else
  HTTP range requests on the wheel (a host that ignores ``Range`` is
  remembered), else a full download; results are cached on disk by sha256;
* a scanned PEP 691 page's fitting files are grouped by version: the newest
  :data:`HEAD_RELEASES` usable releases are evaluated at once, older versions
  only when a resolver reads that far (:class:`LazyCandidates`);
* each project page, once evaluated for the target, is kept on disk keyed by
  the page body and the target, so a warm re-plan skips parsing thousands of
  file entries.

Candidates of indexes that publish no hashes carry ``sha256 == ""``:
:meth:`PackageFinder.with_hash` fills it (downloading the file once) and the
planner must call it for every chosen candidate.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from email.parser import HeaderParser
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, overload
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from muslin.errors import HashMismatchError, NetworkError, UsageError
from muslin.index import tls
from muslin.index.candidate import (
    Candidate,
    CandidateMetadata,
    CandidateSet,
    LazyCandidates,
    Rejection,
    WorkOut,
)
from muslin.index.collector import (
    ACCEPT,
    Collector,
    DeferredNames,
    IndexFile,
    JsonEntries,
    Located,
    ScannedPage,
)
from muslin.index.config import IndexConfig, IndexSettings, IndexStrategy, redact_url
from muslin.index.evaluator import Evaluator, NameFilter, sort_candidates
from muslin.index.http import (
    HttpClient,
    _atomic_write,
    env_credentials,
    local_path,
    strip_userinfo,
)
from muslin.index.httpcache import path_fingerprint
from muslin.index.metacache import MetadataCache
from muslin.index.wheelmeta import TAIL_BYTES, metadata_from_ranges, metadata_from_zip
from muslin.plan.model import Artifact
from muslin.target.target import Target

if TYPE_CHECKING:
    from muslin.index.warmer import PageWarmer

log = logging.getLogger(__name__)

FETCH_WORKERS = 8
"""Parallel page fetches (each also parses its page): a plan of 100 packages has ~100 pages."""
_DERIVED_FORMAT = 4
_SEP = "\x00"
HEAD_RELEASES = 2
"""Final releases with a usable wheel worked out at once on a scanned page; older versions
wait until a resolver reads that far (see :class:`LazyCandidates`)."""


RejectionSlot = Rejection | str
"""A rejection, or the bare file name of one still to be worked out (see :class:`_Rejections`)."""


class _Rejections(Sequence[Rejection]):
    """Rejections worked out on first use.

    Project pages list thousands of files that cannot fit the target (sdists,
    other platforms); telling why is only needed to explain a failure, so
    those files stay bare names until then.  Order is the page's file order.
    """

    __slots__ = ("_items", "_parts")

    def __init__(self, parts: Iterable[tuple[Sequence[RejectionSlot], Callable[[str], Rejection]]]) -> None:
        self._parts = [(slots, make) for slots, make in parts if slots]
        self._items: tuple[Rejection, ...] | None = None

    @classmethod
    def concat(cls, seqs: Iterable[Sequence[Rejection]]) -> _Rejections:
        parts: list[tuple[Sequence[RejectionSlot], Callable[[str], Rejection]]] = []
        for seq in seqs:
            if isinstance(seq, _Rejections):
                parts.extend(seq._parts)
            else:
                parts.append((tuple(seq), _no_make))
        return cls(parts)

    def _all(self) -> tuple[Rejection, ...]:
        if self._items is None:
            self._items = tuple(
                make(slot) if isinstance(slot, str) else slot for slots, make in self._parts for slot in slots
            )
        return self._items

    @property
    def parts(self) -> list[tuple[Sequence[RejectionSlot], Callable[[str], Rejection]]]:
        return list(self._parts)

    def __len__(self) -> int:
        return sum(len(slots) for slots, _make in self._parts)

    def __bool__(self) -> bool:
        return bool(self._parts)

    @overload
    def __getitem__(self, i: int) -> Rejection: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Rejection, ...]: ...
    def __getitem__(self, i: int | slice) -> Rejection | tuple[Rejection, ...]:
        return self._all()[i]

    def __iter__(self) -> Iterator[Rejection]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"_Rejections({len(self)} files)"


class _WorkedOut(Sequence[Rejection]):
    """The rejections of a :class:`LazyCandidates`: reading them works every version out."""

    __slots__ = ("lazy",)

    def __init__(self, lazy: LazyCandidates[Located]) -> None:
        self.lazy = lazy

    def __bool__(self) -> bool:
        return self.lazy.pending or self.lazy.rejected_so_far > 0

    def __len__(self) -> int:
        return len(self.lazy.rejected())

    @overload
    def __getitem__(self, i: int) -> Rejection: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Rejection]: ...
    def __getitem__(self, i: int | slice) -> Rejection | Sequence[Rejection]:
        return self.lazy.rejected()[i]

    def __iter__(self) -> Iterator[Rejection]:
        return iter(self.lazy.rejected())


def _no_make(filename: str) -> Rejection:
    raise AssertionError(f"no rejection maker for {filename}")  # pragma: no cover - slots are Rejections


@dataclass(frozen=True)
class _Evaluated:
    """One index's project page, evaluated for the target."""

    index: str
    found: bool
    candidates: Sequence[Candidate]
    """Sorted best first when a :class:`LazyCandidates`, else in page order."""
    rejections: _Rejections
    metadata_hashes: dict[str, str]
    """PEP 658 metadata URL -> sha256, where the index gives one."""


def _candidate_row(c: Candidate) -> list[object]:
    a = c.artifact
    return [c.name, str(c.version), a.filename, a.url, a.sha256, a.size, c.tag_rank, c.yanked, c.requires_python,
            c.metadata_url]


def _store_evaluated(folder: Path, key: str, page: _Evaluated) -> None:
    """Keep an evaluated page on disk, keyed by page body and target (fast warm re-plans)."""
    slots: list[RejectionSlot] = []
    more: DeferredNames | None = None
    for part, _make in page.rejections.parts:
        if isinstance(part, DeferredNames):
            more = part
        elif not isinstance(part, _WorkedOut):
            slots.extend(part)
    cands: Sequence[Candidate] = page.candidates
    pending: list[list[object]] | None = None
    if isinstance(cands, LazyCandidates):
        cands, groups, rejected = cands.state()
        slots.extend(rejected)
        pending = [[v, [x for file in files for x in file]] for v, files in groups]
    names = [r for r in slots if isinstance(r, str)]
    doc = {
        "found": page.found,
        "c": [_candidate_row(c) for c in cands],
        "r": [
            [i, r.version, r.filename, r.reason, r.kind, list(r.tags)]
            for i, r in enumerate(slots)
            if not isinstance(r, str)
        ],
        # names still to be worked out, in one string: thousands per page, cheap to (de)serialise
        "d": names if any(not n or _SEP in n for n in names) else _SEP.join(names),
        "m": page.metadata_hashes,
        # names a page scan never read: listed again from the page body when needed
        "k": None if more is None else [sorted(more.kept), more.size],
        # versions of a scanned page not worked out yet, newest first: [version, [name, key offset, ...]]
        "t": pending,
    }
    try:
        _atomic_write(folder / f"{key}.json", json.dumps(doc, separators=(",", ":")).encode())
    except OSError as exc:
        log.warning("cannot cache evaluated page (%s)", type(exc).__name__)


def _decoded(body: bytes) -> str:
    """``body`` as UTF-8 text, or "" if it is not."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _evaluate(ev: Evaluator, index: IndexConfig, file: IndexFile, meta: dict[str, str]) -> Candidate | Rejection:
    """``ev``'s verdict on ``file``; a candidate's PEP 658 metadata hash, if the page gives one, into ``meta``."""
    out = ev.evaluate(file, index)
    if isinstance(out, Candidate) and file.metadata_sha256 and file.metadata_url:
        meta[file.metadata_url] = file.metadata_sha256
    return out


def _rejection(
    version: str, filename: str, reason: str, kind: str, tags: tuple[str, ...], index: str
) -> Rejection:
    """Build a (frozen) Rejection without the dataclass ``__init__`` (pages hold thousands)."""
    r = Rejection.__new__(Rejection)
    r.__dict__.update(
        version=version, filename=filename, reason=reason, kind=kind, tags=tags, index=index
    )
    return r


def _load_evaluated(
    folder: Path,
    key: str,
    index: str,
    make: Callable[[str], Rejection],
    text: Callable[[], str],
    work_out: Callable[[dict[str, str]], WorkOut[Located]],
) -> _Evaluated | None:
    """A page's cached evaluation; ``text`` gives the page itself, read only if an explanation
    or an older version needs it; ``work_out(hashes)`` evaluates a scanned page's pending versions."""
    path = folder / f"{key}.json"
    try:
        doc = json.loads(path.read_bytes())
        cands = tuple(
            Candidate(
                name=NormalizedName(c[0]),
                version=Version(c[1]),
                artifact=Artifact(filename=c[2], url=c[3], sha256=c[4], index=index, size=c[5]),
                tag_rank=int(c[6]),
                yanked=bool(c[7]),
                requires_python=c[8],
                metadata_url=c[9],
            )
            for c in doc["c"]
        )
        deferred = doc["d"]
        if isinstance(deferred, str):
            names = deferred.split(_SEP) if deferred else []
        else:
            names = [str(n) for n in deferred]
        eager = {int(r[0]): _rejection(r[1], r[2], r[3], r[4], tuple(r[5]), index) for r in doc["r"]}
        rest = iter(names)
        slots: list[RejectionSlot] = [
            eager[i] if i in eager else next(rest) for i in range(len(eager) + len(names))
        ]
        parts: list[tuple[Sequence[RejectionSlot], Callable[[str], Rejection]]] = []
        candidates: Sequence[Candidate] = cands
        meta = {str(u): str(h) for u, h in doc["m"].items()}
        if doc["t"] is not None:
            pending = [(str(v), list(zip(flat[::2], map(int, flat[1::2]), strict=True))) for v, flat in doc["t"]]
            rejected = [slot for slot in slots if not isinstance(slot, str)]
            lazy = LazyCandidates(cands, pending, work_out(meta), rejected)
            candidates = lazy
            parts.append((_WorkedOut(lazy), make))
        else:
            parts.append((slots, make))
        if doc["k"] is not None:
            kept, count = doc["k"]
            parts.append((DeferredNames(text, frozenset(int(k) for k in kept), int(count)), make))
        return _Evaluated(index, bool(doc["found"]), candidates, _Rejections(parts), meta)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        log.debug("ignoring unreadable evaluated-page cache %s", path.name)
        return None


class PackageFinder:
    """Finds wheels for a :class:`Target` on the configured indexes."""

    def __init__(
        self,
        settings: IndexSettings,
        target: Target,
        *,
        offline: bool = False,
        refresh: bool = False,
        http: HttpClient | None = None,
    ) -> None:
        self.settings = settings
        self.target = target
        self._own_http = http is None
        self.http = http if http is not None else HttpClient(offline=offline, refresh=refresh, max_workers=FETCH_WORKERS)
        if http is not None:
            self.http.offline = self.http.offline or offline
            self.http.refresh = self.http.refresh or refresh
        self.collector = Collector(self.http)
        names = [ix.name for ix in settings.indexes]
        env = target.markers()
        self._pins: dict[NormalizedName, str] = {}
        for pin in settings.pins:
            if pin.index not in names:
                raise UsageError(
                    f"pin {pin.package}={pin.index}: unknown index {pin.index!r} "
                    f"(known: {', '.join(names) or 'none'})"
                )
            if pin.marker is None or pin.marker.evaluate(dict(env)):
                self._pins[canonicalize_name(pin.package)] = pin.index
        for ix in settings.indexes:
            if ix.has_credentials:
                self.http.credentials.add_from_url(ix.url)
            else:
                creds = env_credentials(ix.name)
                if creds is not None:
                    self.http.credentials.add(ix.url, creds[0], creds[1])
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, str], _Evaluated] = {}
        self._filters: dict[str, NameFilter] = {}
        self._page_locks: dict[tuple[str, str], threading.Lock] = {}
        self._sets: dict[NormalizedName, CandidateSet] = {}
        self._futures: dict[NormalizedName, Future[CandidateSet]] = {}
        self._no_ranges: set[str] = set()
        self._hashes: dict[str, str] = {}
        self._meta_hashes: dict[str, str] = {}
        assert self.http.cache_dir is not None
        self._meta_cache = MetadataCache(self.http.cache_dir / "metadata.sqlite")
        self._meta_unwritten: dict[str, bytes] = {}
        """METADATA fetched by this finder (by sha256), stored in the cache when it closes."""
        self._derived_dir = self.http.cache_dir / "evaluated"
        self.page_deps: dict[tuple[str, str], str] = {}
        """(page URL, Accept) -> body id of every simple-index page read (for the resolution cache)."""
        self.path_deps: dict[str, str] = {}
        """Local find-links location -> :func:`path_fingerprint` (for the resolution cache)."""
        self._warmer: PageWarmer | None = None
        self.cacheable = True
        """False when an index is a local directory (a resolution cannot be reused safely)."""
        for ix in settings.indexes:
            remote = ix.url.startswith(("https://", "http://"))
            if ix.kind == "find-links" and not remote and not ix.explicit:
                path = local_path(ix.url)
                self.path_deps[str(path)] = path_fingerprint(path)
            elif not remote:
                self.cacheable = False

    # -- lifecycle -----------------------------------------------------------
    def use_workers(self, workers: int | None = None) -> bool:
        """Fetch and evaluate index pages in worker processes (call before any thread starts).

        ``workers``: how many (default :func:`muslin.index.warmer.default_workers`).  False
        when there are none (see :mod:`muslin.index.warmer`): pages are then fetched in this
        process, as without workers.
        """
        if self.http.offline or self._warmer is not None:
            return False
        from muslin.index.warmer import PageWarmer, default_workers

        if self.settings.uses_tls:
            self.http.tls_context()  # made once here (or taken from its preload), inherited by the workers
        tls.settle()  # no preload thread left running: the workers are forked next
        codecs.lookup("idna")  # host names are encoded with it: imported once here, not in each worker
        warmer = PageWarmer(self, default_workers() if workers is None else workers)
        if warmer.active:
            self._warmer = warmer
        return warmer.active

    def close(self) -> None:
        if self._warmer is not None:
            self._warmer.close()  # the workers end on their own; the plan goes on
            self._warmer = None
        self._write_metadata()
        if self._own_http:
            self.http.close()

    def __enter__(self) -> PackageFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- index selection -----------------------------------------------------
    def resolution_deps(self) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        """What a resolution made with this finder depends on: HTTP pages read, local locations."""
        with self._lock:
            pages = {**self.page_deps, **self.collector.fetched}
        return pages, dict(self.path_deps)

    def pinned_index(self, name: str) -> str | None:
        """The index ``name`` is pinned to on this target, if any."""
        return self._pins.get(canonicalize_name(name))

    def _simple(self) -> list[IndexConfig]:
        return [ix for ix in self.settings.indexes if ix.kind != "find-links" and not ix.explicit]

    def _find_links(self) -> list[IndexConfig]:
        return [ix for ix in self.settings.indexes if ix.kind == "find-links" and not ix.explicit]

    def _page(self, index: IndexConfig, name: NormalizedName) -> _Evaluated:
        """What ``index`` offers ``name`` on this target (memoised; parallel-safe)."""
        key = (index.name, name)
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                return page
            lock = self._page_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                page = self._pages.get(key)
            if page is None:
                page = self._load_page(index, name)
                with self._lock:
                    self._pages[key] = page
                    self._meta_hashes.update(page.metadata_hashes)
        return page

    def _load_page(self, index: IndexConfig, name: NormalizedName) -> _Evaluated:
        ev = self._evaluator(name)
        if index.kind == "find-links":
            flat = self.collector.project_page(index, name)
            return self._evaluate_files(ev, index, flat.found, flat.files)
        warmer = self._warmer
        if warmer is not None:
            # a worker finds the project (its pages into the caches, with their evaluation):
            # reading the page back below is a cache hit.  Whatever the worker could not do,
            # this thread does (and reports).
            job = warmer.warm(name)
            if job is not None:
                with contextlib.suppress(Exception):  # a stuck worker must not stall the plan
                    job.result(timeout=4 * self.http.timeout)
        resp = self.collector.fetch_page(index, name)
        with self._lock:
            self.page_deps[(strip_userinfo(self.collector.page_url(index, name)), ACCEPT)] = resp.body_id
        if resp.status == 404:
            return _Evaluated(index.name, False, (), _Rejections(()), {})
        key = self._derived_key(index, name, resp.url, resp.body_id)
        make = self._rejection_maker(ev, index)

        @functools.cache
        def text() -> str:
            """The page, read once when an explanation or an older version needs it: from the cache,
            or fetched again if the cached copy is unreadable (then the entries are found by name)."""
            content = _decoded(resp.content) or _decoded(
                self.http.get(
                    self.collector.page_url(index, name), headers={"Accept": ACCEPT}, cache=False,
                    what=f"index {index.name}",
                ).content
            )
            if not content:
                raise NetworkError(f"index {index.name} returned an unreadable page for {name}")
            return content

        def work_out(meta: dict[str, str]) -> WorkOut[Located]:
            base = self.collector.base_url(index, name, resp)
            return self._work_out(ev, index, JsonEntries(text, base, index.name, name), meta)

        cached = _load_evaluated(self._derived_dir, key, index.name, make, text, work_out)
        if cached is not None:
            return cached
        found, files = self.collector.parse_page_deferred(index, name, resp, self._name_filter(index).defer)
        if isinstance(files, ScannedPage):
            page = self._evaluate_scanned(ev, index, files)
        else:
            page = self._evaluate_files(ev, index, found, files)
        _store_evaluated(self._derived_dir, key, page)
        return page

    def _derived_key(self, index: IndexConfig, name: NormalizedName, url: str, body_id: str) -> str:
        no_binary = ":all:" in self.settings.no_binary or name in self.settings.no_binary
        t = self.target
        ident = [
            _DERIVED_FORMAT, index.name, index.redacted_url, index.accept_linux_tags, name, no_binary,
            t.python_version, t.python_full_version, t.musl, t.arch, url, body_id,
        ]
        return hashlib.sha256(json.dumps(ident).encode()).hexdigest()

    def _evaluator(self, name: NormalizedName) -> Evaluator:
        return Evaluator(self.target, name, self.settings.only_binary, self.settings.no_binary)

    def _name_filter(self, index: IndexConfig) -> NameFilter:
        """The target's quick file-name check for ``index`` (one per index: it memoises verdicts)."""
        with self._lock:
            found = self._filters.get(index.name)
            if found is None:
                found = self._filters[index.name] = NameFilter(self.target, index.accept_linux_tags)
        return found

    @staticmethod
    def _rejection_maker(ev: Evaluator, index: IndexConfig) -> Callable[[str], Rejection]:
        def make(filename: str) -> Rejection:
            out = ev.evaluate(IndexFile(filename=filename, url="", sha256=None), index)
            if isinstance(out, Candidate):  # only if the page changed under its cached evaluation
                return Rejection(str(out.version), filename, "listed after the evaluation", "other", index=index.name)
            return out

        return make

    def _work_out(
        self, ev: Evaluator, index: IndexConfig, entries: JsonEntries, meta: dict[str, str]
    ) -> WorkOut[Located]:
        """Evaluates located files of a scanned page: its candidates sorted, and its rejections.

        PEP 658 metadata hashes of the candidates go into ``meta`` (the page's) and the finder's.
        """

        def work_out(located: Sequence[Located]) -> tuple[list[Candidate], list[Rejection]]:
            cands: list[Candidate] = []
            rejected: list[Rejection] = []
            found: dict[str, str] = {}
            for file in entries.read(located):
                out = _evaluate(ev, index, file, found)
                if isinstance(out, Candidate):
                    cands.append(out)
                else:
                    rejected.append(out)
            if found:
                with self._lock:
                    meta.update(found)
                    self._meta_hashes.update(found)
            return sort_candidates(cands), rejected

        return work_out

    def _evaluate_scanned(self, ev: Evaluator, index: IndexConfig, page: ScannedPage) -> _Evaluated:
        """A scanned page's candidates as a :class:`LazyCandidates`: its kept files grouped by
        version, newest first, the newest :data:`HEAD_RELEASES` usable releases worked out now."""
        meta: dict[str, str] = {}
        work_out = self._work_out(ev, index, page.entries, meta)
        by_text: dict[str, list[Located]] = {}
        odd: list[Located] = []
        for located in page.kept:
            text = ev.version_text(located[0])
            if text is None:
                odd.append(located)
            else:
                by_text.setdefault(text, []).append(located)
        groups: dict[Version, tuple[str, list[Located]]] = {}
        for text, files in by_text.items():
            version = ev.parse_version(text)
            if version is None:
                odd.extend(files)
            elif version in groups:  # another spelling of the same version (1.0 and 1.0.0)
                groups[version][1].extend(files)
            else:
                groups[version] = (text, files)
        rejected: list[Rejection] = []
        for located in odd:  # a name of another shape: the evaluator rejects it (invalid wheel file name)
            odd_cands, odd_rejected = work_out([located])
            rejected.extend(odd_rejected)
            for cand in odd_cands:
                groups.setdefault(cand.version, (str(cand.version), []))[1].append(located)
        pending = [group for _version, group in sorted(groups.items(), key=itemgetter(0), reverse=True)]
        lazy = LazyCandidates((), pending, work_out, rejected)
        releases: set[Version] = set()
        for cand in lazy:
            if not cand.yanked and not cand.version.is_prerelease:
                releases.add(cand.version)
                if len(releases) >= HEAD_RELEASES:
                    break
        make = self._rejection_maker(ev, index)
        return _Evaluated(index.name, True, lazy, _Rejections([(_WorkedOut(lazy), make), (page.more, make)]), meta)

    def _evaluate_files(
        self,
        ev: Evaluator,
        index: IndexConfig,
        found: bool,
        files: Iterable[IndexFile | str],
        more: DeferredNames | None = None,
    ) -> _Evaluated:
        cands: list[Candidate] = []
        slots: list[RejectionSlot] = []
        meta: dict[str, str] = {}
        for file in files:
            if isinstance(file, str):
                slots.append(file)
                continue
            out = _evaluate(ev, index, file, meta)
            if isinstance(out, Candidate):
                cands.append(out)
            else:
                slots.append(out)
        make = self._rejection_maker(ev, index)
        rejections = _Rejections([(slots, make), *([(more, make)] if more is not None else [])])
        return _Evaluated(index.name, found, tuple(cands), rejections, meta)

    # -- Finder protocol -----------------------------------------------------
    def find(self, name: str) -> CandidateSet:
        """Candidates for ``name`` from the index that owns it (pins and strategy applied)."""
        canonical = canonicalize_name(name)
        with self._lock:
            done = self._sets.get(canonical)
            fut = self._futures.get(canonical)
        if done is not None:
            return done
        result = fut.result() if fut is not None else self._find(canonical)
        with self._lock:
            self._sets[canonical] = result
        return result

    def prefetch(self, names: list[str] | tuple[str, ...] | set[str]) -> None:
        """Start finding ``names`` in parallel (bounded by the HTTP thread pool)."""
        wanted = [canonicalize_name(name) for name in names]
        with self._lock:  # once: the resolver's thread calls this often, and waits on a busy lock
            self._submit_finds(wanted)

    def _submit_finds(self, names: Iterable[NormalizedName]) -> None:
        """Start the lookups of ``names`` not started yet (caller holds ``self._lock``)."""
        warmer = self._warmer
        for name in names:
            if name not in self._sets and name not in self._futures:
                if warmer is not None:
                    # queued with a worker now: the pool thread below may wait for a free slot
                    warmer.warm(name)
                self._futures[name] = self.http.executor.submit(self._find, name)

    def when_found(self, name: str, callback: Callable[[CandidateSet], None]) -> None:
        """Call ``callback`` with ``name``'s candidates as soon as they are known (lookup started if need be).

        It runs on the thread that finished the lookup, so it must be quick (hand work
        to a pool); a failed lookup calls nothing: the resolver asks again and reports it.
        """
        canonical = canonicalize_name(name)
        with self._lock:
            self._submit_finds((canonical,))
            done = self._sets.get(canonical)
            future = self._futures.get(canonical)
        if done is not None or future is None:
            callback(done if done is not None else self.find(canonical))
            return

        def fire(finished: Future[CandidateSet]) -> None:
            if not finished.cancelled() and finished.exception() is None:
                callback(finished.result())

        future.add_done_callback(fire)

    def find_on(self, name: str, index_name: str) -> CandidateSet:
        """What one index offers for ``name`` (for messages like "found on X but not at ...")."""
        canonical = canonicalize_name(name)
        index = self.settings.index(index_name)
        if index is None:
            raise UsageError(f"unknown index {index_name!r}")
        page = self._page(index, canonical)
        cands, rejects = self._evaluate(canonical, [page])
        return CandidateSet(canonical, index.name if page.found else None, cands, rejects)

    def _find(self, name: NormalizedName) -> CandidateSet:
        pinned = self._pins.get(name)
        flat_pages = [self._page(ix, name) for ix in self._find_links()] if pinned is None else []
        flat_found = [p for p in flat_pages if p.found]
        if pinned is not None:
            index = self.settings.index(pinned)
            assert index is not None
            page = self._page(index, name)
            cands, rejects = self._evaluate(name, [page])
            return CandidateSet(name, index.name if page.found else None, cands, rejects)
        simple = self._simple()
        if self.settings.strategy is not IndexStrategy.FIRST_INDEX:
            if threading.current_thread().name.startswith("muslin-http"):
                # Already on a pool thread (prefetch): waiting on the pool could deadlock.
                pages = [self._page(ix, name) for ix in simple]
            else:
                futures = [self.http.executor.submit(self._page, ix, name) for ix in simple[1:]]
                pages = [self._page(simple[0], name)] if simple else []
                pages += [f.result() for f in futures]
            listed = [p for p in pages if p.found] + flat_found
            by_index = self.settings.strategy is IndexStrategy.UNSAFE_FIRST_MATCH
            cands, rejects = self._evaluate(name, listed, by_index=by_index)
            owner = listed[0].index if listed else None
            also = tuple(p.index for p in listed[1:])
            return CandidateSet(name, owner, cands, rejects, also)
        owner_page: _Evaluated | None = None
        for ix in simple:
            page = self._page(ix, name)
            if page.found:
                owner_page = page
                break
        listed = ([owner_page] if owner_page else []) + flat_found
        cands, rejects = self._evaluate(name, listed)
        owner = listed[0].index if listed else None
        used = {p.index for p in listed}
        with self._lock:
            also = tuple(
                p.index
                for (ix_name, n), p in self._pages.items()
                if n == name and p.found and ix_name not in used
            )
        return CandidateSet(name, owner, cands, rejects, also)

    def _evaluate(
        self, name: NormalizedName, pages: list[_Evaluated], by_index: bool = False
    ) -> tuple[Sequence[Candidate], Sequence[Rejection]]:
        """Candidates newest first (``by_index``: each page's in turn, in priority order) and rejections."""
        rejects = pages[0].rejections if len(pages) == 1 else _Rejections.concat(p.rejections for p in pages)
        if len(pages) == 1 and isinstance(pages[0].candidates, LazyCandidates):
            return pages[0].candidates, rejects  # sorted already, worked out as it is read
        if by_index:
            return tuple(c for page in pages for c in sort_candidates(list(page.candidates))), rejects
        cands: list[Candidate] = []
        for page in pages:
            cands.extend(page.candidates)
        return tuple(sort_candidates(cands)), rejects

    # -- hashes ----------------------------------------------------------------
    def with_hash(self, candidate: Candidate) -> Candidate:
        """``candidate`` with ``artifact.sha256`` set (downloads the file once if the index gave none)."""
        if candidate.artifact.sha256:
            return candidate
        url = candidate.artifact.url
        with self._lock:
            digest = self._hashes.get(url)
        if digest is None:
            _path, digest = self.http.download_and_hash(url, filename=candidate.artifact.filename)
            with self._lock:
                self._hashes[url] = digest
        return replace(candidate, artifact=replace(candidate.artifact, sha256=digest))

    # -- metadata ----------------------------------------------------------------
    def metadata(self, candidate: Candidate) -> CandidateMetadata:
        """METADATA of a candidate wheel (PEP 658, range requests, or a full download; cached
        by the wheel's sha256: what was fetched is stored when the finder closes)."""
        sha = candidate.artifact.sha256
        if sha:
            with self._lock:
                raw = self._meta_unwritten.get(sha)
            if raw is None:
                raw = self._meta_cache.get(sha)
            if raw is not None:
                return _parse_metadata(raw, candidate)
        raw = self._fetch_metadata(candidate)
        if sha:
            with self._lock:
                self._meta_unwritten[sha] = raw
        return _parse_metadata(raw, candidate)

    def _write_metadata(self) -> None:
        """Store the METADATA fetched, all at once (:mod:`muslin.index.metacache`)."""
        with self._lock:
            unwritten, self._meta_unwritten = self._meta_unwritten, {}
        self._meta_cache.put_many(unwritten)
        self._meta_cache.close()

    def _fetch_metadata(self, candidate: Candidate) -> bytes:
        art = candidate.artifact
        what = f"metadata of {art.filename}"
        if candidate.metadata_url:
            resp = self.http.get(candidate.metadata_url, cache=False, what=what)
            if resp.status == 200:
                with self._lock:
                    expected = self._meta_hashes.get(candidate.metadata_url)
                if expected:
                    got = hashlib.sha256(resp.content).hexdigest()
                    if got != expected:
                        raise HashMismatchError(
                            f"hash mismatch for {art.filename}.metadata from {redact_url(candidate.metadata_url)}: "
                            f"expected sha256:{expected}, got sha256:{got}"
                        )
                return resp.content
        if not art.sha256 and not art.url.startswith("file:"):
            # No hash to trust a partial read against: download, hash and read it whole.
            path, digest = self.http.download_and_hash(art.url, filename=art.filename)
            with self._lock:
                self._hashes[art.url] = digest
            return metadata_from_zip(path.read_bytes(), art.filename)
        host = _host(art.url)
        if not art.url.startswith("file:") and not self.http.offline:
            with self._lock:
                ranged = host not in self._no_ranges
            if ranged:
                data = self._metadata_by_range(candidate, host)
                if data is not None:
                    return data
        dest = self.http.cache_dir / "blobs" / "by-metadata" if self.http.cache_dir else Path(".")
        path = self.http.download(art.url, art.sha256 or None, dest, filename=art.filename)
        try:
            return metadata_from_zip(path.read_bytes(), art.filename)
        finally:
            if path.parent == dest:
                path.unlink(missing_ok=True)

    def _metadata_by_range(self, candidate: Candidate, host: str) -> bytes | None:
        art = candidate.artifact
        what = f"metadata of {art.filename}"
        tail = self.http.get_range(art.url, f"bytes=-{TAIL_BYTES}", what=what)
        if tail.status == 200:
            # The server ignored Range: remember, and use the whole body we got.
            with self._lock:
                self._no_ranges.add(host)
            got = hashlib.sha256(tail.content).hexdigest()
            if art.sha256 and got != art.sha256:
                raise HashMismatchError(
                    f"hash mismatch for {art.filename} from {redact_url(art.url)}: "
                    f"expected sha256:{art.sha256}, got sha256:{got}"
                )
            return metadata_from_zip(tail.content, art.filename)
        if tail.status != 206:
            return None
        m = re.match(r"bytes (\d+)-(\d+)/(\d+)", tail.headers.get("content-range", ""))
        if not m:
            with self._lock:
                self._no_ranges.add(host)
            return None
        size = int(m.group(3))

        def fetch(start: int, end: int) -> bytes:
            resp = self.http.get_range(art.url, f"bytes={start}-{end - 1}", what=what)
            if resp.status != 206:
                raise OSError("range request not honoured")
            return resp.content

        return metadata_from_ranges(fetch, size, int(m.group(1)), tail.content, art.filename)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def _parse_metadata(raw: bytes, candidate: Candidate) -> CandidateMetadata:
    msg = HeaderParser().parsestr(raw.decode("utf-8", "replace"))
    reqs: list[Requirement] = []
    for line in msg.get_all("Requires-Dist") or []:
        try:
            reqs.append(Requirement(line))
        except InvalidRequirement:
            log.warning("%s: ignoring invalid Requires-Dist %r", candidate.artifact.filename, line)
    rp = msg.get("Requires-Python")
    return CandidateMetadata(
        name=str(msg.get("Name") or candidate.name),
        version=str(msg.get("Version") or candidate.version),
        requires_dist=tuple(reqs),
        requires_python=str(rp).strip() if rp else None,
    )
