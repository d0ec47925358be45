"""Page worker processes (muslin.index.warmer): real forks, a real index server on 127.0.0.1.

Workers are only forked by a process without threads, and the test process runs the index
server in a thread: each case runs its finder in a fresh ``python`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from muslin.index.config import IndexConfig, IndexSettings
from muslin.index.finder import PackageFinder
from muslin.index.http import HttpClient
from muslin.target.target import Target
from tests.support.index_server import IndexServer
from tests.support.wheels import build_sdist, build_wheel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page workers are Linux-only")

NAMES = ["alpha", "beta", "gamma", "delta", "missing"]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from muslin.errors import MuslinError
    from muslin.index.config import IndexConfig, IndexSettings
    from muslin.index.finder import PackageFinder
    from muslin.index.http import HttpClient
    from muslin.target.target import Target

    url, cache, names, mode = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
    target = Target((3, 11), "3.11.6", (1, 2), "x86_64", "linux/amd64")
    http = HttpClient(cache_dir=cache, backoff=0.01, timeout=5.0, max_total_wait=2.0)
    finder = PackageFinder(IndexSettings(indexes=(IndexConfig("pypi", url),)), target, http=http)
    out = {"workers": finder.use_workers(2), "pids": []}
    if finder._warmer is not None:
        out["pids"] = [w.process.pid for w in finder._warmer._workers]
    if mode == "die":
        print(json.dumps(out), flush=True)
        os._exit(0)  # no close(): the workers must notice on their own
    found = {}
    try:
        for name in names:
            cs = finder.find(name)
            found[name] = [c.artifact.filename for c in cs.candidates]
    except MuslinError as exc:
        out["error"] = str(exc)
    out["found"] = found
    out["stats"] = dict(http.stats)
    finder.close()
    import multiprocessing
    import time
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.01)  # close() does not wait: the workers end on their own, reaped in the background
    out["children"] = len(multiprocessing.active_children())
    out["alive"] = [pid for pid in out["pids"] if os.path.exists(f"/proc/{pid}")]
    print(json.dumps(out))
    """
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    d = tmp_path / "repo"
    for name in ("alpha", "beta", "gamma", "delta"):
        build_wheel(d, name, "1.0")
        build_wheel(d, name, "2.0", tags="cp311-cp311-musllinux_1_2_x86_64")
        build_wheel(d, name, "2.0", tags="cp311-cp311-manylinux_2_17_x86_64")
        build_sdist(d, name, "2.0")
    return d


def run_finder(url: str, cache: Path, mode: str = "find", names: list[str] = NAMES) -> dict[str, Any]:
    env = {**os.environ, "NETRC": str(cache.parent / "no-netrc")}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, str(cache), ",".join(names), mode],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def in_process(url: str, cache: Path, target: Target) -> dict[str, list[str]]:
    with HttpClient(cache_dir=cache) as http:
        finder = PackageFinder(IndexSettings(indexes=(IndexConfig("pypi", url),)), target, http=http)
        return {n: [c.artifact.filename for c in finder.find(n).candidates] for n in NAMES}


@pytest.mark.parametrize("mode", ["json", "html"])
def test_workers_fetch_and_evaluate_every_page(repo: Path, tmp_path: Path, target: Target, mode: str) -> None:
    with IndexServer(repo, mode=mode, cache_control="max-age=600") as srv:
        out = run_finder(srv.url, tmp_path / "cache")
        assert out["workers"] is True and len(out["pids"]) == 2
        # the finder's own client sent no request: every page was a fresh cache hit, with the
        # evaluation the workers stored
        assert out["stats"]["requests"] == 0, out["stats"]
        assert out["stats"]["cache_hits"] == len(NAMES)
        assert list((tmp_path / "cache" / "evaluated").rglob("*.json"))
        assert {p for _m, p, _h in srv.requests} >= {f"/simple/{n}/" for n in NAMES}
        assert out["children"] == 0 and out["alive"] == []  # the workers ended after close()
        # the same answer as without workers
        assert out["found"] == in_process(srv.url, tmp_path / "cache-2", target)
        assert out["found"]["alpha"] == ["alpha-2.0-cp311-cp311-musllinux_1_2_x86_64.whl", "alpha-1.0-py3-none-any.whl"]


