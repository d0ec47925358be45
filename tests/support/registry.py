"""A real OCI registry (Debian's ``docker-registry``) on 127.0.0.1 for tests.

Three auth modes, all optionally over one shared filesystem storage::

    reg = start_registry(tmp, storage)                                  # no auth
    reg = start_registry(tmp, storage, htpasswd={"alice": "s3cret"})    # basic auth
    with TokenServer(users={"alice": "s3cret"}) as tokens:               # bearer tokens
        reg = start_registry(tmp, storage, token_server=tokens)

The token server is a small ``http.server`` on 127.0.0.1 issuing RS256 JWTs
signed with a test RSA key; its self-signed certificate is the registry's
``rootcertbundle``.  Anonymous requests get ``pull`` on repositories under
``public/``; authenticated users (basic auth, or ``grant_type=refresh_token``
with a refresh token) get ``pull`` and ``push`` everywhere.

``push_blob`` / ``push_manifest`` use the distribution push API with httpx.
``reg.requests()`` parses the registry's access log (method, uri, status) to
count what a client really asked for; ``reg.blob_data_path(digest)`` is where
the registry keeps a blob on disk (to tamper with it).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

REGISTRY_BIN = Path("/usr/bin/docker-registry")
ISSUER = "muslin-test-issuer"
SERVICE = "muslin-test-registry"
_ACCESS_LINE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d{3})')


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _libtrust_key_id(der_public_key: bytes) -> str:
    """The key id docker/distribution derives from a public key (libtrust format)."""
    digest = hashlib.sha256(der_public_key).digest()[:30]
    text = base64.b32encode(digest).decode("ascii").rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


class SigningKey:
    """A test RSA key and its self-signed certificate, for RS256 JWTs."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "muslin test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = _libtrust_key_id(der)

    def jwt(self, claims: Mapping[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"typ": "JWT", "alg": "RS256", "kid": self.key_id}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)


