"""HTTP/2 where the server offers it: real nginx (TLS, ALPN) in front of a real index server.

What the server side saw (its access log: the protocol of each request) is what these
tests check, together with the bytes received.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from muslin.errors import AuthenticationError, HashMismatchError, NetworkError
from muslin.index.collector import ACCEPT
from muslin.index.config import IndexConfig, IndexSettings
from muslin.index.finder import PackageFinder
from muslin.index.http import HttpClient
from muslin.target.target import Target
from tests.support.index_server import IndexServer
from tests.support.registry import write_tls_certificate
from tests.support.tls_proxy import TlsProxy
from tests.support.wheels import build_wheel

MUSL = "cp311-cp311-musllinux_1_2_x86_64"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    d = tmp_path / "repo"
    build_wheel(d, "alpha", "1.0", requires=["beta>=1"])
    build_wheel(d, "alpha", "2.0", tags=MUSL, requires=["beta>=2"], padding=300_000)
    build_wheel(d, "beta", "2.0", tags=MUSL)
    for i in range(40):
        build_wheel(d, f"pkg{i}", "1.0")
    return d


@pytest.fixture
def index(repo: Path) -> Iterator[IndexServer]:
    with IndexServer(repo, mode="html") as server:  # no PEP 658 files: metadata by range requests
        yield server


def client(cache_dir: Path, proxy: TlsProxy, **kw: object) -> HttpClient:
    return HttpClient(cache_dir=cache_dir / "http", verify=str(proxy.cert), backoff=0.01, **kw)  # type: ignore[arg-type]


def test_plan_over_http2_pages_and_range_requests(
    tmp_path: Path, cache_dir: Path, index: IndexServer, target: Target
) -> None:
    """Pages, METADATA range requests and downloads all go over HTTP/2, on one connection."""
    with TlsProxy(index.base, tmp=tmp_path) as proxy:
        settings = IndexSettings(indexes=(IndexConfig("tls", proxy.url("/simple/")),))
        http = client(cache_dir, proxy)
        with PackageFinder(settings, target, http=http) as finder:
            cset = finder.find("alpha")
            assert [str(c.version) for c in cset.candidates] == ["2.0", "1.0"]
            meta = finder.metadata(cset.candidates[0])
            assert [str(r) for r in meta.requires_dist] == ["beta>=2"]
            path = http.download(cset.candidates[1].artifact.url, cset.candidates[1].artifact.sha256, tmp_path / "dl")
            assert path.read_bytes() == (index.root / cset.candidates[1].artifact.filename).read_bytes()
        rows = proxy.log()
        assert {proto for proto, *_ in rows} == {"HTTP/2.0"}
        assert any(status == 206 for _, status, *_ in rows), rows  # the range requests
        assert any(uri.startswith("/simple/alpha/") for *_, uri in rows)
        assert len({conn for _, _, conn, *_ in rows}) == 1


def test_credentials_over_http2(tmp_path: Path, cache_dir: Path, repo: Path, target: Target) -> None:
    """Basic auth from the URL goes over HTTP/2 (as a never-indexed header) on every request:
    pages, range requests and the download; without it the index answers 401."""
    with IndexServer(repo, mode="html", basic_auth=("ann", "s3cret")) as server, TlsProxy(
        server.base, tmp=tmp_path
    ) as proxy:
        url = proxy.url("/simple/").replace("https://", "https://ann:s3cret@")
        http = client(cache_dir, proxy)
        with PackageFinder(IndexSettings(indexes=(IndexConfig("tls", url),)), target, http=http) as finder:
            cset = finder.find("alpha")
            assert [str(r) for r in finder.metadata(cset.candidates[0]).requires_dist] == ["beta>=2"]
            art = cset.candidates[1].artifact
            assert http.download(art.url, art.sha256, tmp_path / "dl").read_bytes() == (repo / art.filename).read_bytes()
        rows = proxy.log()
        assert {proto for proto, *_ in rows} == {"HTTP/2.0"} and {status for _, status, *_ in rows} <= {200, 206}
        with PackageFinder(IndexSettings(indexes=(IndexConfig("tls", proxy.url("/simple/")),)), target,
                           http=client(cache_dir / "other", proxy)) as finder, pytest.raises(AuthenticationError):
            finder.find("alpha")


def test_many_threads_share_one_connection_across_goaways(tmp_path: Path, cache_dir: Path, index: IndexServer) -> None:
    """32 threads, 400 requests; nginx ends each connection after 25 (GOAWAY): all answered right.

    With no retries at all: the streams a GOAWAY covers finish, those above it are sent
    again on a new connection by the transport.
    """
    with TlsProxy(index.base, tmp=tmp_path, max_requests=25) as proxy:
        http = client(cache_dir, proxy, retries=0)
        names = [f"pkg{i}" for i in range(40)] * 10
        expected = {n: index.project_html(n, index.files()[n]) for n in set(names)}
        errors: list[BaseException] = []
        bodies: dict[int, bytes] = {}

        def fetch(i: int) -> None:
            try:
                resp = http.get(proxy.url(f"/simple/{names[i]}/"), headers={"Accept": "text/html"}, cache=False)
                bodies[i] = resp.content
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=lambda k=k: [fetch(i) for i in range(k, len(names), 32)]) for k in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        http.close()
        assert not errors, errors[:3]
        assert all(bodies[i] == expected[names[i]] for i in range(len(names)))
        rows = proxy.log()
        assert len(rows) >= len(names)
        assert {proto for proto, *_ in rows} == {"HTTP/2.0"}
        # connections in turn, each ended by nginx after 25 requests: not one per request
        connections = {conn for _, _, conn, *_ in rows}
        assert len(rows) // 25 <= len(connections) <= len(rows) // 25 + 4, len(connections)


def test_server_without_http2_gets_http11_over_tls(tmp_path: Path, cache_dir: Path, index: IndexServer) -> None:
    with TlsProxy(index.base, tmp=tmp_path, http2=False) as proxy:
        http = client(cache_dir, proxy)
        for n in ("pkg1", "pkg2", "pkg3"):
            resp = http.get(proxy.url(f"/simple/{n}/"), headers={"Accept": ACCEPT}, cache=False)
            assert resp.status == 200 and b"pkg" in resp.content
        http.close()
        assert proxy.protocols() == ["HTTP/1.1"] * 3


def test_plain_http_stays_http11(cache_dir: Path, index: IndexServer) -> None:
    http = HttpClient(cache_dir=cache_dir / "http")
    assert http.get(index.url + "pkg1/", headers={"Accept": ACCEPT}, cache=False).status == 200
    http.close()
    assert [p for _m, p, _h in index.requests] == ["/simple/pkg1/"]


def test_muslin_http2_0_turns_it_off(tmp_path: Path, cache_dir: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSLIN_HTTP2", "0")
    with TlsProxy(index.base, tmp=tmp_path) as proxy:
        http = client(cache_dir, proxy)
        assert http.get(proxy.url("/simple/pkg1/"), headers={"Accept": ACCEPT}, cache=False).status == 200
        http.close()
        assert proxy.protocols() == ["HTTP/1.1"]


def test_read_timeout_over_http2_is_a_network_error(tmp_path: Path, cache_dir: Path, repo: Path) -> None:
    with IndexServer(repo, mode="html", delay={"/simple/pkg1/": 3.0}) as slow, TlsProxy(slow.base, tmp=tmp_path) as proxy:
        http = client(cache_dir, proxy, timeout=0.5, retries=1, max_total_wait=0.1)
        with pytest.raises(NetworkError, match="timed out"):
            http.get(proxy.url("/simple/pkg1/"), headers={"Accept": ACCEPT}, cache=False)
        # the connection is still good for other requests
        assert http.get(proxy.url("/simple/pkg2/"), headers={"Accept": ACCEPT}, cache=False).status == 200
        http.close()


def test_hash_mismatch_over_http2_then_the_connection_goes_on(tmp_path: Path, cache_dir: Path, index: IndexServer) -> None:
    wheel = next(p for p in index.root.iterdir() if p.name.startswith("alpha-2.0"))
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with TlsProxy(index.base, tmp=tmp_path) as proxy:
        http = client(cache_dir, proxy)
        url = proxy.url(f"/files/{wheel.name}")
        with pytest.raises(HashMismatchError):
            http.download(url, "0" * 64, tmp_path / "dl")
        assert http.download(url, good, tmp_path / "dl").read_bytes() == wheel.read_bytes()
        http.close()
        assert set(proxy.protocols()) == {"HTTP/2.0"}


def test_untrusted_certificate_is_refused(tmp_path: Path, cache_dir: Path, index: IndexServer) -> None:
    with TlsProxy(index.base, tmp=tmp_path) as proxy:
        http = HttpClient(cache_dir=cache_dir / "http", retries=0)
        with pytest.raises(NetworkError, match="cannot reach"):
            http.get(proxy.url("/simple/pkg1/"), headers={"Accept": ACCEPT}, cache=False)
        http.close()
        assert proxy.log() == []


def test_cli_plan_over_http2(tmp_path: Path, cache_dir: Path, index: IndexServer) -> None:
    """The whole CLI (page workers included) plans from an HTTP/2 index; SSL_CERT_FILE trusts it."""
    with TlsProxy(index.base, tmp=tmp_path) as proxy:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
        env.update(SSL_CERT_FILE=str(proxy.cert), MUSLIN_CACHE_DIR=str(cache_dir))
        out = subprocess.run(
            [sys.executable, "-m", "muslin", "plan", "alpine:3.18", "--profile", "alpine:3.18",
             "--default-index", proxy.url("/simple/"), "alpha", "--json"],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        plan = json.loads(out.stdout)
        assert {i["name"]: i["version"] for i in plan["items"]} == {"alpha": "2.0", "beta": "2.0"}
        assert set(proxy.protocols()) == {"HTTP/2.0"}


def test_tls_context_made_once_per_setting(tmp_path: Path) -> None:
    """Loading a CA bundle costs ~20 ms: one context per process and setting, shared by clients
    (and by page workers, which fork after the finder made it)."""
    cert, _key = write_tls_certificate(tmp_path / "ca", "127.0.0.1")
    a = HttpClient(cache_dir=tmp_path / "a", verify=str(cert))
    b = HttpClient(cache_dir=tmp_path / "b", verify=str(cert))
    assert a.tls_context() is b.tls_context()
    assert a.tls_context() is not HttpClient(cache_dir=tmp_path / "c").tls_context()


def test_preloaded_tls_context_is_shared_and_its_thread_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold plan loads the CA bundle on a thread while it imports; the clients then share
    that context, and no preload thread is left when the page workers fork."""
    from muslin.index import tls

    cert, _key = write_tls_certificate(tmp_path / "ca", "127.0.0.1")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    tls.preload()
    tls.preload()  # once
    tls.settle()
    assert not [t for t in threading.enumerate() if t.name == "muslin-tls-preload"]
    context = tls.context()
    assert HttpClient(cache_dir=tmp_path / "a").tls_context() is context
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname


