"""Project page parsing: PEP 503 HTML, PEP 691 JSON, find-links, unreadable pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muslin.errors import NetworkError
from muslin.index.collector import (
    ACCEPT,
    Collector,
    JsonEntries,
    parse_html,
    parse_json,
    parse_json_deferred,
    project_of,
    scan_json,
)
from muslin.index.config import IndexConfig
from muslin.index.evaluator import NameFilter
from muslin.index.http import HttpClient
from muslin.target.target import Target
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


TARGET = Target((3, 11), "3.11.6", (1, 2), "x86_64", "linux/amd64")


def _big_page() -> dict[str, object]:
    """A PEP 691 page shaped like PyPI's (sorted keys), with the awkward parts real pages have."""
    files: list[dict[str, object]] = []
    tags = [
        "cp311-cp311-musllinux_1_2_x86_64", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp310-cp310-musllinux_1_1_x86_64", "cp39-abi3-musllinux_1_1_x86_64", "py3-none-any",
        "cp311-cp311-win_amd64", "cp312-cp312-musllinux_1_2_aarch64", "pp310-pypy310_pp73-musllinux_1_1_x86_64",
        "cp311-cp311-manylinux_2_28_x86_64.musllinux_1_2_x86_64",
    ]
    for minor in range(40):
        version = f"1.{minor}"
        for tag in tags:
            files.append({
                "core-metadata": {"sha256": f"{minor:064x}"} if minor % 2 else False,
                "data-dist-info-metadata": {"sha256": f"{minor:064x}"} if minor % 2 else False,
                "filename": f"pkg-{version}-{tag}.whl",
                "hashes": {"sha256": f"{minor + 1:064x}"},
                "requires-python": ">=3.12" if minor == 39 else ">=3.8",
                "size": 1000 + minor,
                "upload-time": "2024-01-01T00:00:00.000000Z",
                "url": f"https://files.example/pkg-{version}-{tag}.whl",
                # yanked reasons hold escaped quotes and the very text entries are separated by
                "yanked": 'broken "build"}, {"filename": "pkg-9.9-py3-none-any.whl"' if minor == 7 else False,
            })
        files.append({"filename": f"pkg-{version}.tar.gz", "hashes": {"sha256": "ab" * 32}, "size": 5,
                      "url": f"https://files.example/pkg-{version}.tar.gz", "yanked": False})
    files.append({"filename": "pkg-2.0-cp311-cp311.whl", "hashes": {}, "url": "https://files.example/odd.whl"})
    return {"files": files, "meta": {"_last-serial": "1", "api-version": "1.1"}, "name": "pkg",
            "versions": [f"1.{m}" for m in range(40)]}


@pytest.mark.parametrize("spacing", ["pypi", "compact", "mixed"])
def test_json_scan_reads_only_fitting_entries_and_agrees_with_a_full_parse(spacing: str) -> None:
    # PyPI writes ``"filename": "``; other indexes write compact JSON, or (here) a mix of both
    body = json.dumps(_big_page(), separators=(",", ":") if spacing == "compact" else None).encode()
    if spacing == "mixed":
        body = body.replace(b'"filename": "', b'"filename" :"', 7)
    full = parse_json_deferred(body, PAGE, "pypi", "pkg", NameFilter(TARGET).defer)
    scanned = scan_json(body, PAGE, NameFilter(TARGET).defer)
    assert scanned is not None
    more = scanned.more
    # located, not decoded: each entry is decoded when asked for, in any order
    kept = scanned.entries.read(scanned.kept)
    assert kept == [f for f in full if not isinstance(f, str)]
    assert scanned.entries.read(scanned.kept[::-1]) == kept[::-1]
    assert [name for name, _at in scanned.kept] == [f.filename for f in kept]
    assert more.size == len(full) - len(kept)
    assert list(more) == [f for f in full if isinstance(f, str)]
    # 40 releases of 9 wheels and an sdist, one odd name: cp311 musllinux, abi3, py3, and the
    # compressed manylinux+musllinux wheel are read; cp310/win/aarch64/pypy/manylinux/sdists and
    # the odd name (no platform of the target in its last part) are not
    assert len(kept) == 40 * 4
    assert {f.filename.split("-", 2)[2] for f in kept} >= {"cp39-abi3-musllinux_1_1_x86_64.whl"}
    assert "pkg-2.0-cp311-cp311.whl" in list(more)
    yanked = [f for f in kept if f.yanked]
    assert yanked and yanked[0].yanked_reason == 'broken "build"}, {"filename": "pkg-9.9-py3-none-any.whl"'