def write_tls_certificate(directory: Path, address: str) -> tuple[Path, Path]:
    """A self-signed server certificate for ``address`` (IP SAN); returns (cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class TokenRequest:
    """One request the token server answered."""

    method: str
    account: str | None
    scope: str | None
    status: int


class TokenServer:
    """The bearer-token realm of a token-auth registry, served by the test."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        refresh_tokens: Mapping[str, str] | None = None,
        access_field: str = "token",
    ) -> None:
        self.users = dict(users or {})
        self.refresh_tokens = dict(refresh_tokens or {})
        self.access_field = access_field
        self.key = SigningKey()
        self.requests: list[TokenRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def grant(self, account: str | None, scope: str | None) -> list[dict[str, Any]]:
        """The access entries for ``scope`` this account gets."""
        access: list[dict[str, Any]] = []
        for item in (scope or "").split():
            parts = item.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            if account is not None:
                allowed = [a for a in actions if a in ("pull", "push", "delete", "*")]
            elif name.startswith("public/"):
                allowed = [a for a in actions if a == "pull"]
            else:
                allowed = []
            access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def token_for(self, account: str | None, scope: str | None, service: str | None) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": account or "",
            "aud": service or SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": self.grant(account, scope),
        }
        return self.key.jwt(claims)

    def __enter__(self) -> TokenServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, account: str | None, params: dict[str, list[str]], method: str) -> None:
                scope = " ".join(params.get("scope", [])) or None
                service = (params.get("service") or [None])[0]
                token = server.token_for(account, scope, service)
                body = json.dumps({server.access_field: token, "expires_in": 300}).encode()
                server.requests.append(TokenRequest(method, account, scope, 200))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _deny(self, method: str, account: str | None, scope: str | None) -> None:
                server.requests.append(TokenRequest(method, account, scope, 401))
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = parse_qs(url.query)
                scope = " ".join(params.get("scope", [])) or None
                header = self.headers.get("Authorization", "")
                account: str | None = None
                if header.startswith("Basic "):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(user) != password:
                        self._deny("GET", user, scope)
                        return
                    account = user
                self._answer(account, params, "GET")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                params = parse_qs(self.rfile.read(length).decode())
                scope = " ".join(params.get("scope", [])) or None
                if params.get("grant_type") == ["refresh_token"]:
                    account = server.refresh_tokens.get((params.get("refresh_token") or [""])[0])
                elif params.get("grant_type") == ["password"]:
                    user = (params.get("username") or [""])[0]
                    ok = server.users.get(user) == (params.get("password") or [""])[0]
                    account = user if ok else None
                else:
                    account = None
                if account is None:
                    self._deny("POST", None, scope)
                    return
                self._answer(account, params, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class RunningRegistry:
    """A ``docker-registry`` process and where its log and storage live."""

    host: str
    storage: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    auth: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.extra.get('scheme', 'http')}://{self.host}"

    def requests(self, since: int = 0) -> list[tuple[str, str, int]]:
        """``(method, uri, status)`` from the access log, starting at byte offset ``since``."""
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
        return [(m.group(1), m.group(2), int(m.group(3))) for m in _ACCESS_LINE.finditer(text)]

    def log_mark(self) -> int:
        """The current end of the log, to pass to :meth:`requests` later."""
        time.sleep(0.2)  # let the registry flush the last access-log line
        return self.log_path.stat().st_size

    def blob_data_path(self, digest: str) -> Path:
        algorithm, hexdigest = digest.split(":", 1)
        return (
            self.storage / "docker" / "registry" / "v2" / "blobs" / algorithm
            / hexdigest[:2] / hexdigest / "data"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _htpasswd_line(user: str, password: str) -> str:
    done = subprocess.run(
        ["htpasswd", "-Bbn", user, password], capture_output=True, check=True, text=True
    )
    return done.stdout.strip()


def start_registry(
    workdir: Path,
    storage: Path,
    *,
    htpasswd: Mapping[str, str] | None = None,
    token_server: TokenServer | None = None,
    address: str = "127.0.0.1",
    tls: tuple[Path, Path] | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> RunningRegistry:
    """Start ``docker-registry`` on a free port of ``address`` and wait until it answers.

    ``tls=(cert, key)`` serves HTTPS instead of plain HTTP; ``client_cert=(cert, key)``
    then also requires that (self-signed) client certificate (mutual TLS).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    storage.mkdir(parents=True, exist_ok=True)
    port = free_port(address)
    auth: dict[str, Any] = {}
    mode = "none"
    if htpasswd is not None:
        path = workdir / "htpasswd"
        path.write_text("".join(_htpasswd_line(u, p) + "\n" for u, p in htpasswd.items()))
        auth = {"htpasswd": {"realm": "muslin-test", "path": str(path)}}
        mode = "basic"
    elif token_server is not None:
        bundle = workdir / "token-signer.pem"
        bundle.write_bytes(token_server.key.cert_pem)
        auth = {
            "token": {
                "realm": token_server.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(bundle),
            }
        }
        mode = "token"
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"{address}:{port}", "secret": uuid.uuid4().hex},
    }
    if tls is not None:
        config["http"]["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
        if client_cert is not None:
            config["http"]["tls"]["clientcas"] = [str(client_cert[0])]
    if auth:
        config["auth"] = auth
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    log_path = workdir / "registry.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(REGISTRY_BIN), "serve", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    registry = RunningRegistry(f"{address}:{port}", storage, log_path, process, mode)
    registry.extra["scheme"] = "https" if tls is not None else "http"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log_path.read_text()[-2000:]}")
        try:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(tls[0])) if tls else True
            if client_cert is not None and isinstance(verify, ssl.SSLContext):
                verify.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
            httpx.get(f"{registry.url}/v2/", timeout=1.0, verify=verify)
            return registry
        except httpx.TransportError:
            time.sleep(0.1)
    registry.stop()
    raise RuntimeError("docker-registry did not start within 30 s")


def have_registry() -> bool:
    return REGISTRY_BIN.exists() and shutil.which("htpasswd") is not None


# -- pushing (distribution push API) ------------------------------------------------


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: httpx.Client, base_url: str, repository: str, data: bytes) -> str:
    """Monolithic upload (POST then PUT ?digest=); returns the digest."""
    digest = sha256_digest(data)
    head = client.head(f"{base_url}/v2/{repository}/blobs/{digest}")
    if head.status_code == 200:
        return digest
    started = client.post(f"{base_url}/v2/{repository}/blobs/uploads/")
    started.raise_for_status()
    location = started.headers["Location"]
    if location.startswith("/"):
        location = base_url + location
    separator = "&" if "?" in location else "?"
    done = client.put(
        f"{location}{separator}digest={digest}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    done.raise_for_status()
    return digest


def push_manifest(
    client: httpx.Client, base_url: str, repository: str, reference: str, data: bytes, media_type: str
) -> str:
    """PUT a manifest or index under a tag (or its digest); returns its digest."""
    response = client.put(
        f"{base_url}/v2/{repository}/manifests/{reference}",
        content=data,
        headers={"Content-Type": media_type},
    )
    if response.status_code >= 400:
        raise RuntimeError(f"push {repository}:{reference}: {response.status_code} {response.text}")
    return sha256_digest(data)


def iter_registry_log_uris(registry: RunningRegistry, since: int, method: str, contains: str) -> Iterator[str]:
    """URIs of ``method`` requests whose URI contains ``contains``."""
    for got_method, uri, _status in registry.requests(since):
        if got_method == method and contains in uri:
            yield uri


def push_image(client: httpx.Client, base_url: str, repository: str, tag: str | None, image: Any) -> str:
    """Push an imagebuilder ``PushableImage`` (blobs, then the manifest by tag or digest)."""
    for data in image.blobs.values():
        push_blob(client, base_url, repository, data)
    return push_manifest(client, base_url, repository, tag or image.digest, image.manifest, image.media_type)


def push_index(client: httpx.Client, base_url: str, repository: str, tag: str, index: Any) -> str:
    """Push an imagebuilder ``PushableIndex``: every image by digest, then the index by tag."""
    for image in index.images:
        push_image(client, base_url, repository, None, image)
    return push_manifest(client, base_url, repository, tag, index.index, index.media_type)