def test_pages_that_must_be_revalidated_reuse_the_workers_evaluation(repo: Path, tmp_path: Path) -> None:
    with IndexServer(repo, mode="json", cache_control="max-age=0") as srv:
        out = run_finder(srv.url, tmp_path / "cache")
        assert out["workers"] is True
        # the finder asked again (the index says max-age=0), was told 304, and evaluated nothing
        assert out["stats"]["revalidated"] == len(NAMES) - 1  # a 404 is not revalidated
        assert out["found"]["beta"][0] == "beta-2.0-cp311-cp311-musllinux_1_2_x86_64.whl"


def test_a_failing_page_is_reported_by_the_finder_as_without_workers(repo: Path, tmp_path: Path) -> None:
    with IndexServer(repo, mode="json", fail_status={"/simple/gamma/": 500}) as srv:
        out = run_finder(srv.url, tmp_path / "cache")
        assert out["workers"] is True
        # the finder's own message, after its own retries (the worker tried once)
        assert out["error"].startswith("index pypi: HTTP 500 from ") and "after 4 attempts" in out["error"]
        assert list(out["found"]) == ["alpha", "beta"]  # gamma raised
        gets = [p for m, p, _h in srv.requests if p == "/simple/gamma/"]
        assert len(gets) == 1 + 4
        assert out["children"] == 0


def test_no_workers_in_a_process_with_threads(repo: Path, tmp_path: Path, target: Target) -> None:
    with IndexServer(repo, mode="json") as srv, HttpClient(cache_dir=tmp_path / "cache") as http:
        finder = PackageFinder(IndexSettings(indexes=(IndexConfig("pypi", srv.url),)), target, http=http)
        assert finder.use_workers(2) is False  # this process runs the server in a thread
        assert [c.version.public for c in finder.find("alpha").candidates] == ["2.0", "1.0"]


def test_workers_end_when_their_parent_dies(repo: Path, tmp_path: Path) -> None:
    with IndexServer(repo, mode="json") as srv:
        out = run_finder(srv.url, tmp_path / "cache", mode="die")
    assert out["workers"] is True
    deadline = time.monotonic() + 10
    alive = list(out["pids"])
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.05)
    assert alive == []


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_page_workers_env_turns_them_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from muslin.index.warmer import WORKERS, default_workers

    monkeypatch.setenv("MUSLIN_PAGE_WORKERS", "0")
    assert default_workers() == 0
    monkeypatch.setenv("MUSLIN_PAGE_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.delenv("MUSLIN_PAGE_WORKERS")
    assert default_workers() == (WORKERS if len(os.sched_getaffinity(0)) >= 2 else 0)


def test_ctrl_c_during_a_plan_leaves_no_worker(repo: Path, tmp_path: Path) -> None:
    import signal

    with IndexServer(repo, mode="json", delay=3.0) as srv:
        env = {**os.environ, "MUSLIN_CACHE_DIR": str(tmp_path / "cache"), "MUSLIN_PAGE_WORKERS": "2"}
        cmd = [sys.executable, "-m", "muslin", "plan", "alpine:3.18", "--profile", "alpine:3.18",
               "--default-index", srv.url, "alpha", "beta", "gamma", "delta"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        children: list[int] = []
        deadline = time.monotonic() + 20
        while len(children) < 2 and time.monotonic() < deadline:
            children = _children(proc.pid)
            time.sleep(0.05)
        assert len(children) == 2  # the page workers
        while not srv.requests and time.monotonic() < deadline:
            time.sleep(0.05)  # a page is being fetched (slowly)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not [pid for pid in children if _running(pid)]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]