@pytest.mark.parametrize(
    ("urls", "http2", "contexts", "imports_httpx"),
    [
        (["http://127.0.0.1:9/simple/"], "1", ["http/1.1"], True),  # httpx only, its own context
        (["https://127.0.0.1:9/simple/"], "1", [""], False),  # the HTTP/2 connections' context only
        (["https://127.0.0.1:9/simple/", "http://127.0.0.1:9/x/"], "1", ["", "http/1.1"], True),
        (["https://127.0.0.1:9/simple/"], "0", [""], True),  # HTTP/2 off: httpx, on the shared context
        (["/srv/wheels"], "1", [], False),  # a local directory needs nothing
    ],
)
def test_http_preload_loads_what_the_first_requests_need(
    tmp_path: Path, urls: list[str], http2: str, contexts: list[str], imports_httpx: bool
) -> None:
    """``muslin install`` starts loading httpx and the TLS contexts while the image is read; the
    clients then use those contexts.  In a fresh interpreter (this one has httpx imported)."""
    cert, _key = write_tls_certificate(tmp_path / "ca", "127.0.0.1")
    probe = (
        "import json, sys\n"
        "from muslin.index import http, tls\n"
        "assert 'httpx' not in sys.modules\n"
        "http.preload(json.loads(sys.argv[1]))\n"
        "tls.settle()\n"
        "made = sorted(key[-1] for key in tls._CONTEXTS)\n"
        "shared = [tls.context(True, p) is tls._CONTEXTS[tls._key(True, p)] for p in made]\n"
        "print(json.dumps([made, 'httpx' in sys.modules, all(shared)]))\n"
    )
    env = {**os.environ, "SSL_CERT_FILE": str(cert), "MUSLIN_HTTP2": http2}
    for proxy in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(urls)], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [sorted(contexts), imports_httpx, True]


