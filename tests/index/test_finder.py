"""PackageFinder against real index servers on 127.0.0.1 serving real wheels."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from muslin.errors import AuthenticationError, HashMismatchError, NetworkError, UsageError
from muslin.index.candidate import CandidateSet, LazyCandidates
from muslin.index.config import IndexConfig, IndexPin, IndexSettings, IndexStrategy
from muslin.index.finder import PackageFinder
from muslin.index.http import HttpClient
from muslin.resolve.provider import Req
from muslin.resolve.resolver import resolve
from muslin.target.target import Target
from tests.support.index_server import IndexServer
from tests.support.wheels import build_sdist, build_wheel

MUSL = "cp311-cp311-musllinux_1_2_x86_64"
N = canonicalize_name


def settings(*indexes: IndexConfig, **kw: object) -> IndexSettings:
    return IndexSettings(indexes=indexes, **kw)  # type: ignore[arg-type]


def wheel_files(server: IndexServer) -> list[str]:
    return [p for m, p, h in server.requests if p.endswith(".whl")]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    d = tmp_path / "repo"
    build_wheel(d, "alpha", "1.0", requires=["beta>=1"])
    build_wheel(d, "alpha", "2.0", requires=["beta>=2", 'gamma; python_version < "3.11"'], padding=200_000)
    build_wheel(d, "alpha", "2.0", tags=MUSL, requires=["beta>=2"])
    build_wheel(d, "alpha", "3.0", requires_python=">=3.12")
    build_wheel(d, "beta", "2.1", tags="cp311-cp311-manylinux_2_17_x86_64")
    build_wheel(d, "beta", "2.0", tags=MUSL)
    build_sdist(d, "beta", "2.1")
    build_sdist(d, "sdistonly", "3.2.0")
    build_sdist(d, "sdistonly", "3.2.1")
    build_wheel(d, "sdistonly", "3.2.1", tags="cp311-cp311-manylinux_2_28_x86_64")
    return d


def test_json_index_pep658(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="json") as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        cs = f.find("Alpha")
        assert cs.index == "pypi"
        assert [str(c.version) for c in cs.candidates] == ["2.0", "2.0", "1.0"]
        assert cs.candidates[0].artifact.filename.endswith(MUSL + ".whl")  # best tag first
        assert all(len(c.artifact.sha256) == 64 for c in cs.candidates)
        assert [r.reason for r in cs.rejections] == ["requires-python >=3.12 (target 3.11.6)"]
        meta = f.metadata(cs.candidates[0])
        assert [str(r) for r in meta.requires_dist] == ["beta>=2"]
        assert meta.version == "2.0"
        assert wheel_files(srv) == []  # PEP 658 used, no wheel downloaded
        assert any(p.endswith(".whl.metadata") for p in srv.paths())
        accept = [h.get("Accept", "") for m, p, h in srv.requests if p == "/simple/alpha/"]
        assert accept and accept[0].startswith("application/vnd.pypi.simple.v1+json")
        # metadata is cached by sha256 on disk, when the finder closes
        f.close()
        srv.clear_requests()
        f2 = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        f2.metadata(cs.candidates[0])
        assert not any(p.endswith(".metadata") for p in srv.paths())


def test_html_index_range_metadata(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="html", yanked={"alpha-1.0-py3-none-any.whl": "broken"}) as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        cs = f.find("alpha")
        assert [c.yanked for c in cs.candidates] == [False, False, True]
        assert cs.rejections[0].kind == "requires-python"
        big = next(c for c in cs.candidates if c.artifact.filename == "alpha-2.0-py3-none-any.whl")
        meta = f.metadata(big)
        assert "beta>=2" in [str(r) for r in meta.requires_dist]
        assert 'gamma; python_version < "3.11"' in [str(r) for r in meta.requires_dist]
        gets = [(p, h.get("Range")) for m, p, h in srv.requests if p.endswith(".whl")]
        assert gets and all(rng is not None for _, rng in gets)  # only ranged reads
        assert len(gets) <= 3


def test_range_metadata_of_a_big_wheel_reads_little(tmp_path: Path, http: HttpClient, target: Target) -> None:
    """A wheel with a big zip directory (numpy-like): its METADATA in two small ranged reads."""
    d = tmp_path / "big"
    files: dict[str, bytes | str] = {f"bigpkg/mod_{i:04d}/__init__.py": f"x = {i}\n" for i in range(1500)}
    files["bigpkg/_blob.bin"] = random.Random(0).randbytes(3_000_000)
    wheel = build_wheel(d, "bigpkg", "1.0", requires=["beta>=1"], files=files)
    with IndexServer(d, mode="html") as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        (cand,) = f.find("bigpkg").candidates
        assert [str(r) for r in f.metadata(cand).requires_dist] == ["beta>=1"]
        ranges = [str(h.get("Range")) for m, p, h in srv.requests if p.endswith(".whl")]
        # the tail, then the METADATA member alone: not the ~100 KB directory
        assert ranges[0] == "bytes=-16384" and len(ranges) == 2, ranges
        first, last = ranges[1].removeprefix("bytes=").split("-")
        assert int(last) - int(first) < 20_000 and wheel.stat().st_size > 3_000_000


def test_no_range_server_metadata_and_remembered(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="html", ranges=False) as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        c1, _c2, c3 = f.find("alpha").candidates
        assert [str(r) for r in f.metadata(c1).requires_dist] == ["beta>=2"]
        first = [h.get("Range") for m, p, h in srv.requests if p.endswith(".whl")]
        assert first == ["bytes=-16384"]  # tried once, got the full body
        srv.clear_requests()
        assert [str(r) for r in f.metadata(c3).requires_dist] == ["beta>=1"]
        again = [h.get("Range") for m, p, h in srv.requests if p.endswith(".whl")]
        assert again == [None]  # remembered: plain download


def test_sdist_only_and_tag_rejections(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="json") as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        cs = f.find("sdistonly")
        assert cs.candidates == ()
        kinds = sorted((r.version, r.kind) for r in cs.rejections)
        assert kinds == [("3.2.0", "sdist"), ("3.2.1", "sdist"), ("3.2.1", "tags")]
        tag_rej = next(r for r in cs.rejections if r.kind == "tags")
        assert tag_rej.tags == ("cp311-cp311-manylinux_2_28_x86_64",)
        assert "manylinux_2_28_x86_64" in tag_rej.reason
        assert all(r.reason == "sdist only" for r in cs.rejections if r.kind == "sdist")


def test_alpine_wheels_linux_tags(tmp_path: Path, http: HttpClient, target: Target) -> None:
    d = tmp_path / "aw"
    build_wheel(d, "cryptography", "41.0.3", tags="cp311-cp311-linux_x86_64")
    with IndexServer(d, mode="alpine-wheels") as srv:
        off = PackageFinder(settings(IndexConfig("musl", srv.url)), target, http=http)
        cs = off.find("cryptography")
        assert cs.index == "musl" and cs.candidates == ()
        assert "accept-linux-tags" in cs.rejections[0].reason
        on = PackageFinder(settings(IndexConfig("musl", srv.url, accept_linux_tags=True)), target, http=http)
        cs = on.find("cryptography")
        assert [str(c.version) for c in cs.candidates] == ["41.0.3"]
        meta = on.metadata(cs.candidates[0])  # no metadata files: range read
        assert meta.name == "cryptography"
        assert not any(p.endswith(".metadata") for p in srv.paths())


@pytest.fixture
def two_indexes(tmp_path: Path) -> tuple[Path, Path]:
    musl, pypi = tmp_path / "musl", tmp_path / "pypi"
    build_wheel(musl, "cryptography", "41.0.1", tags=MUSL, requires=["cffi"])
    build_wheel(pypi, "cryptography", "41.0.3", tags=MUSL, requires=["cffi"])
    build_wheel(pypi, "cryptography", "41.0.1", tags=MUSL, requires=["cffi"])
    build_wheel(musl, "cffi", "1.15.0", tags=MUSL)
    build_wheel(pypi, "cffi", "1.16.0", tags=MUSL)
    build_wheel(pypi, "six", "1.16.0")
    return musl, pypi


def test_first_index_vs_best_match(two_indexes: tuple[Path, Path], http: HttpClient, target: Target) -> None:
    musl_dir, pypi_dir = two_indexes
    with IndexServer(musl_dir, mode="html") as musl, IndexServer(pypi_dir, mode="json") as pypi:
        ixs = (IndexConfig("musl", musl.url), IndexConfig("pypi", pypi.url, default=True))
        f = PackageFinder(settings(*ixs), target, http=http)
        cs = f.find("cryptography")
        assert cs.index == "musl" and [str(c.version) for c in cs.candidates] == ["41.0.1"]
        assert not any(p.startswith("/simple/cryptography") for p in pypi.paths())  # not fetched
        other = f.find_on("cryptography", "pypi")
        assert other.index == "pypi" and str(other.candidates[0].version) == "41.0.3"
        assert f.find("six").index == "pypi"  # not on musl (404) -> next index
        best = PackageFinder(settings(*ixs, strategy=IndexStrategy.UNSAFE_BEST_MATCH), target, http=http)
        cs = best.find("cryptography")
        assert [(str(c.version), c.artifact.index) for c in cs.candidates] == [
            ("41.0.3", "pypi"), ("41.0.1", "musl"), ("41.0.1", "pypi"),
        ]
        assert cs.index == "musl" and cs.also_on == ("pypi",)
        first = PackageFinder(settings(*ixs, strategy=IndexStrategy.UNSAFE_FIRST_MATCH), target, http=http)
        cs = first.find("cryptography")
        assert [(str(c.version), c.artifact.index) for c in cs.candidates] == [  # musl's versions first
            ("41.0.1", "musl"), ("41.0.3", "pypi"), ("41.0.1", "pypi"),
        ]
        assert cs.index == "musl" and cs.also_on == ("pypi",)
        with pytest.raises(UsageError):
            f.find_on("six", "nope")


def test_pins_including_transitive(two_indexes: tuple[Path, Path], http: HttpClient, target: Target) -> None:
    musl_dir, pypi_dir = two_indexes
    with IndexServer(musl_dir, mode="html") as musl, IndexServer(pypi_dir, mode="json") as pypi:
        ixs = (IndexConfig("musl", musl.url), IndexConfig("pypi", pypi.url, default=True))
        pins = (IndexPin(N("cryptography"), "pypi"), IndexPin(N("cffi"), "pypi"))
        f = PackageFinder(settings(*ixs, pins=pins), target, http=http)
        cs = f.find("cryptography")
        assert cs.index == "pypi" and str(cs.candidates[0].version) == "41.0.3"
        dep = f.metadata(cs.candidates[0]).requires_dist[0]
        assert dep.name == "cffi"
        dcs = f.find(dep.name)  # transitive dependency: the pin still applies
        assert dcs.index == "pypi" and str(dcs.candidates[0].version) == "1.16.0"
        assert not any(p.startswith(("/simple/cryptography", "/simple/cffi")) for p in musl.paths())
        assert f.pinned_index("CFFI") == "pypi"
        # a pin whose marker is false on this target does not apply
        arm_only = (IndexPin(N("cryptography"), "pypi", Marker('platform_machine == "aarch64"')),)
        g = PackageFinder(settings(*ixs, pins=arm_only), target, http=http)
        assert g.find("cryptography").index == "musl"
        # explicit index: only for pinned names
        ixs2 = (IndexConfig("musl", musl.url, explicit=True), IndexConfig("pypi", pypi.url, default=True))
        h = PackageFinder(settings(*ixs2, pins=(IndexPin(N("cffi"), "musl"),)), target, http=http)
        assert h.find("cryptography").index == "pypi"
        assert h.find("cffi").index == "musl"
        with pytest.raises(UsageError, match="unknown index 'nope'"):
            PackageFinder(settings(*ixs, pins=(IndexPin(N("x"), "nope"),)), target, http=http)


def test_not_listed(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="json") as srv:
        cs = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http).find("nosuch")
        assert cs.index is None and cs.candidates == () and cs.rejections == ()


def test_5xx_retries_then_error(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="json", fail_status={"/simple/alpha/": 500, "/simple/beta/": (503, 2)}) as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        with pytest.raises(NetworkError, match=r"HTTP 500 from http://127\.0\.0\.1:\d+/simple/alpha/ after 4 attempts"):
            f.find("alpha")
        assert srv.paths().count("/simple/alpha/") == 4
        assert f.find("beta").candidates  # recovered after two 503s
        assert srv.paths().count("/simple/beta/") == 3


def test_429_retry_after(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="json", fail_status={"/simple/beta/": (429, 1)}) as srv:
        cs = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http).find("beta")
        assert cs.candidates and srv.paths().count("/simple/beta/") == 2


def test_timeout(repo: Path, cache_dir: Path, target: Target) -> None:
    client = HttpClient(cache_dir=cache_dir / "http", timeout=0.3, retries=1, backoff=0.01)
    with IndexServer(repo, mode="json", delay={"/simple/alpha/": 1.0}) as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=client)
        with pytest.raises(NetworkError, match="timed out"):
            f.find("alpha")
    client.close()


def test_connection_refused(http: HttpClient, target: Target) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    f = PackageFinder(settings(IndexConfig("pypi", f"http://127.0.0.1:{port}/simple/")), target, http=http)
    with pytest.raises(NetworkError, match="cannot reach"):
        f.find("alpha")


@pytest.mark.parametrize("mode", ["html", "json"])
def test_garbage_page(repo: Path, http: HttpClient, target: Target, mode: str) -> None:
    with IndexServer(repo, mode=mode, garbage=["alpha"]) as srv:
        f = PackageFinder(settings(IndexConfig("musl", srv.url)), target, http=http)
        with pytest.raises(NetworkError, match=r"^index musl returned an unreadable page for alpha$"):
            f.find("alpha")


def test_auth(repo: Path, http: HttpClient, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    with IndexServer(repo, mode="html", basic_auth=("user", "s3cret-pw")) as srv:
        f = PackageFinder(settings(IndexConfig("priv", srv.url)), target, http=http)
        with pytest.raises(AuthenticationError, match="HTTP 401"):
            f.find("alpha")
        good = PackageFinder(settings(IndexConfig("priv", srv.url_with_auth("user", "s3cret-pw"))), target, http=http)
        cs = good.find("alpha")
        assert cs.candidates and "s3cret" not in cs.candidates[0].artifact.url
        good.metadata(cs.candidates[1])  # file requests carry the index credentials too
        bad = PackageFinder(settings(IndexConfig("priv", srv.url_with_auth("user", "wrong-pw"))), target, http=http)
        with pytest.raises(AuthenticationError) as info:
            bad.find("beta")
        assert "wrong-pw" not in str(info.value) and "user:" not in str(info.value)
        assert "refused" in str(info.value)
        monkeypatch.setenv("MUSLIN_INDEX_PRIV_USERNAME", "user")
        monkeypatch.setenv("MUSLIN_INDEX_PRIV_PASSWORD", "s3cret-pw")
        env = PackageFinder(settings(IndexConfig("priv", srv.url)), target, http=http)
        assert env.find("beta").candidates


def test_netrc(repo: Path, cache_dir: Path, target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rc = tmp_path / "netrc"
    rc.write_text("machine 127.0.0.1 login user password s3cret-pw\n")
    rc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(rc))
    client = HttpClient(cache_dir=cache_dir / "http", backoff=0.01)
    with IndexServer(repo, mode="html", basic_auth=("user", "s3cret-pw")) as srv:
        assert PackageFinder(settings(IndexConfig("priv", srv.url)), target, http=client).find("beta").candidates
    client.close()


def test_download_hash_mismatch(repo: Path, http: HttpClient, target: Target, tmp_path: Path) -> None:
    with IndexServer(repo, mode="json") as srv:
        cs = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http).find("beta")
        art = cs.candidates[0].artifact
        dest = tmp_path / "dl"
        path = http.download(art.url, art.sha256, dest)
        assert path.name == art.filename and path.stat().st_size > 0
        srv.set_file_bytes(art.filename, b"tampered" * 100)
        other = tmp_path / "dl2"
        fresh = HttpClient(cache_dir=tmp_path / "cache2", backoff=0.01)
        with pytest.raises(HashMismatchError, match=r"hash mismatch for beta-2\.0"):
            fresh.download(art.url, art.sha256, other)
        assert list(other.iterdir()) == []
        fresh.close()
        # the verified copy is cached by sha256: no request needed again
        srv.clear_requests()
        again = http.download(art.url, art.sha256, tmp_path / "dl3")
        assert again.read_bytes() == path.read_bytes() and srv.paths() == []


def test_http_cache_and_revalidation(repo: Path, cache_dir: Path, target: Target) -> None:
    with IndexServer(repo, mode="json", cache_control="max-age=600") as srv:
        ix = settings(IndexConfig("pypi", srv.url))
        with HttpClient(cache_dir=cache_dir / "http") as c1:
            PackageFinder(ix, target, http=c1).find("alpha")
        srv.clear_requests()
        with HttpClient(cache_dir=cache_dir / "http") as c2:
            cs = PackageFinder(ix, target, http=c2).find("alpha")
            assert cs.candidates and srv.paths() == []  # fresh: served from cache
        with HttpClient(cache_dir=cache_dir / "http", refresh=True) as c3:
            PackageFinder(ix, target, http=c3).find("alpha")
            assert c3.stats["revalidated"] == 1
        assert srv.requests[-1][2].get("If-None-Match")
    with IndexServer(repo, mode="html", cache_control="max-age=0") as srv2:
        ix2 = settings(IndexConfig("other", srv2.url))
        with HttpClient(cache_dir=cache_dir / "http") as c4:
            PackageFinder(ix2, target, http=c4).find("beta")
        with HttpClient(cache_dir=cache_dir / "http") as c5:
            cs = PackageFinder(ix2, target, http=c5).find("beta")
            assert cs.candidates and c5.stats["revalidated"] == 1
    with IndexServer(repo, mode="html", cache_control=None) as srv4:
        ix4 = settings(IndexConfig("nocc", srv4.url))
        with HttpClient(cache_dir=cache_dir / "http") as c8:
            PackageFinder(ix4, target, http=c8).find("beta")
        srv4.clear_requests()
        with HttpClient(cache_dir=cache_dir / "http") as c9:
            assert PackageFinder(ix4, target, http=c9).find("beta").candidates
            assert srv4.paths() == [] and c9.stats["cache_hits"] == 1  # heuristic freshness
        with HttpClient(cache_dir=cache_dir / "http", default_ttl=0) as c10:
            PackageFinder(ix4, target, http=c10).find("beta")
            assert c10.stats["revalidated"] == 1
    with IndexServer(repo, mode="html", cache_control="no-store") as srv3:
        ix3 = settings(IndexConfig("nostore", srv3.url))
        with HttpClient(cache_dir=cache_dir / "http") as c6:
            PackageFinder(ix3, target, http=c6).find("beta")
        with HttpClient(cache_dir=cache_dir / "http", offline=True) as c7, pytest.raises(NetworkError, match="offline"):
            PackageFinder(ix3, target, http=c7).find("beta")


def test_offline(repo: Path, cache_dir: Path, target: Target) -> None:
    with IndexServer(repo, mode="json") as srv:
        ix = settings(IndexConfig("pypi", srv.url))
        with HttpClient(cache_dir=cache_dir / "http") as warm, PackageFinder(ix, target, http=warm) as f:
            cs = f.find("alpha")
            f.metadata(cs.candidates[0])
        url = srv.url
    # server gone: warm cache still answers
    with HttpClient(cache_dir=cache_dir / "http") as c:
        f = PackageFinder(ix, target, http=c, offline=True)
        cs2 = f.find("alpha")
        assert [c.artifact.sha256 for c in cs2.candidates] == [c.artifact.sha256 for c in cs.candidates]
        assert f.metadata(cs2.candidates[0]).requires_dist
        with pytest.raises(NetworkError, match="^" + re.escape(f"offline: not in cache: {url}beta/") + "$"):
            f.find("beta")


def test_prefetch_parallel(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="json", delay=0.2) as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        import time

        t0 = time.monotonic()
        f.prefetch(["alpha", "beta", "sdistonly", "nosuch"])
        results = [f.find(n) for n in ["alpha", "beta", "sdistonly", "nosuch"]]
        assert time.monotonic() - t0 < 0.7
        assert [r.index for r in results] == ["pypi", "pypi", "pypi", None]


def test_when_found_calls_back_once_the_page_is_evaluated(repo: Path, http: HttpClient, target: Target) -> None:
    import threading

    got: dict[str, object] = {}
    done = threading.Event()

    def keep(name: str) -> Callable[[CandidateSet], None]:
        def call(cset: CandidateSet) -> None:
            got[name] = cset
            if len(got) == 3:
                done.set()

        return call

    with IndexServer(repo, mode="json", delay={"/simple/alpha/": 0.3}, fail_status={"/simple/beta/": 500}) as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        f.when_found("alpha", keep("alpha"))  # returns at once; the page arrives 0.3 s later
        f.when_found("nosuch", keep("nosuch"))
        f.when_found("beta", keep("beta"))  # fails: nothing is called, find() reports it
        assert "alpha" not in got
        f.when_found("sdistonly", keep("sdistonly"))
        assert done.wait(5)
        assert set(got) == {"alpha", "nosuch", "sdistonly"}
        assert got["alpha"] == f.find("alpha") and str(f.find("alpha").candidates[0].version) == "2.0"
        assert got["nosuch"] == f.find("nosuch") and f.find("nosuch").index is None
        f.when_found("alpha", keep("again"))  # known already: called right away, on this thread
        assert got["again"] is got["alpha"]
        with pytest.raises(NetworkError, match="HTTP 500"):
            f.find("beta")
        assert srv.paths().count("/simple/alpha/") == 1


def test_hashless_index(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="html", hashes=False) as srv:
        f = PackageFinder(settings(IndexConfig("nohash", srv.url)), target, http=http)
        c = f.find("beta").candidates[0]
        assert c.artifact.sha256 == ""
        full = f.with_hash(c)
        import hashlib

        assert full.artifact.sha256 == hashlib.sha256((repo / c.artifact.filename).read_bytes()).hexdigest()
        assert f.metadata(c).name == "beta"


def test_find_links_dir_and_page(repo: Path, http: HttpClient, target: Target) -> None:
    f = PackageFinder(settings(IndexConfig("local", str(repo), kind="find-links")), target, http=http)
    cs = f.find("beta")
    assert cs.index == "local" and [c.artifact.filename for c in cs.candidates] == [f"beta-2.0-{MUSL}.whl"]
    assert cs.candidates[0].artifact.url.startswith("file://")
    assert f.metadata(cs.candidates[0]).name == "beta"
    with IndexServer(repo, mode="html") as srv:
        g = PackageFinder(settings(IndexConfig("flat", srv.flat_url, kind="find-links")), target, http=http)
        cs = g.find("alpha")
        # flat pages carry no requires-python: 3.0 (>=3.12 in METADATA) stays a candidate
        assert cs.index == "flat" and len(cs.candidates) == 4
        assert g.metadata(cs.candidates[0]).requires_python == ">=3.12"
        assert all(len(c.artifact.sha256) == 64 for c in cs.candidates)


def test_evaluated_page_cache(repo: Path, cache_dir: Path, target: Target) -> None:
    with IndexServer(repo, mode="json", cache_control="max-age=0") as srv:
        ix = settings(IndexConfig("pypi", srv.url))
        with HttpClient(cache_dir=cache_dir / "http") as c1:
            first = PackageFinder(ix, target, http=c1).find("alpha")
            first_beta = PackageFinder(ix, target, http=c1).find("beta")
        assert list((cache_dir / "http" / "evaluated").rglob("*.json"))
        with HttpClient(cache_dir=cache_dir / "http") as c2:
            second = PackageFinder(ix, target, http=c2).find("alpha")
            assert c2.stats["revalidated"] == 1  # 304: same body, evaluated page reused
            second_beta = PackageFinder(ix, target, http=c2).find("beta")
        assert second == first
        # names the page scan never read (a manylinux wheel, an sdist) are listed again from the body
        assert second_beta == first_beta
        assert sorted(r.reason for r in second_beta.rejections) == [
            "no matching tag (cp311-cp311-manylinux_2_17_x86_64)", "sdist only",
        ]
        # another target does not reuse it
        arm = Target((3, 11), "3.11.6", (1, 2), "aarch64", "linux/arm64")
        with HttpClient(cache_dir=cache_dir / "http") as c3:
            other = PackageFinder(ix, arm, http=c3).find("alpha")
        assert [c.artifact.filename for c in other.candidates] == [
            "alpha-2.0-py3-none-any.whl", "alpha-1.0-py3-none-any.whl",
        ]
        # a changed page (new body) is evaluated again
        build_wheel(repo, "alpha", "2.5")
        with HttpClient(cache_dir=cache_dir / "http") as c4:
            third = PackageFinder(ix, target, http=c4).find("alpha")
        assert str(third.candidates[0].version) == "2.5"


def _corrupt_cached_bodies(cache_dir: Path) -> int:
    """Replace the body of every cached page (after its header line) with bytes that are not a page."""
    pages = list((cache_dir / "http" / "pages").glob("*.page"))
    for page in pages:
        header = page.read_bytes().split(b"\n", 1)[0]
        page.write_bytes(header + b"\n\xff\xfe not a page, and not UTF-8")
    return len(pages)


def test_cached_evaluation_does_not_read_the_page(repo: Path, cache_dir: Path, target: Target) -> None:
    """A fresh cached page with a cached evaluation: the page body (MBs for big projects) is not read."""
    with IndexServer(repo, mode="json", cache_control="max-age=600") as srv:
        ix = settings(IndexConfig("pypi", srv.url))
        with HttpClient(cache_dir=cache_dir / "http") as c1:
            first = PackageFinder(ix, target, http=c1).find("beta")
        assert _corrupt_cached_bodies(cache_dir)
        srv.clear_requests()
        with HttpClient(cache_dir=cache_dir / "http") as c2:
            again = PackageFinder(ix, target, http=c2).find("beta")
        assert srv.requests == []
        assert [c.artifact.filename for c in again.candidates] == [c.artifact.filename for c in first.candidates]


def test_credentials_never_in_errors_or_logs(
    repo: Path, http: HttpClient, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    with IndexServer(repo, mode="html", basic_auth=("user", "s3cret-pw"), fail_status={"/simple/alpha/": 502}) as srv:
        url = srv.url_with_auth("user", "s3cret-pw")
        f = PackageFinder(settings(IndexConfig("priv", url)), target, http=http)
        with pytest.raises(NetworkError) as info:
            f.find("alpha")
        assert "HTTP 502" in str(info.value)
        cs = f.find("beta")
        art = cs.candidates[0].artifact
        with pytest.raises(NetworkError) as info2:
            http.download(art.url.replace("beta-", "nothere-"), None, repo.parent / "dl")
        srv.stop()
        g = PackageFinder(settings(IndexConfig("gone", url)), target, http=http)
        with pytest.raises(NetworkError) as info3:
            g.find("gamma")
    for text in (str(info.value), str(info2.value), str(info3.value), caplog.text, repr(f.http.credentials)):
        assert "s3cret" not in text and "user:" not in text
    assert all("s3cret" not in p for _, p, _ in srv.requests)


def test_download_progress_and_404(tmp_path: Path, cache_dir: Path, target: Target) -> None:
    d = tmp_path / "big"
    w = build_wheel(d, "big", "1.0", padding=1_300_000)
    import hashlib

    sha = hashlib.sha256(w.read_bytes()).hexdigest()
    with IndexServer(d, mode="html") as srv, HttpClient(cache_dir=cache_dir / "http", progress=True) as c:
        out = c.download(f"{srv.base}/files/{w.name}", sha, tmp_path / "out")
        assert out.read_bytes() == w.read_bytes()
        with pytest.raises(NetworkError, match="HTTP 404"):
            c.download(f"{srv.base}/files/missing-1.0-py3-none-any.whl", "0" * 64, tmp_path / "out2")
        assert list((tmp_path / "out2").iterdir()) == []


def test_pep658_metadata_hash_verified(repo: Path, http: HttpClient, target: Target) -> None:
    with IndexServer(repo, mode="json") as srv:
        f = PackageFinder(settings(IndexConfig("pypi", srv.url)), target, http=http)
        c = f.find("beta").candidates[0]
        assert c.metadata_url is not None
        f._meta_hashes[c.metadata_url] = "0" * 64  # what a tampered index page would claim
        with pytest.raises(HashMismatchError, match=r"beta-2\.0-.*\.whl\.metadata"):
            f.metadata(c)


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """A project of 12 releases (a musl and a pure wheel each), a newer pre-release, an old
    release that needs a newer Python, one spelled two ways, and an sdist: a big PyPI page's shape."""
    d = tmp_path / "many"
    for minor in range(12):
        build_wheel(d, "many", f"1.{minor}", tags="py3-none-any")
        build_wheel(d, "many", f"1.{minor}", tags=MUSL)
    build_wheel(d, "many", "1.12rc1")
    build_wheel(d, "many", "1.2.0")  # 1.2 spelled otherwise: the same version
    build_wheel(d, "many", "1.3", tags="cp311-abi3-musllinux_1_1_x86_64", requires_python=">=3.12")
    build_sdist(d, "many", "1.11")
    return d


