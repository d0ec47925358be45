"""The ``registry:`` source against a real registry (Debian's ``docker-registry``) on 127.0.0.1.

One filesystem storage is shared by three registry processes: no auth, htpasswd
basic auth, and token auth with a realm served by the test.  Images are built
with ``tests/support/imagebuilder.py`` and pushed with the distribution push API.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from support.common import need
from support.imagebuilder import Image, Layer, multi_platform_index
from support.registry import (
    RunningRegistry,
    TokenServer,
    have_registry,
    push_image,
    push_index,
    start_registry,
    write_tls_certificate,
)

from muslin.cli import cli
from muslin.errors import (
    AuthenticationError,
    CorruptImageError,
    ImageNotFoundError,
    NetworkError,
    UsageError,
)
from muslin.image.platform import parse_platform
from muslin.image.reference import parse_reference
from muslin.image.registry.cache import BlobCache
from muslin.image.registry.client import RegistryClient
from muslin.image.registry.credentials import Credentials
from muslin.image.sources.base import OpenedImage
from muslin.image.sources.registry import RegistrySource

pytestmark = pytest.mark.registry

USER, PASSWORD, REFRESH = "alice", "s3cret-Pa55", "refresh-alice-token"
SITE = "usr/lib/python3.11/site-packages"
ARCHES = {"amd64": ("x86_64", "amd-only", "1.0"), "arm64": ("aarch64", "arm-only", "2.0")}
OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.3\nPRETTY_NAME="Alpine Linux v3.18"\n'


def apk_musl(apk_arch: str) -> str:
    return (
        f"C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:musl\nV:1.2.4-r1\nA:{apk_arch}\nS:383152\n"
        f"I:622592\nT:the musl c library\no:musl\nF:lib\nR:ld-musl-{apk_arch}.so.1\n\n"
    )


def alpine_image(docker_arch: str, marker: str = "") -> Image:
    """A small Alpine-shaped image for one arch, with an arch-specific distribution."""
    apk_arch, dist, version = ARCHES[docker_arch]
    base = (
        Layer()
        .add_dirs("etc/apk", "lib/apk/db", f"{SITE}")
        .add_file("etc/os-release", OS_RELEASE)
        .add_file("etc/alpine-release", "3.18.3\n")
        .add_file("etc/apk/arch", f"{apk_arch}\n")
        .add_file("lib/apk/db/installed", apk_musl(apk_arch))
        .add_file(f"lib/ld-musl-{apk_arch}.so.1", b"\x7fELF musl", mode=0o755)
        .add_file("usr/lib/python3.11/os.py", "# stdlib\n")
    )
    top = (
        Layer()
        .add_dirs(f"{SITE}/{dist.replace('-', '_')}-{version}.dist-info")
        .add_file(
            f"{SITE}/{dist.replace('-', '_')}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
        )
        .add_file(f"{SITE}/{dist.replace('-', '_')}-{version}.dist-info/INSTALLER", "pip\n")
        .add_file("etc/apk/world", marker or docker_arch)
    )
    return Image([base, top], arch=docker_arch, variant="v8" if docker_arch == "arm64" else None)


@dataclass
class World:
    """The registries, what was pushed, and the token server."""

    plain: RunningRegistry
    basic: RunningRegistry
    token: RunningRegistry
    tokens: TokenServer
    index_digest: str
    manifest_digests: dict[str, str]
    tamper_layer: str
    tamper_manifest: str
    single_digest: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need(have_registry(), "docker-registry (Debian) or htpasswd not installed")
    root = tmp_path_factory.mktemp("registry")
    storage = root / "storage"
    plain = start_registry(root / "plain", storage)
    basic = start_registry(root / "basic", storage, htpasswd={USER: PASSWORD})
    tokens = TokenServer(users={USER: PASSWORD}, refresh_tokens={REFRESH: USER}).__enter__()
    token = start_registry(root / "token", storage, token_server=tokens)
    try:
        index = multi_platform_index(
            {"linux/amd64": alpine_image("amd64"), "linux/arm64/v8": alpine_image("arm64")},
            attestation=True,
        )
        single = alpine_image("amd64", marker="docker-media").registry_blobs(media="docker")
        tamper = alpine_image("amd64", marker="tamper-me").registry_blobs()
        tamper_manifest = alpine_image("amd64", marker="tamper-manifest").registry_blobs()
        with httpx.Client(timeout=60) as client:
            for repo in ("public/multi", "private/multi"):
                push_index(client, plain.url, repo, "1", index)
            push_image(client, plain.url, "public/single", "1", single)
            push_image(client, plain.url, "public/tamper", "1", tamper)
            push_image(client, plain.url, "public/tamper-manifest", "1", tamper_manifest)
        digests = {img.platform["architecture"]: img.digest for img in index.images if img.platform}
        tamper_layer = json.loads(tamper.manifest)["layers"][-1]["digest"]
        yield World(plain, basic, token, tokens, index.digest, digests, tamper_layer,
                    tamper_manifest.digest, single.digest)
    finally:
        for registry in (plain, basic, token):
            registry.stop()
        tokens.__exit__()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BlobCache:
    """A fresh blob cache (also what MUSLIN_CACHE_DIR points the CLI at)."""
    monkeypatch.setenv("MUSLIN_CACHE_DIR", str(tmp_path / "cache"))
    return BlobCache()


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty DOCKER_CONFIG, and no credentials in the environment."""
    directory = tmp_path / "docker-config"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    monkeypatch.delenv("MUSLIN_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("MUSLIN_REGISTRY_PASSWORD", raising=False)
    return directory


def write_config(directory: Path, config: dict[str, Any]) -> None:
    (directory / "config.json").write_text(json.dumps(config))


def auth_entry(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def open_ref(ref: str, platform: str | None = None, **kwargs: Any) -> OpenedImage:
    return RegistrySource(parse_reference(ref), parse_platform(platform) if platform else None, **kwargs).open()


def run_muslin(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (exit codes and stderr as a user sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "muslin", *args], capture_output=True, text=True, timeout=120, check=False
    )


def blob_gets(registry: RunningRegistry, since: int) -> list[str]:
    return [uri for method, uri, _ in registry.requests(since) if method == "GET" and "/blobs/" in uri]


# -- platforms -----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_platform_pick(world: World, cache: BlobCache, docker_config: Path, arch: str) -> None:
    apk_arch, dist, version = ARCHES[arch]
    ref = f"{world.plain.host}/public/multi:1"
    opened = open_ref(ref, f"linux/{arch}", cache=cache)
    assert opened.source == "registry"
    assert opened.canonical_reference == ref
    assert opened.digest == world.manifest_digests[arch]
    assert opened.config.architecture == arch
    assert opened.tree.read_bytes("etc/apk/arch") == f"{apk_arch}\n".encode()
    assert opened.tree.is_file(f"{SITE}/{dist.replace('-', '_')}-{version}.dist-info/METADATA")
    other = "arm-only" if arch == "amd64" else "amd-only"
    assert not any(name.startswith(other.replace("-", "_")) for name in opened.tree.listdir(SITE))


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_cli_inspect_platform(world: World, cache: BlobCache, docker_config: Path, arch: str) -> None:
    """``muslin inspect registry:... --platform`` end to end, JSON output."""
    ref = f"{world.plain.host}/public/multi:1"
    result = CliRunner().invoke(cli, ["inspect", f"registry:{ref}", "--platform", f"linux/{arch}", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    apk_arch, dist, version = ARCHES[arch]
    assert facts["source"] == "registry"
    assert facts["digest"] == world.manifest_digests[arch]
    assert facts["architecture"] == arch
    assert facts["apk"]["arch"] == apk_arch
    assert [(d["name"], d["version"]) for d in facts["distributions"]] == [(dist, version)]


def test_default_platform_is_host(world: World, cache: BlobCache, docker_config: Path) -> None:
    import platform

    opened = open_ref(f"{world.plain.host}/public/multi:1", cache=cache)
    expected = "arm64" if platform.machine() in ("aarch64", "arm64") else "amd64"
    assert opened.config.architecture == expected


def test_platform_absent_from_index(world: World, cache: BlobCache, docker_config: Path) -> None:
    with pytest.raises(ImageNotFoundError, match=r"linux/s390x.*available: linux/amd64, linux/arm64/v8"):
        open_ref(f"{world.plain.host}/public/multi:1", "linux/s390x", cache=cache)


def test_docker_schema2_single_manifest(world: World, cache: BlobCache, docker_config: Path) -> None:
    opened = open_ref(f"{world.plain.host}/public/single:1", cache=cache)
    assert opened.digest == world.single_digest
    assert opened.tree.read_bytes("etc/apk/world") == b"docker-media"
    with pytest.raises(ImageNotFoundError, match="not the requested linux/arm64"):
        open_ref(f"{world.plain.host}/public/single:1", "linux/arm64", cache=BlobCache(cache.root / "x"))


def test_pull_by_digest(world: World, cache: BlobCache, docker_config: Path) -> None:
    opened = open_ref(f"{world.plain.host}/public/multi@{world.index_digest}", "linux/arm64", cache=cache)
    assert opened.digest == world.manifest_digests["arm64"]
    direct = open_ref(f"{world.plain.host}/public/multi@{world.manifest_digests['amd64']}", cache=cache)
    assert direct.config.architecture == "amd64"


# -- authentication ----------------------------------------------------------------------


def test_anonymous_token_flow(world: World, cache: BlobCache, docker_config: Path) -> None:
    write_config(docker_config, {"auths": {world.token.host: auth_entry()}})
    before = len(world.tokens.requests)
    opened = open_ref(f"{world.token.host}/public/multi:1", "linux/amd64", cache=cache)
    assert opened.tree.is_file("etc/apk/arch")
    asked = world.tokens.requests[before:]
    assert asked, "no token was requested"
    assert {r.scope for r in asked} == {"repository:public/multi:pull"}
    assert all(r.account is None for r in asked)  # anonymous sufficed: credentials never sent


def test_token_with_credentials_after_anonymous(world: World, cache: BlobCache, docker_config: Path) -> None:
    write_config(docker_config, {"auths": {world.token.host: auth_entry()}})
    before = len(world.tokens.requests)
    opened = open_ref(f"{world.token.host}/private/multi:1", "linux/arm64", cache=cache)
    assert opened.digest == world.manifest_digests["arm64"]
    accounts = [r.account for r in world.tokens.requests[before:]]
    assert accounts[:2] == [None, USER]  # anonymous first, then with credentials


def test_token_identity_token(world: World, cache: BlobCache, docker_config: Path) -> None:
    write_config(docker_config, {"auths": {world.token.host: {"identitytoken": REFRESH}}})
    before = len(world.tokens.requests)
    opened = open_ref(f"{world.token.host}/private/multi:1", "linux/amd64", cache=cache)
    assert opened.config.architecture == "amd64"
    assert [(r.method, r.account) for r in world.tokens.requests[before:]][-1] == ("POST", USER)


def test_token_realm_answering_access_token(world: World, cache: BlobCache, docker_config: Path,
                                            tmp_path: Path) -> None:
    """A realm answering ``access_token`` (OAuth2 style) instead of ``token``."""
    with TokenServer(users={USER: PASSWORD}, access_field="access_token") as tokens:
        registry = start_registry(tmp_path / "oauth", world.plain.storage, token_server=tokens)
        try:
            write_config(docker_config, {"auths": {registry.host: auth_entry()}})
            opened = open_ref(f"{registry.host}/private/multi:1", "linux/arm64", cache=cache)
            assert opened.digest == world.manifest_digests["arm64"]
            assert [r.account for r in tokens.requests] == [None, USER]
        finally:
            registry.stop()


def test_token_401_without_credentials(world: World, cache: BlobCache, docker_config: Path) -> None:
    with pytest.raises(AuthenticationError, match="authentication required") as info:
        open_ref(f"{world.token.host}/private/multi:1", cache=cache)
    assert info.value.exit_code == 5


def test_token_realm_refuses_bad_password(world: World, cache: BlobCache, docker_config: Path) -> None:
    write_config(docker_config, {"auths": {world.token.host: auth_entry(password="wrong-Secret-123")}})
    with pytest.raises(AuthenticationError) as info:
        open_ref(f"{world.token.host}/private/multi:1", cache=cache)
    assert "wrong-Secret-123" not in str(info.value)


def test_basic_auth_from_config_auths(world: World, cache: BlobCache, docker_config: Path) -> None:
    write_config(docker_config, {"auths": {f"http://{world.basic.host}": auth_entry()}})
    opened = open_ref(f"{world.basic.host}/private/multi:1", "linux/arm64", cache=cache)
    assert opened.tree.read_bytes("etc/apk/arch") == b"aarch64\n"


def test_basic_auth_from_environment(
    world: World, cache: BlobCache, docker_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSLIN_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("MUSLIN_REGISTRY_PASSWORD", PASSWORD)
    opened = open_ref(f"{world.basic.host}/private/multi:1", "linux/amd64", cache=cache)
    assert opened.config.architecture == "amd64"


def test_basic_auth_cred_helper(
    world: World, cache: BlobCache, docker_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    helper = bindir / "docker-credential-muslintest"
    answer = json.dumps({"ServerURL": world.basic.host, "Username": USER, "Secret": PASSWORD})
    helper.write_text(f"#!/bin/sh\nread -r server\necho \"$1 $server\" >> {log}\nprintf '%s' '{answer}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    write_config(docker_config, {"credHelpers": {world.basic.host: "muslintest"}})
    opened = open_ref(f"{world.basic.host}/private/multi:1", "linux/arm64", cache=cache)
    assert opened.digest == world.manifest_digests["arm64"]
    assert log.read_text().splitlines() == [f"get {world.basic.host}"]  # asked once, lazily


def test_basic_401_without_credentials_cli(world: World, cache: BlobCache, docker_config: Path) -> None:
    result = run_muslin("inspect", f"registry:{world.basic.host}/private/multi:1")
    assert result.returncode == 5, result.stderr
    assert "authentication required" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_basic_wrong_password_not_leaked(world: World, cache: BlobCache, docker_config: Path) -> None:
    write_config(docker_config, {"auths": {world.basic.host: auth_entry(password="Leaky-Pw-987")}})
    with pytest.raises(AuthenticationError, match="refused the credentials from config auths") as info:
        open_ref(f"{world.basic.host}/private/multi:1", cache=cache)
    assert "Leaky-Pw-987" not in str(info.value) and USER not in str(info.value)


# -- not found, corruption, cache ------------------------------------------------------------


@pytest.mark.parametrize("path", ["public/nope:1", "public/multi:no-such-tag"])
def test_unknown_repository_or_tag(world: World, cache: BlobCache, docker_config: Path, path: str) -> None:
    with pytest.raises(ImageNotFoundError, match=f"manifest unknown: {world.plain.host}/{path}") as info:
        open_ref(f"{world.plain.host}/{path}", cache=cache)
    assert info.value.exit_code == 3
    result = run_muslin("inspect", f"registry:{world.token.host}/public/nope:1")
    assert result.returncode == 3, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tampered_blob_is_corrupt(world: World, cache: BlobCache, docker_config: Path) -> None:
    data_file = world.plain.blob_data_path(world.tamper_layer)
    original = data_file.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0xFF
    data_file.write_bytes(bytes(tampered))  # same size, different content
    try:
        with pytest.raises(CorruptImageError, match="digest mismatch") as info:
            open_ref(f"{world.plain.host}/public/tamper:1", cache=cache)
        assert info.value.exit_code == 6
        assert cache.get(world.tamper_layer) is None  # never cached
        assert not list(cache.path(world.tamper_layer).parent.glob(".tmp-*"))
    finally:
        data_file.write_bytes(original)


def test_tampered_manifest_by_digest_is_corrupt(world: World, cache: BlobCache, docker_config: Path) -> None:
    data_file = world.plain.blob_data_path(world.tamper_manifest)
    original = data_file.read_bytes()
    data_file.write_bytes(original.replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    try:
        with pytest.raises(CorruptImageError, match="digest mismatch"):
            open_ref(f"{world.plain.host}/public/tamper-manifest@{world.tamper_manifest}", cache=cache)
    finally:
        data_file.write_bytes(original)


def test_blob_cache_hit_on_second_open(world: World, cache: BlobCache, docker_config: Path) -> None:
    ref = f"{world.plain.host}/public/multi:1"
    mark = world.plain.log_mark()
    first = open_ref(ref, "linux/arm64", cache=cache)
    fetched = blob_gets(world.plain, mark)
    assert len(fetched) == 3  # config + two layers
    for uri in fetched:
        digest = uri.rsplit("/", 1)[1]
        assert cache.get(digest) is not None
    mark = world.plain.log_mark()
    second = open_ref(ref, "linux/arm64", cache=cache)
    requests = world.plain.requests(mark)
    assert blob_gets(world.plain, mark) == []
    # only the tag is resolved again; the platform manifest comes from the cache by digest
    assert [(m, uri) for m, uri, _ in requests] == [("GET", "/v2/public/multi/manifests/1")]
    assert second.digest == first.digest
    assert second.tree.read_bytes("etc/apk/arch") == first.tree.read_bytes("etc/apk/arch")


def test_damaged_cache_entry_is_fetched_again(world: World, cache: BlobCache, docker_config: Path) -> None:
    ref = f"{world.plain.host}/public/multi:1"
    mark = world.plain.log_mark()
    open_ref(ref, "linux/amd64", cache=cache)
    manifest = json.loads(cache.read(world.manifest_digests["amd64"]) or b"{}")
    layer = manifest["layers"][0]["digest"]
    path = cache.path(layer)
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x55
    path.write_bytes(bytes(damaged))
    mark = world.plain.log_mark()
    opened = open_ref(ref, "linux/amd64", cache=cache)
    assert opened.tree.read_bytes("etc/apk/arch") == b"x86_64\n"
    assert blob_gets(world.plain, mark) == [f"/v2/public/multi/blobs/{layer}"]
    with pytest.raises(CorruptImageError):  # offline there is nothing to repair from
        path.write_bytes(bytes(damaged))
        open_ref(ref, "linux/amd64", cache=cache, offline=True)


def test_offline_uses_only_the_cache(world: World, cache: BlobCache, docker_config: Path) -> None:
    ref = f"{world.plain.host}/public/multi:1"
    with pytest.raises(NetworkError, match="offline and not cached"):
        open_ref(ref, "linux/amd64", cache=cache, offline=True)
    online = open_ref(ref, "linux/amd64", cache=cache)
    mark = world.plain.log_mark()
    offline = open_ref(ref, "linux/amd64", cache=cache, offline=True)
    assert world.plain.requests(mark) == []
    assert offline.digest == online.digest
    assert offline.tree.listdir(SITE) == online.tree.listdir(SITE)


# -- transport -------------------------------------------------------------------------------


class FlakyProxy:
    """Forwards GETs to a registry, misbehaving on the first ``failures`` requests.

    ``mode``: ``status`` answers 503 / 429 alternately; ``slow`` waits ``delay``
    seconds before answering; ``cut`` sends the headers and half the body, then
    closes the connection.
    """

    def __init__(self, upstream: str, failures: int, mode: str = "status", delay: float = 2.0) -> None:
        self.upstream = upstream
        self.failures = failures
        self.mode = mode
        self.seen = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.seen += 1
                failing = proxy.seen <= proxy.failures
                if failing and proxy.mode == "status":
                    self.send_response(503 if proxy.seen % 2 else 429)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if failing and proxy.mode == "slow":
                    time.sleep(delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
                upstream = httpx.get(f"{proxy.upstream}{self.path}", headers=headers)
                self.send_response(upstream.status_code)
                for key in ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate"):
                    if key in upstream.headers:
                        self.send_header(key, upstream.headers[key])
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                if failing and proxy.mode == "cut":
                    self.wfile.write(upstream.content[: len(upstream.content) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(upstream.content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_retries_on_503_and_429(world: World, cache: BlobCache) -> None:
    proxy = FlakyProxy(world.plain.url, failures=2)
    try:
        with RegistryClient(proxy.host, cache=cache, backoff=0.01) as client:
            fetched = client.get_manifest("public/multi", "1")
        assert fetched.digest == world.index_digest
        assert proxy.seen == 3  # 503, 429, then success
        with RegistryClient(proxy.host, cache=cache, backoff=0.01, attempts=2) as client:
            proxy.seen, proxy.failures = 0, 10
            with pytest.raises(NetworkError, match=r"HTTP (503|429) after 2 attempts"):
                client.get_manifest("public/multi", "1")
    finally:
        proxy.close()


def test_retries_on_timeout(world: World, cache: BlobCache) -> None:
    proxy = FlakyProxy(world.plain.url, failures=2, mode="slow", delay=1.5)
    try:
        with RegistryClient(proxy.host, cache=cache, backoff=0.01, timeout=0.5) as client:
            fetched = client.get_manifest("public/multi", "1")
        assert fetched.digest == world.index_digest
    finally:
        proxy.close()


def test_blob_download_cut_short_is_retried(world: World, cache: BlobCache) -> None:
    with RegistryClient(world.plain.host, cache=BlobCache(cache.root / "probe")) as client:
        manifest = json.loads(client.get_manifest("public/multi", world.manifest_digests["amd64"]).data)
    layer = manifest["layers"][0]
    proxy = FlakyProxy(world.plain.url, failures=2, mode="cut")
    try:
        with RegistryClient(proxy.host, cache=cache, backoff=0.01) as client:
            path = client.fetch_blob("public/multi", layer["digest"], layer["size"])
        assert path.stat().st_size == layer["size"]
        assert cache.get(layer["digest"]) == path
    finally:
        proxy.close()


def test_unreachable_registry_is_network_error(cache: BlobCache, docker_config: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(NetworkError, match="connection failed") as info, \
            RegistryClient(f"127.0.0.1:{port}", cache=cache, backoff=0.01, attempts=2) as client:
        client.get_manifest("x/y", "1")
    assert info.value.exit_code == 4
    assert time.monotonic() - started < 10


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.254.254.254", 9))
            address = str(sock.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_plain_http_refused_for_non_loopback(world: World, cache: BlobCache, docker_config: Path) -> None:
    """A plain-HTTP registry on a non-loopback address is never spoken to over HTTP."""
    address = _non_loopback_address()
    need(address is not None, "no non-loopback IPv4 address on this machine")
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = http.server.ThreadingHTTPServer((address or "", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"{address}:{server.server_address[1]}"
        with pytest.raises(NetworkError), \
                RegistryClient(host, cache=cache, backoff=0.01, attempts=1, timeout=5) as client:
            client.get_manifest("public/multi", "1")
        assert hits == []  # the TLS handshake failed; no plain-HTTP request was ever made
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("where", ["loopback", "non-loopback"])
def test_https_registry_tls_verification(
    world: World, cache: BlobCache, docker_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """A TLS registry: its self-signed certificate is refused (no fallback to plain HTTP,
    even on loopback), and accepted once trusted through ``SSL_CERT_FILE``."""
    address = "127.0.0.1" if where == "loopback" else _non_loopback_address()
    need(address is not None, "no non-loopback IPv4 address on this machine")
    assert address is not None
    cert, key = write_tls_certificate(tmp_path / "tls", address)
    registry = start_registry(tmp_path / "tls-registry", world.plain.storage, address=address, tls=(cert, key))
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        with pytest.raises(NetworkError, match="TLS certificate verification failed"):
            open_ref(f"{registry.host}/public/multi:1", cache=cache)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        opened = open_ref(f"{registry.host}/public/multi:1", "linux/arm64", cache=cache)
        assert opened.digest == world.manifest_digests["arm64"]
        assert opened.tree.read_bytes("etc/apk/arch") == b"aarch64\n"
    finally:
        registry.stop()


def test_certs_d_trusts_a_registry_ca_and_presents_a_client_certificate(
    world: World, cache: BlobCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``certs.d/HOST:PORT/`` as Docker reads it: ``*.crt`` CAs for that registry only, and a
    ``NAME.cert``/``NAME.key`` client certificate for a registry that requires one (mutual TLS)."""
    cert, key = write_tls_certificate(tmp_path / "tls", "127.0.0.1")
    client = write_tls_certificate(tmp_path / "client", "127.0.0.1")
    registry = start_registry(
        tmp_path / "mtls-registry", world.plain.storage, tls=(cert, key), client_cert=client
    )
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        certs_d = tmp_path / "certs.d"
        monkeypatch.setenv("MUSLIN_CERTS_D", str(certs_d))
        folder = certs_d / registry.host
        folder.mkdir(parents=True)
        with pytest.raises(NetworkError, match="TLS certificate verification failed"):
            open_ref(f"{registry.host}/public/multi:1", cache=cache)
        shutil.copy(cert, folder / "ca.crt")
        with pytest.raises(NetworkError):  # trusted now, but the registry wants a client certificate
            open_ref(f"{registry.host}/public/multi:1", cache=cache)
        shutil.copy(client[0], folder / "client.cert")
        with pytest.raises(UsageError, match=r"client certificate without its key client\.key"):
            open_ref(f"{registry.host}/public/multi:1", cache=cache)
        shutil.copy(client[1], folder / "client.key")
        opened = open_ref(f"{registry.host}/public/multi:1", "linux/arm64", cache=cache)
        assert opened.digest == world.manifest_digests["arm64"]
        (folder / "broken.crt").write_text("not a certificate\n")
        with pytest.raises(UsageError, match="unusable certificate files"):
            open_ref(f"{registry.host}/public/multi:1", cache=cache)
    finally:
        registry.stop()


def test_credentials_repr_in_client_errors() -> None:
    creds = Credentials(USER, PASSWORD, source="environment")
    assert PASSWORD not in repr(creds) and PASSWORD not in str([creds])


def test_unknown_host_is_not_retried_but_temporary_resolver_failure_is() -> None:
    import socket

    import httpx

    from muslin.image.registry.client import _unknown_host

    def connect_error(errno: int) -> httpx.ConnectError:
        try:
            try:
                raise socket.gaierror(errno, "resolver")
            except socket.gaierror as inner:
                raise httpx.ConnectError(str(inner)) from inner
        except httpx.ConnectError as exc:
            return exc

    assert _unknown_host(connect_error(socket.EAI_NONAME))
    assert not _unknown_host(connect_error(socket.EAI_AGAIN))
    assert not _unknown_host(httpx.ConnectError("connection refused"))
