"""Fixtures for the index tests: an isolated cache, a 3.11/musl 1.2/x86_64 target, wheels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from muslin.index.http import HttpClient
from muslin.target.target import Target


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MUSLIN_CACHE_DIR", str(root))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    return root


@pytest.fixture
def http(cache_dir: Path) -> Iterator[HttpClient]:
    client = HttpClient(cache_dir=cache_dir / "http", backoff=0.01, timeout=2.0, max_total_wait=2.0)
    yield client
    client.close()


@pytest.fixture
def target() -> Target:
    return Target((3, 11), "3.11.6", (1, 2), "x86_64", "linux/amd64")