@pytest.mark.parametrize(
    "case",
    ["pretty-printed", "escaped name", "nothing fits", "not an object", "not utf-8", "nested filename"],
)
def test_json_scan_declines_pages_of_another_shape(case: str) -> None:
    page = _big_page()
    files = page["files"]
    assert isinstance(files, list)
    body = json.dumps(page).encode()
    if case == "pretty-printed":
        body = json.dumps(page, indent=1).encode()
    elif case == "escaped name":
        files.insert(3, {"filename": "pk\u00e9-1.0-py3-none-any.whl", "url": "x", "hashes": {}})
        body = json.dumps(page).encode()  # ensure_ascii: the name is written with a \\u escape
    elif case == "nothing fits":
        page["files"] = [f for f in files if str(f["filename"]).endswith(".tar.gz")]
        body = json.dumps(page).encode()
    elif case == "not an object":
        body = b"[" + body + b"]"
    elif case == "not utf-8":
        body = body.replace(b'"name": "pkg"', b'"name": "pk\xff"')
    elif case == "nested filename":
        files[5]["_extra"] = {"filename": "pkg-1.0-py3-none-any.whl"}
        body = json.dumps(page, sort_keys=True).encode()
    assert scan_json(body, PAGE, NameFilter(TARGET).defer) is None


def test_json_entries_fall_back_to_the_whole_page_when_an_entry_is_not_where_it_was_found() -> None:
    page = _big_page()
    body = json.dumps(page).encode()
    scanned = scan_json(body, PAGE, NameFilter(TARGET).defer)
    assert scanned is not None
    expected = scanned.entries.read(scanned.kept)
    # offsets that point at other entries (an unusual layout): the page is parsed whole once
    offsets = [at for _name, at in scanned.kept]
    shifted = [(name, at) for (name, _at), at in zip(scanned.kept, offsets[1:] + offsets[:1], strict=True)]
    entries = JsonEntries(body.decode(), PAGE, "pypi", "pkg")
    assert entries.read(shifted) == expected
    # a name the whole page does not list is no file
    assert entries.read([("pkg-7.0-py3-none-any.whl", 0)]) == []
    # a page that is not JSON at all is unreadable, one clear error
    broken = JsonEntries(body.decode()[:-200], PAGE, "pypi", "pkg")
    with pytest.raises(NetworkError, match="index pypi returned an unreadable page for pkg"):
        broken.read(shifted)


def test_name_filter_defers_only_names_that_cannot_fit() -> None:
    defer = NameFilter(TARGET).defer
    assert defer("pkg-1.0.tar.gz") and defer("pkg-1.0-cp311-cp311-win_amd64.whl")
    assert defer("pkg-1.0-cp312-cp312-musllinux_1_2_x86_64.whl")  # another Python
    assert not defer("pkg-1.0-cp311-cp311-MUSLLINUX_1_2_X86_64.whl")  # tags compare lower-case
    assert not defer("pkg-1.0-py2.py3-none-any.whl")
    assert not defer("pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.musllinux_1_1_x86_64.whl")
    # a name of another shape: deferred when its last part holds no target platform (it is a
    # rejection whatever it is; the evaluator tells why when asked), else the evaluator says why now
    assert defer("pkg-1.0-cp311.whl") and defer("a-b-c-d-e-f-g.whl")
    assert not defer("pkg-musllinux_1_2_x86_64.whl") and not defer("a-b-c-d-e-f-any.whl")
    assert not NameFilter(TARGET, accept_linux=True).defer("pkg-1.0-cp311-cp311-linux_x86_64.whl")
    assert defer("pkg-1.0-cp311-cp311-linux_x86_64.whl")


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


def test_find_links_dir_with_percent_in_its_name(tmp_path: Path, http: HttpClient) -> None:
    """A ``file:`` URL is decoded once: a directory literally named ``wheels%41`` is not ``wheelsA``."""
    d = tmp_path / "wheels%41"
    build_wheel(d, "foo", "1.0")
    (tmp_path / "wheelsA").mkdir()
    assert d.as_uri().endswith("/wheels%2541")
    page = Collector(http).project_page(IndexConfig("fl", d.as_uri(), kind="find-links"), "foo")
    assert page.found and [f.filename for f in page.files] == ["foo-1.0-py3-none-any.whl"]
