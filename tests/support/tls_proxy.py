"""A real TLS front end on 127.0.0.1 for tests: nginx, with or without HTTP/2, proxying to a test server.

Usage::

    with IndexServer(root, mode="json") as index, TlsProxy(index.base, http2=True, tmp=tmp_path) as proxy:
        proxy.url("/simple/")   # "https://127.0.0.1:PORT/simple/"
        proxy.cert              # the self-signed certificate to trust (SSL_CERT_FILE / verify=)
        proxy.protocols()       # ["HTTP/2.0", ...]: the protocol of every request nginx answered

nginx (Debian's ``nginx-light``) runs in the foreground as one process with a config of
its own in ``tmp``; ``keepalive_requests`` (``max_requests``) makes it end each HTTP/2
connection with a ``GOAWAY`` after that many requests.  Without nginx the test is skipped
(under ``CI=true`` it fails: ``.ci/run`` installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from support.common import need
from support.registry import write_tls_certificate

CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    log_format proto '$server_protocol $status $connection $request_method $request_uri';
    access_log {root}/access.log proto;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests {max_requests};
    server {{
        listen 127.0.0.1:{port} ssl{http2};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        absolute_redirect off;
{extra}
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TlsProxy:
    """nginx terminating TLS (HTTP/2 offered by ALPN when ``http2``) in front of ``upstream``."""

    def __init__(
        self,
        upstream: str,
        *,
        tmp: Path,
        http2: bool = True,
        max_requests: int = 1000,
        gzip: bool = False,
        redirects: dict[str, str] | None = None,
    ) -> None:
        """``gzip``: compress pages for clients that accept it; ``redirects``: path prefix ->
        where nginx sends it (302, the rest of the path appended; relative or absolute)."""
        self.upstream = upstream.rstrip("/")
        self.gzip = gzip
        self.redirects = dict(redirects or {})
        self.root = tmp / f"nginx-{'h2' if http2 else 'h1'}-{_free_port()}"
        self.http2 = http2
        self.max_requests = max_requests
        self.port = 0
        self.cert = self.root / "tls.crt"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TlsProxy:
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        need(nginx is not None, "nginx is not installed (apt-get install nginx-light)")
        assert nginx is not None
        self.root.mkdir(parents=True)
        self.cert, key = write_tls_certificate(self.root, "127.0.0.1")
        for _attempt in range(5):
            self.port = _free_port()
            conf = self.root / "nginx.conf"
            conf.write_text(
                CONF.format(
                    root=self.root, port=self.port, http2=" http2" if self.http2 else "",
                    cert=self.cert, key=key, upstream=self.upstream, max_requests=self.max_requests,
                    extra=self._extra(),
                )
            )
            self._process = subprocess.Popen(
                [nginx, "-p", str(self.root), "-c", str(conf)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if self._wait_listening():
                return self
            self._stop()
        check = subprocess.run([nginx, "-t", "-p", str(self.root), "-c", str(conf)], capture_output=True, text=True)
        raise RuntimeError(f"nginx did not start: {check.stderr[-500:]}")

    def _extra(self) -> str:
        lines = []
        if self.gzip:
            lines.append("        gzip on; gzip_proxied any; gzip_min_length 1;")
            lines.append("        gzip_types application/vnd.pypi.simple.v1+json application/json text/html;")
        for prefix, target in self.redirects.items():
            lines.append(f"        location ^~ {prefix} {{ rewrite ^{prefix}(.*)$ {target}$1 redirect; }}")
        return "\n".join(lines)

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def _stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def log(self) -> list[tuple[str, int, int, str, str]]:
        """(protocol, status, connection number, method, URI) of every request answered so far."""
        path = self.root / "access.log"
        # nginx writes a request's line when it finalises it, which can be just after the client
        # has the response: read until the log has stopped growing for 0.2 s (2 s at most)
        deadline = time.monotonic() + 2
        text, stable_since = None, time.monotonic()
        while True:
            now_text = path.read_text() if path.exists() else ""
            if now_text != text:
                text, stable_since = now_text, time.monotonic()
            elif time.monotonic() - stable_since >= 0.2 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        rows: list[tuple[str, int, int, str, str]] = []
        for line in text.splitlines():
            proto, status, conn, method, uri = line.split(" ", 4)
            rows.append((proto, int(status), int(conn), method, uri))
        return rows

    def protocols(self) -> list[str]:
        return [row[0] for row in self.log()]
