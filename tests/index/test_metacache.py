"""The METADATA cache: one SQLite file, by wheel sha256; never an error, even when broken."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from muslin.index.metacache import MetadataCache

META = b"Metadata-Version: 2.1\nName: alpha\nVersion: 2.0\nRequires-Dist: beta>=2\n"


def test_entries_stored_at_once_are_read_by_another_process_s_cache(tmp_path: Path) -> None:
    path = tmp_path / "http" / "metadata.sqlite"
    first = MetadataCache(path)
    assert first.get("a" * 64) is None
    first.put_many({"a" * 64: META, "b" * 64: b"Name: beta\n"})
    first.close()
    again = MetadataCache(path)
    assert again.get("a" * 64) == META and again.get("b" * 64) == b"Name: beta\n"
    assert again.get("c" * 64) is None
    again.put_many({"a" * 64: META})  # the same wheel again: no conflict
    again.close()
    assert [p.name for p in path.parent.iterdir()] == ["metadata.sqlite"]  # one file, no journal left


def test_a_file_that_is_not_a_database_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "metadata.sqlite"
    path.write_bytes(b"this is not an SQLite database, it is garbage " * 100)
    cache = MetadataCache(path)
    assert cache.get("a" * 64) is None  # a miss, not an error
    cache.put_many({"a" * 64: META})
    cache.close()
    assert MetadataCache(path).get("a" * 64) == META


def test_a_cache_that_cannot_be_made_is_a_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    cache = MetadataCache(blocker / "metadata.sqlite")
    with caplog.at_level(logging.WARNING, logger="muslin.index.metacache"):
        assert cache.get("a" * 64) is None
        cache.put_many({"a" * 64: META})
    assert "cannot use the metadata cache" in caplog.text
