"""Index pages fetched and evaluated in worker processes, into the shared on-disk caches.

A cold plan of ~100 packages receives ~60 MB of index pages and scans them: work that
holds Python's GIL, so in one process it competes with the resolver for one core.
:class:`PageWarmer` forks worker processes that find a project's candidates the way the
finder would (same indexes, pins and strategy), storing each page in the HTTP cache and
its evaluation for the target in the evaluated-page cache; the finder then reads the page
as a fresh cache hit with a cached evaluation, at a few milliseconds.  Each worker has a
few projects in hand at once, so that one page's download overlaps another's scan.

The workers only accelerate: whatever they fail to do (a network error, a cache that
cannot be written, a page the cache must not keep), the finder then does itself, and
reports as it always does.  They are forked before the finder starts any thread (forking
a process that has threads can leave locks held for ever in the child); when threads
already exist, or ``fork`` is unavailable, there are no workers.  Workers inherit the
finder's settings, credentials and target by fork: only project names cross the pipes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from muslin.index.finder import PackageFinder

WORKERS = 2
"""Worker processes when the machine has two cores or more (more did not help on two)."""


def default_workers() -> int:
    """``$MUSLIN_PAGE_WORKERS`` (0 turns workers off), else :data:`WORKERS` on a Linux machine
    with two usable cores or more, else 0 (macOS forbids forking some of its libraries)."""
    env = os.environ.get("MUSLIN_PAGE_WORKERS", "").strip()
    if env.isdigit():
        return int(env)
    if not sys.platform.startswith("linux"):
        return 0
    return WORKERS if len(os.sched_getaffinity(0)) >= 2 else 0


PAGES_PER_WORKER = 2
"""Pages a worker has in hand at once (one downloading while another is scanned)."""

_PARENTS: dict[int, PackageFinder] = {}
"""Finders by id, set before forking: a worker finds its parent's settings here."""


def _serve(token: int, conn: Connection, parent_ends: tuple[Connection, ...], pages: int) -> None:
    """A worker's loop: ``(job, name)`` in, ``(job, done)`` out; ``None`` (or the parent gone) ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers
    for end in parent_ends:  # the parent's ends: with them closed here, its exit is our end of file
        end.close()
    from muslin.index.finder import PackageFinder

    parent = _PARENTS[token]
    # a client of its own (connections, locks, threads); same cache, credentials, options, except
    # that a failure is not retried here: the finder retries it, waits and reports as usual
    http = dataclasses.replace(parent.http, progress=False, retries=0)
    finder = PackageFinder(parent.settings, parent.target, http=http)
    send_lock = threading.Lock()

    def work(job: int, name: str) -> None:
        try:
            finder.find(name)  # its pages fetched, evaluated and stored in the caches
            done = True
        except Exception:  # any failure: the parent finds the project itself and reports it
            done = False
        with send_lock, contextlib.suppress(OSError, ValueError):
            conn.send((job, done))

    with ThreadPoolExecutor(pages, thread_name_prefix="muslin-warm") as pool:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            pool.submit(work, *message)
        pool.shutdown(wait=False, cancel_futures=True)
    finder.http.close()


@dataclasses.dataclass
class _Worker:
    process: Any
    conn: Connection
    send_lock: threading.Lock
    pending: dict[int, Future[bool]]
    alive: bool = True


class PageWarmer:
    """Page worker processes for one :class:`PackageFinder` (see the module docstring)."""

    def __init__(self, finder: PackageFinder, workers: int, pages: int = PAGES_PER_WORKER) -> None:
        self._token = id(finder)
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._jobs = 0
        self._started: dict[str, Future[bool]] = {}
        self._readers: list[threading.Thread] = []
        if workers < 1 or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        _PARENTS[self._token] = finder
        try:
            for _ in range(workers):
                mine, theirs = ctx.Pipe()
                ends = (*(w.conn for w in self._workers), mine)
                process = ctx.Process(target=_serve, args=(self._token, theirs, ends, pages), daemon=True)
                process.start()
                theirs.close()
                self._workers.append(_Worker(process, mine, threading.Lock(), {}))
        except OSError:
            self.close()
            return
        finally:
            _PARENTS.pop(self._token, None)
        # every worker is forked: threads may start now
        for worker in self._workers:
            reader = threading.Thread(target=self._read, args=(worker,), name="muslin-warm-results", daemon=True)
            reader.start()
            self._readers.append(reader)

    @property
    def active(self) -> bool:
        return any(w.alive for w in self._workers)

    def _read(self, worker: _Worker) -> None:
        while True:
            try:
                job, done = worker.conn.recv()
            except (EOFError, OSError, ValueError, TypeError):
                break
            with self._lock:
                future = worker.pending.pop(job, None)
            if future is not None:
                future.set_result(bool(done))
        self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        """No more work for ``worker``; what it still had is not done (the finder does it)."""
        with self._lock:
            worker.alive = False
            left, worker.pending = worker.pending, {}
        for future in left.values():
            if not future.done():
                future.set_result(False)

    def warm(self, name: str) -> Future[bool] | None:
        """Have a worker find ``name`` (once); None without workers."""
        with self._lock:
            future = self._started.get(name)
            if future is not None:
                return future
            alive = [w for w in self._workers if w.alive]
            if not alive:
                return None
            worker = min(alive, key=lambda w: len(w.pending))
            self._jobs += 1
            job = self._jobs
            future = Future()
            worker.pending[job] = future
            self._started[name] = future
        try:
            with worker.send_lock:
                worker.conn.send((job, name))
        except (OSError, ValueError):
            self._retire(worker)
        return future

    def close(self) -> None:
        """Stop the workers (pages they were fetching are left to the finder).

        This process does not wait: a daemon thread waits for them to end, and reaps them
        (a worker takes 10-20 ms to exit; at interpreter exit, :mod:`multiprocessing` ends
        and reaps any that are left).
        """
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            with worker.send_lock, contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in workers:
            self._retire(worker)
        readers, self._readers = self._readers, []
        if workers:
            threading.Thread(target=_reap, args=(workers, readers), name="muslin-warm-reaper", daemon=True).start()


def _reap(workers: list[_Worker], readers: list[threading.Thread]) -> None:
    for worker in workers:
        _stop(worker.process)
        with contextlib.suppress(OSError):
            worker.conn.close()
    for reader in readers:
        reader.join(timeout=1)


def _stop(process: Any) -> None:
    """Wait for a worker to finish; terminate, then kill it if it does not."""
    process.join(2.0)
    if process.is_alive():
        process.terminate()
        process.join(2.0)
    if process.is_alive():
        process.kill()
        process.join(2.0)
