"""The resolution cache: a re-plan with unchanged inputs and fresh pages reuses the last resolution.

A real PEP 691 index server on 127.0.0.1 serving wheels built by the test;
"reused" is observed by making the resolver unusable for the second plan.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.index_server import IndexServer
from support.wheels import build_wheel

import muslin.resolve.resolver as resolver_module
from muslin.plan.planner import PlanRequest, make_plan


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSLIN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_URL",
                "UV_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "index"
    root.mkdir()
    build_wheel(root, "app", "1.0", requires=["dep>=1"])
    build_wheel(root, "dep", "1.0")
    return root


def _server(repo: Path, cache_control: str) -> IndexServer:
    return IndexServer(repo, mode="json", cache_control=cache_control)


def _plan(url: str, *reqs: str, refresh: bool = False) -> dict[str, str]:
    request = PlanRequest(
        image="alpine:3.18", profile="alpine:3.18", requirements=reqs, default_index=url, refresh=refresh
    )
    return {item.name: item.version for item in make_plan(request).plan.items}


def _no_resolving(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("resolved again instead of reusing the cached resolution")

    monkeypatch.setattr(resolver_module, "resolve", refuse)


@pytest.fixture
def fresh_index(repo: Path) -> Iterator[IndexServer]:
    with _server(repo, "max-age=600") as server:
        yield server


def test_unchanged_inputs_reuse_the_resolution(
    fresh_index: IndexServer, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _plan(fresh_index.url, "app")
    assert first == {"app": "1.0", "dep": "1.0"}
    fresh_index.clear_requests()
    with monkeypatch.context() as m:
        _no_resolving(m)
        assert _plan(fresh_index.url, "app") == first
    assert fresh_index.requests == []  # nothing fetched either


def test_other_inputs_or_refresh_resolve_again(
    fresh_index: IndexServer, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _plan(fresh_index.url, "app") == {"app": "1.0", "dep": "1.0"}
    build_wheel(repo, "dep", "2.0")
    # other requirements: another key
    assert _plan(fresh_index.url, "app", "dep>=1") == {"app": "1.0", "dep": "1.0"}
    # --refresh revalidates the pages and bypasses the resolution cache
    assert _plan(fresh_index.url, "app", refresh=True) == {"app": "1.0", "dep": "2.0"}
    with monkeypatch.context() as m:
        _no_resolving(m)
        assert _plan(fresh_index.url, "app") == {"app": "1.0", "dep": "2.0"}


def test_stale_pages_are_not_trusted(repo: Path) -> None:
    with _server(repo, "max-age=0") as server:
        assert _plan(server.url, "app") == {"app": "1.0", "dep": "1.0"}
        build_wheel(repo, "dep", "3.0")
        assert _plan(server.url, "app") == {"app": "1.0", "dep": "3.0"}


def test_local_find_links_directory_is_fingerprinted(tmp_path: Path, repo: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    build_wheel(links, "dep", "1.5")
    with _server(repo, "max-age=600") as server:
        request = PlanRequest(
            image="alpine:3.18", profile="alpine:3.18", requirements=("app",), default_index=server.url,
            find_links=(str(links),),
        )
        assert {i.name: i.version for i in make_plan(request).plan.items}["dep"] == "1.5"
        build_wheel(links, "dep", "1.6")
        assert {i.name: i.version for i in make_plan(request).plan.items}["dep"] == "1.6"


def _loaded_after_plan(index_url: str, cache: Path, modules: tuple[str, ...]) -> list[str]:
    """Run ``muslin plan`` in a fresh interpreter; which of ``modules`` it left imported."""
    probe = (
        "import sys, runpy\n"
        "modules = sys.argv.pop(1).split(',')\n"
        "sys.argv = ['muslin', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('muslin', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print('loaded:' + ','.join(sorted(m for m in modules if sys.modules.get(m) is not None)))\n"
    )
    env = {**os.environ, "MUSLIN_CACHE_DIR": str(cache)}
    args = ["plan", "alpine:3.18", "--profile", "alpine:3.18", "--default-index", index_url, "app", "--json"]
    out = subprocess.run(
        [sys.executable, "-c", probe, ",".join(modules), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    loaded = out.stdout.rstrip().splitlines()[-1].removeprefix("loaded:")
    return loaded.split(",") if loaded else []


def test_a_reused_resolution_does_not_load_the_http_stack(fresh_index: IndexServer, tmp_path: Path) -> None:
    """A warm re-plan reads caches only: httpx and h2 (~40 ms of imports) stay unloaded."""
    _plan(fresh_index.url, "app")
    fresh_index.clear_requests()
    assert _loaded_after_plan(fresh_index.url, tmp_path / "cache", ("httpx", "h2", "ssl")) == []
    assert fresh_index.requests == []  # the cached resolution was used


def test_a_cold_plan_over_http11_leaves_out_what_it_never_runs(fresh_index: IndexServer, tmp_path: Path) -> None:
    """A plan fetched through httpx (plain http) does not import httpx's command line, nor the
    trio/anyio that httpcore imports for async locks (~60 ms where installed): only blocking requests."""
    loaded = _loaded_after_plan(fresh_index.url, tmp_path / "cold", ("httpx", "httpx._main", "trio", "anyio"))
    assert fresh_index.requests  # fetched, over HTTP/1.1
    assert loaded == ["httpx"]