@pytest.mark.parametrize("kind", ["missing", "garbage"])
def test_unloadable_ca_bundle_is_one_clear_error(tmp_path: Path, cache_dir: Path, kind: str) -> None:
    """SSL_CERT_FILE naming nothing, or no certificate: one line naming it, exit 2 (bad input)."""
    bundle = tmp_path / "ca.pem"
    if kind == "garbage":
        bundle.write_text("not a certificate\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(SSL_CERT_FILE=str(bundle), MUSLIN_CACHE_DIR=str(cache_dir))
    out = subprocess.run(
        [sys.executable, "-m", "muslin", "plan", "alpine:3.18", "--profile", "alpine:3.18",
         "--default-index", "https://127.0.0.1:9/simple/", "alpha"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        line for line in out.stderr.strip().splitlines() if line.startswith("muslin: ")
    ]
    assert f"SSL_CERT_FILE {bundle}: cannot load CA certificates" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_redirects_over_http2(tmp_path: Path, cache_dir: Path, index: IndexServer) -> None:
    """A redirect is followed on the same HTTP/2 connection; the response says where it ended."""
    with TlsProxy(index.base, tmp=tmp_path, redirects={"/old/": "/simple/"}) as proxy:
        http = client(cache_dir, proxy)
        resp = http.get(proxy.url("/old/pkg1/"), headers={"Accept": "text/html"}, cache=False)
        assert resp.status == 200 and resp.content == index.project_html("pkg1", index.files()["pkg1"])
        assert resp.url == proxy.url("/simple/pkg1/")
        http.close()
        assert [(status, uri) for _p, status, _c, _m, uri in proxy.log()] == [(302, "/old/pkg1/"), (200, "/simple/pkg1/")]
        assert set(proxy.protocols()) == {"HTTP/2.0"}


def test_credentials_stay_with_their_origin_across_a_redirect(tmp_path: Path, cache_dir: Path, repo: Path) -> None:
    """Basic auth given for one origin is not sent to the origin a redirect leads to (here a
    plain-HTTP one, so the request also moves from HTTP/2 to httpx's HTTP/1.1 on the way)."""
    with IndexServer(repo, mode="html") as other, TlsProxy(
        other.base, tmp=tmp_path, redirects={"/away/": other.url}
    ) as here:
        http = client(cache_dir, here)
        http.credentials.add_from_url(here.url("/").replace("https://", "https://ann:s3cret@"))
        resp = http.get(here.url("/away/pkg1/"), headers={"Accept": "text/html"}, cache=False)
        assert resp.status == 200 and resp.url == other.url + "pkg1/"
        assert resp.content == other.project_html("pkg1", other.files()["pkg1"])
        http.close()
        assert [(proto, status) for proto, status, *_ in here.log()] == [("HTTP/2.0", 302)]
        assert [p for _m, p, _h in other.requests] == ["/simple/pkg1/"]
        assert not any(k.lower() == "authorization" for _m, _p, headers in other.requests for k in headers)
        # the same origin keeps them: the index behind the proxy sees them
        http = client(cache_dir, here)
        http.credentials.add_from_url(here.url("/").replace("https://", "https://ann:s3cret@"))
        assert http.get(here.url("/simple/pkg1/"), headers={"Accept": "text/html"}, cache=False).status == 200
        http.close()
        sent = {k.lower(): v for k, v in other.requests[-1][2].items()}
        assert sent["authorization"] == "Basic YW5uOnMzY3JldA=="  # ann:s3cret


def test_endless_redirects_are_a_network_error(tmp_path: Path, cache_dir: Path, index: IndexServer) -> None:
    with TlsProxy(index.base, tmp=tmp_path, redirects={"/loop/": "/loop/"}) as proxy:
        http = client(cache_dir, proxy, retries=0)
        with pytest.raises(NetworkError, match=r"cannot reach .*/loop/pkg1/ \(TooManyRedirects\)"):
            http.get(proxy.url("/loop/pkg1/"), headers={"Accept": "text/html"}, cache=False)
        http.close()


def test_gzip_pages_over_http2_are_decoded(tmp_path: Path, cache_dir: Path, index: IndexServer, target: Target) -> None:
    """A server that compresses pages (we accept gzip and deflate): the page is read decoded,
    cached decoded, and the plan is the same."""
    with TlsProxy(index.base, tmp=tmp_path, gzip=True) as proxy:
        http = client(cache_dir, proxy)
        resp = http.get(proxy.url("/simple/pkg1/"), headers={"Accept": "text/html"}, cache=False)
        assert resp.headers.get("content-encoding") == "gzip"
        assert resp.content == index.project_html("pkg1", index.files()["pkg1"])
        settings = IndexSettings(indexes=(IndexConfig("tls", proxy.url("/simple/")),))
        with PackageFinder(settings, target, http=http) as finder:
            assert [str(c.version) for c in finder.find("alpha").candidates] == ["2.0", "1.0"]
        http.close()
