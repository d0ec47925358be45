"""Download every planned wheel on the host, in parallel, into the shared download cache.

Files already in the cache (keyed by sha256) are used where they are; others are
fetched with :meth:`muslin.index.http.HttpClient.download`, which verifies the
sha256 and remembers the file in the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

from muslin.index.http import HttpClient, env_credentials
from muslin.plan.model import Plan, PlanItem

DEFAULT_JOBS = 8


def client_for(plan: Plan, offline: bool = False, urls: Iterable[str] = ()) -> HttpClient:
    """An :class:`HttpClient` with credentials for the plan's indexes.

    From the environment (``MUSLIN_INDEX_<NAME>_USERNAME``/``_PASSWORD``), the
    userinfo of ``urls`` (the index URLs as the user gave them), and ``.netrc``.
    """
    http = HttpClient(offline=offline)
    for url in urls:
        http.credentials.add_from_url(url)
    for ix in plan.indexes:
        creds = env_credentials(ix.name)
        if creds is not None:
            http.credentials.add(ix.url, *creds)
    return http


def fetch_wheels(
    items: Sequence[PlanItem],
    http: HttpClient,
    staging_dir: Path,
    jobs: int = DEFAULT_JOBS,
    on_done: Callable[[PlanItem, Path], None] | None = None,
) -> list[Path]:
    """Local paths of the artifacts of ``items`` (same order), every sha256 verified.

    Raises the first download error (:class:`~muslin.errors.HashMismatchError`,
    :class:`~muslin.errors.NetworkError` ...) after cancelling the rest.
    """

    def one(item: PlanItem) -> Path:
        art = item.artifact
        assert art is not None, f"install item {item.name} without an artifact"
        path = http.cached_blob(art.sha256.lower())
        if path is None:
            path = http.download(art.url, art.sha256, staging_dir, filename=art.filename)
        if on_done is not None:
            on_done(item, path)
        return path

    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(items))), thread_name_prefix="muslin-fetch")
    try:
        futures: list[Future[Path]] = [pool.submit(one, item) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future.done() and (error := future.exception()) is not None:
                raise error
        paths = [f.result() for f in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return paths