def _expected_many() -> list[tuple[str, str]]:
    out = [("1.12rc1", "many-1.12rc1-py3-none-any.whl")]
    for minor in range(11, -1, -1):
        out += [(f"1.{minor}", f"many-1.{minor}-{MUSL}.whl"), (f"1.{minor}", f"many-1.{minor}-py3-none-any.whl")]
        if minor == 2:
            out.append(("1.2.0", "many-1.2.0-py3-none-any.whl"))
    return out


def test_candidates_are_worked_out_newest_first_as_they_are_read(many: Path, cache_dir: Path, target: Target) -> None:
    with IndexServer(many, mode="json", cache_control="max-age=600") as srv:
        ix = settings(IndexConfig("pypi", srv.url))
        for attempt in ("fetched", "from the evaluated-page cache"):
            with HttpClient(cache_dir=cache_dir / "http") as http:
                cs = PackageFinder(ix, target, http=http).find("many")
                cands = cs.candidates
                assert isinstance(cands, LazyCandidates), attempt
                # the pre-release and the two newest releases are worked out, 10 versions wait
                ready, pending, _rejected = cands.state()
                assert [str(c.version) for c in ready] == ["1.12rc1", "1.11", "1.11", "1.10", "1.10"], attempt
                assert [v for v, _files in pending] == [f"1.{m}" for m in range(9, -1, -1)], attempt
                # counted without working out: 27 fitting files, one of them will fail requires-python
                assert cs.count == 27
                assert [(str(c.version), c.artifact.filename) for c in cands] == _expected_many(), attempt
                assert not cands.pending
                assert sorted(r.reason for r in cs.rejections) == [
                    "requires-python >=3.12 (target 3.11.6)", "sdist only",
                ], attempt
                assert len(cands) == 26 and cands[-1].artifact.filename == "many-1.0-py3-none-any.whl"
            srv.clear_requests()
        assert srv.requests == []  # the second time, page and evaluation came from the caches
        # a cached page gone bad: the newest versions need no page; for older ones it is fetched again
        assert _corrupt_cached_bodies(cache_dir)
        with HttpClient(cache_dir=cache_dir / "http") as http:
            cands = PackageFinder(ix, target, http=http).find("many").candidates
            assert str(cands[4].version) == "1.10"
            assert srv.requests == []
            assert [(str(c.version), c.artifact.filename) for c in cands] == _expected_many()
            assert srv.paths() == ["/simple/many/"]


def test_an_old_version_is_resolved_from_the_versions_worked_out_late(
    many: Path, cache_dir: Path, target: Target
) -> None:
    with IndexServer(many, mode="json", cache_control="max-age=600") as srv:
        ix = settings(IndexConfig("pypi", srv.url))
        for _attempt in range(2):  # fetched, then from the evaluated-page cache
            with HttpClient(cache_dir=cache_dir / "http") as http, PackageFinder(ix, target, http=http) as finder:
                res = resolve(
                    [Req.from_requirement(Requirement("many<1.4,!=1.3"))], [], finder=finder, target=target,
                    facts=None, installed={}, target_tag="cp311-musllinux_1_2_x86_64",
                )
            (pkg,) = res.packages
            assert str(pkg.version) == "1.2"
            assert pkg.wheel is not None and pkg.wheel.artifact.filename == f"many-1.2-{MUSL}.whl"
