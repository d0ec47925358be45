"""Project page parsing: PEP 503 HTML, PEP 691 JSON, find-links, unreadable pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muslin.errors import NetworkError
from muslin.index.collector import ACCEPT, Collector, parse_html, parse_json, project_of
from muslin.index.config import IndexConfig
from muslin.index.http import HttpClient
from tests.support.index_server import IndexServer
from tests.support.wheels import build_sdist, build_wheel

PAGE = "https://idx.example/simple/foo/"


def test_html_attributes_and_relative_urls() -> None:
    body = b"""<!DOCTYPE html><html><body>
    <a href="../../files/foo-1.0-py3-none-any.whl#sha256=ABCDEF" data-requires-python="&gt;=3.8,&lt;4"
       data-dist-info-metadata="sha256=1111" data-core-metadata="sha256=2222">foo-1.0-py3-none-any.whl</a>
    <a href="https://cdn.example/x/foo-0.9.tar.gz#md5=00" data-yanked="">foo-0.9.tar.gz</a>
    <a href="foo-0.8-py3-none-any.whl" data-yanked="bad build" data-dist-info-metadata>w</a>
    <a>no href</a>
    </body></html>"""
    files = parse_html(body, PAGE, "pypi", "foo")
    assert len(files) == 3
    a, b, c = files
    assert a.url == "https://idx.example/files/foo-1.0-py3-none-any.whl"
    assert a.sha256 == "abcdef" and a.requires_python == ">=3.8,<4"
    assert a.metadata and a.metadata_sha256 == "2222" and a.metadata_url == a.url + ".metadata"
    assert not a.yanked
    assert b.url == "https://cdn.example/x/foo-0.9.tar.gz" and b.sha256 is None
    assert b.yanked and b.yanked_reason is None
    assert c.url == "https://idx.example/simple/foo/foo-0.8-py3-none-any.whl"
    assert c.yanked and c.yanked_reason == "bad build" and c.metadata and c.metadata_sha256 is None


def test_html_base_href() -> None:
    body = b'<html><head><base href="https://mirror.example/pkgs/"></head><body><a href="foo-1.0.tar.gz">x</a></body></html>'
    (f,) = parse_html(body, PAGE, "pypi", "foo")
    assert f.url == "https://mirror.example/pkgs/foo-1.0.tar.gz"


def test_html_garbage() -> None:
    with pytest.raises(NetworkError, match=r"^index musl returned an unreadable page for foo$"):
        parse_html(b"\x00\x01PK garbage", PAGE, "musl", "foo")
    with pytest.raises(NetworkError):
        parse_html(b"\xff\xfe not utf8 \xff", PAGE, "musl", "foo")
    with pytest.raises(NetworkError):
        parse_html(b"plain text without any markup", PAGE, "musl", "foo")
    assert parse_html(b"<html><body></body></html>", PAGE, "musl", "foo") == []


def test_json_page() -> None:
    doc = {
        "meta": {"api-version": "1.1"},
        "name": "foo",
        "files": [
            {"filename": "foo-1.0-py3-none-any.whl", "url": "../../f/foo-1.0-py3-none-any.whl",
             "hashes": {"sha256": "AA"}, "requires-python": ">=3.9", "core-metadata": {"sha256": "BB"},
             "size": 10},
            {"filename": "foo-0.9.tar.gz", "url": "https://x.example/foo-0.9.tar.gz", "hashes": {},
             "yanked": "security", "dist-info-metadata": False},
            {"filename": "foo-0.8-py3-none-any.whl", "url": "foo-0.8-py3-none-any.whl", "hashes": {},
             "yanked": True, "dist-info-metadata": True},
        ],
    }
    a, b, c = parse_json(json.dumps(doc).encode(), PAGE, "pypi", "foo")
    assert a.url == "https://idx.example/f/foo-1.0-py3-none-any.whl" and a.sha256 == "aa"
    assert a.requires_python == ">=3.9" and a.metadata_sha256 == "bb" and a.size == 10
    assert b.yanked and b.yanked_reason == "security" and not b.metadata and b.sha256 is None
    assert c.yanked and c.yanked_reason is None and c.metadata
    with pytest.raises(NetworkError, match="unreadable page for foo"):
        parse_json(b'{"files": [{"url": "x"}]}', PAGE, "pypi", "foo")
    with pytest.raises(NetworkError):
        parse_json(b"{not json", PAGE, "pypi", "foo")


def test_project_of() -> None:
    assert project_of("Foo_Bar-1.0-py3-none-any.whl") == "foo-bar"
    assert project_of("foo.bar-1.0.tar.gz") == "foo-bar"
    assert project_of("README.txt") is None
    assert project_of("bad.whl") is None


def test_collector_negotiates_json_and_html(tmp_path: Path, http: HttpClient) -> None:
    build_wheel(tmp_path, "Foo.Bar", "1.0", requires_python=">=3.8")
    build_sdist(tmp_path, "foo-bar", "1.0")
    col = Collector(http)
    for mode, ctype in [("json", "json"), ("html", "html"), ("alpine-wheels", "html")]:
        with IndexServer(tmp_path, mode=mode) as srv:
            page = col.project_page(IndexConfig(mode, srv.url), "Foo_Bar")
            assert page.found and page.name == "foo-bar"
            assert {f.filename for f in page.files} == {"foo_bar-1.0-py3-none-any.whl", "foo_bar-1.0.tar.gz"}
            assert all(f.url.startswith(srv.base + "/files/") for f in page.files)
            assert all(f.sha256 and len(f.sha256) == 64 for f in page.files)
            whl = next(f for f in page.files if f.filename.endswith(".whl"))
            if mode == "alpine-wheels":
                assert whl.requires_python is None and not whl.metadata
            else:
                assert whl.requires_python == ">=3.8"
            assert whl.metadata == (mode == "json")
            (_m, p, h) = srv.requests[0]
            assert p == "/simple/foo-bar/" and h["Accept"] == ACCEPT
            assert ctype
            missing = col.project_page(IndexConfig(mode, srv.url), "nothing-here")
            assert not missing.found and missing.files == ()


def test_find_links_missing_dir(tmp_path: Path, http: HttpClient) -> None:
    col = Collector(http)
    with pytest.raises(NetworkError, match="no such directory"):
        col.project_page(IndexConfig("fl", str(tmp_path / "nope"), kind="find-links"), "foo")
    build_wheel(tmp_path / "d", "foo", "1.0")
    page = col.project_page(IndexConfig("fl", (tmp_path / "d").as_uri(), kind="find-links"), "foo")
    assert page.found and page.files[0].url.startswith("file:///")
