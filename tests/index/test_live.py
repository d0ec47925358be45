"""Live PyPI checks of the index side (``pytest -m live``)."""

from __future__ import annotations

import pytest

from muslin.index.config import IndexSettings
from muslin.index.finder import PackageFinder
from muslin.index.http import HttpClient
from muslin.target.target import Target

pytestmark = pytest.mark.live


def test_pypi_cryptography_musllinux(http: HttpClient) -> None:
    target = Target((3, 11), "3.11.6", (1, 2), "x86_64", "linux/amd64")
    f = PackageFinder(IndexSettings().with_default_pypi(), target, http=http)
    f.prefetch(["cryptography", "pyyaml", "cffi"])
    cs = f.find("cryptography")
    assert cs.index == "pypi"
    best = next(c for c in cs.candidates if not c.yanked)
    assert "musllinux_1_" in best.artifact.filename or best.artifact.filename.endswith("none-any.whl")
    assert len(best.artifact.sha256) == 64
    old = [r for r in cs.rejections if r.version == "41.0.3"]
    assert any(r.kind == "sdist" for r in old)
    assert any(r.kind == "tags" and "manylinux" in r.reason for r in old)
    meta = f.metadata(best)
    assert any(r.name == "cffi" for r in meta.requires_dist)
    assert f.find("pyyaml").candidates[0].tag_rank == 0
