"""A real package index on 127.0.0.1 for tests, serving a directory of files.

Usage::

    with IndexServer(root_dir, mode="json") as server:
        server.url        # "http://127.0.0.1:PORT/simple/"  (the index URL)
        server.flat_url   # "http://127.0.0.1:PORT/flat/"    (find-links page of all files)
        server.requests   # [(method, path, headers), ...] every request received

``root_dir`` is a flat directory of wheels (``.whl``) and sdists (``.tar.gz``,
``.zip``); the project of each file comes from its name.  Files are served at
``/files/<filename>``; project pages at ``/simple/<normalized-name>/`` (any
non-normalized spelling redirects there with 301); ``/simple/`` lists projects.

Modes:

``json``
    PEP 691 JSON when the ``Accept`` header asks for it (HTML otherwise), with
    sha256 hashes, ``requires-python`` (read from each wheel's METADATA),
    ``yanked`` and PEP 658/714 ``core-metadata`` (``/files/<wheel>.metadata``).
``html``
    PEP 503 HTML only: ``#sha256=`` fragments, ``data-requires-python``
    (HTML-escaped), ``data-yanked``; no metadata files (``metadata=True`` adds
    ``data-dist-info-metadata``/``data-core-metadata``).
``alpine-wheels``
    HTML only, ``#sha256=`` fragments, no requires-python, no metadata files
    (the layout of the alpine-wheels project, serving ``linux_<arch>`` wheels).

Options:

``ranges``        honour ``Range`` on files (``False``: always send the whole file, 200).
``basic_auth``    ``(user, password)`` required on every request (401 otherwise).
``fail_status``   ``{path: status}`` (always) or ``{path: (status, times)}`` (the first ``times`` requests).
``delay``         seconds to sleep before answering (float, or ``{path: seconds}``).
``garbage``       project names whose page is unreadable junk (for both JSON and HTML).
``yanked``        ``{filename: reason}`` files marked yanked.
``cache_control`` ``Cache-Control`` value sent with project pages (default ``max-age=0``);
                  pages carry an ``ETag`` and ``If-None-Match`` gets ``304``.
``hashes``        ``False``: no sha256 in pages (clients must hash downloads themselves).
``metadata``      PEP 658 metadata files on/off (default: on for ``json`` only).
``relative``      ``True`` (default): file links are relative (``../../files/x.whl``).

``server.set_file_bytes(filename, data)`` replaces the bytes served for a file
without changing the hash advertised (to test hash mismatches);
``server.clear_requests()`` empties the log.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"


@dataclass
class _File:
    filename: str
    project: str
    data: bytes
    sha256: str
    requires_python: str | None
    metadata: bytes | None


def _read_metadata(path: Path) -> bytes | None:
    name = path.name
    try:
        if name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if member.endswith(".dist-info/METADATA") and member.count("/") == 1:
                        return zf.read(member)
        elif name.endswith(".tar.gz"):
            with tarfile.open(path) as tf:
                for ti in tf.getmembers():
                    if ti.name.endswith("/PKG-INFO") and ti.name.count("/") == 1:
                        fh = tf.extractfile(ti)
                        return fh.read() if fh else None
    except (zipfile.BadZipFile, tarfile.TarError, OSError):
        return None
    return None


def _project_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        m = re.match(r"^([A-Za-z0-9_.]+?)-\d", filename)
        return str(canonicalize_name(m.group(1))) if m else None


class IndexServer:
    """Serve ``root_dir`` as a PEP 503/691 index on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        root_dir: Path | str,
        mode: str = "html",
        *,
        ranges: bool = True,
        basic_auth: tuple[str, str] | None = None,
        fail_status: Mapping[str, int | tuple[int, int]] | None = None,
        delay: float | Mapping[str, float] = 0.0,
        garbage: Iterable[str] = (),
        yanked: Mapping[str, str] | None = None,
        cache_control: str | None = "max-age=0",
        hashes: bool = True,
        metadata: bool | None = None,
        relative: bool = True,
    ) -> None:
        if mode not in ("json", "html", "alpine-wheels"):
            raise ValueError(f"unknown mode {mode!r}")
        self.root = Path(root_dir)
        self.mode = mode
        self.ranges = ranges
        self.basic_auth = basic_auth
        self.fail_status: dict[str, int | tuple[int, int]] = dict(fail_status or {})
        self._fail_counts: dict[str, int] = {}
        self.delay = delay
        self.garbage = {canonicalize_name(g) for g in garbage}
        self.yanked = dict(yanked or {})
        self.cache_control = cache_control
        self.hashes = hashes
        self.metadata = (mode == "json") if metadata is None else metadata
        self.relative = relative
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._overrides: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._known: dict[tuple[str, int, int], _File] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------
    def __enter__(self) -> IndexServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- addresses -----------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The index URL (``/simple/``)."""
        return f"{self.base}/simple/"

    @property
    def flat_url(self) -> str:
        """A find-links page linking every file."""
        return f"{self.base}/flat/"

    def url_with_auth(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}/simple/"

    # -- test helpers --------------------------------------------------------
    def set_file_bytes(self, filename: str, data: bytes) -> None:
        self._overrides[filename] = data

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def paths(self, method: str | None = None) -> list[str]:
        """Paths requested so far (optionally only one method)."""
        return [p for m, p, _ in list(self.requests) if method is None or m == method]

    # -- content -------------------------------------------------------------
    def files(self) -> dict[str, list[_File]]:
        """Project name -> files, listed fresh from ``root_dir`` (tests may add or rewrite files).

        A file is read, hashed and opened for its metadata once per (size, mtime): a real
        index does not rehash its files on every request, and benchmarks must not pay for it.
        """
        projects: dict[str, list[_File]] = {}
        for path in sorted(self.root.iterdir()):
            if not path.is_file() or path.name.endswith(".metadata"):
                continue
            project = _project_of(path.name)
            if project is None:
                continue
            stat = path.stat()
            key = (path.name, stat.st_size, stat.st_mtime_ns)
            with self._lock:
                known = self._known.get(key)
            if known is None:
                data = path.read_bytes()
                meta = _read_metadata(path)
                rp = None
                if meta is not None:
                    rp = HeaderParser().parsestr(meta.decode("utf-8", "replace")).get("Requires-Python")
                known = _File(path.name, project, data, hashlib.sha256(data).hexdigest(), rp, meta)
                with self._lock:
                    self._known[key] = known
            projects.setdefault(project, []).append(known)
        return projects

    def _file_href(self, filename: str) -> str:
        if self.relative:
            return f"../../files/{filename}"
        return f"{self.base}/files/{filename}"

    def project_json(self, name: str, files: list[_File]) -> bytes:
        out: list[dict[str, Any]] = []
        for f in files:
            entry: dict[str, Any] = {
                "filename": f.filename,
                "url": self._file_href(f.filename),
                "hashes": {"sha256": f.sha256} if self.hashes else {},
                "size": len(f.data),
            }
            if f.requires_python and self.mode != "alpine-wheels":
                entry["requires-python"] = f.requires_python
            if f.filename in self.yanked:
                entry["yanked"] = self.yanked[f.filename] or True
            if self.metadata and f.metadata is not None and f.filename.endswith(".whl"):
                mh = {"sha256": hashlib.sha256(f.metadata).hexdigest()}
                entry["core-metadata"] = mh
                entry["dist-info-metadata"] = mh
            out.append(entry)
        doc = {"meta": {"api-version": "1.1"}, "name": name, "files": out}
        return json.dumps(doc).encode()

    def project_html(self, name: str, files: list[_File]) -> bytes:
        rows = []
        for f in files:
            href = self._file_href(f.filename)
            if self.hashes:
                href += f"#sha256={f.sha256}"
            attrs = [f'href="{html.escape(href)}"']
            if f.requires_python and self.mode == "html":
                attrs.append(f'data-requires-python="{html.escape(f.requires_python)}"')
            if f.filename in self.yanked and self.mode != "alpine-wheels":
                attrs.append(f'data-yanked="{html.escape(self.yanked[f.filename])}"')
            if (
                self.metadata
                and self.mode != "alpine-wheels"
                and f.metadata is not None
                and f.filename.endswith(".whl")
            ):
                mh = "sha256=" + hashlib.sha256(f.metadata).hexdigest()
                attrs.append(f'data-dist-info-metadata="{mh}" data-core-metadata="{mh}"')
            rows.append(f"    <a {' '.join(attrs)}>{html.escape(f.filename)}</a><br/>")
        body = (
            "<!DOCTYPE html>\n<html>\n  <head>\n"
            '    <meta name="pypi:repository-version" content="1.0">\n'
            f"    <title>Links for {html.escape(name)}</title>\n  </head>\n  <body>\n"
            f"    <h1>Links for {html.escape(name)}</h1>\n" + "\n".join(rows) + "\n  </body>\n</html>\n"
        )
        return body.encode()

    def flat_html(self) -> bytes:
        rows = []
        for files in self.files().values():
            for f in files:
                href = f"../files/{f.filename}" + (f"#sha256={f.sha256}" if self.hashes else "")
                rows.append(f'<a href="{html.escape(href)}">{html.escape(f.filename)}</a><br/>')
        return ("<html><body>\n" + "\n".join(rows) + "\n</body></html>\n").encode()


class _Handler(BaseHTTPRequestHandler):
    owner: IndexServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        srv = self.owner
        path = unquote(urlsplit(self.path).path)
        with srv._lock:
            srv.requests.append((self.command, path, dict(self.headers.items())))
        delay = srv.delay if isinstance(srv.delay, (int, float)) else srv.delay.get(path, 0.0)
        if delay:
            time.sleep(delay)
        if srv.basic_auth is not None:
            user, pw = srv.basic_auth
            expected = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._send(401, b"unauthorized", headers={"WWW-Authenticate": 'Basic realm="test"'})
                return
        if path in srv.fail_status:
            spec = srv.fail_status[path]
            status, times = (spec, -1) if isinstance(spec, int) else spec
            with srv._lock:
                count = srv._fail_counts.get(path, 0)
                srv._fail_counts[path] = count + 1
            if times < 0 or count < times:
                self._send(status, f"injected {status}".encode())
                return
        if path == "/simple/" or path == "/simple":
            self._root_page()
        elif path.startswith("/simple/"):
            self._project_page(path[len("/simple/") :].strip("/"))
        elif path == "/flat/":
            self._send(200, srv.flat_html(), "text/html")
        elif path.startswith("/files/"):
            self._file(path[len("/files/") :])
        else:
            self._send(404, b"not found")

    def _root_page(self) -> None:
        names = sorted(self.owner.files())
        if JSON_TYPE in self.headers.get("Accept", "") and self.owner.mode == "json":
            doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
            self._send(200, json.dumps(doc).encode(), JSON_TYPE)
            return
        links = "\n".join(f'<a href="{n}/">{n}</a>' for n in names)
        self._send(200, f"<html><body>\n{links}\n</body></html>\n".encode(), "text/html")

    def _project_page(self, raw: str) -> None:
        srv = self.owner
        name = canonicalize_name(raw)
        if raw != name:
            self._send(301, b"", headers={"Location": f"/simple/{name}/"})
            return
        projects = srv.files()
        if name not in projects:
            self._send(404, b"not found")
            return
        want_json = srv.mode == "json" and JSON_TYPE in self.headers.get("Accept", "")
        if name in srv.garbage:
            body = b'{"meta": {"api-version": "1.1"}, "files": [ {"filen' if want_json else (
                b"\x00\xffPK\x03\x04 this is not an index page <<<<"
            )
            ctype = JSON_TYPE if want_json else "text/html"
        elif want_json:
            body, ctype = srv.project_json(name, projects[name]), JSON_TYPE
        else:
            body = srv.project_html(name, projects[name])
            ctype = HTML_TYPE if srv.mode == "json" else "text/html"
        etag = '"' + hashlib.sha256(body + ctype.encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Vary": "Accept"}
        if srv.cache_control is not None:
            headers["Cache-Control"] = srv.cache_control
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(200, body, ctype, headers)

    def _file(self, filename: str) -> None:
        srv = self.owner
        metadata = filename.endswith(".metadata")
        real = filename[: -len(".metadata")] if metadata else filename
        path = srv.root / real
        if "/" in real or not path.is_file():
            self._send(404, b"not found")
            return
        if metadata:
            if not srv.metadata or srv.mode == "alpine-wheels":
                self._send(404, b"not found")
                return
            meta = _read_metadata(path)
            if meta is None:
                self._send(404, b"not found")
                return
            self._send(200, meta, "application/octet-stream")
            return
        data = srv._overrides.get(real, path.read_bytes())
        headers = {"Accept-Ranges": "bytes"} if srv.ranges else {}
        rng = self.headers.get("Range")
        if srv.ranges and rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m:
                size = len(data)
                first, last = m.group(1), m.group(2)
                if first == "":
                    start, end = max(0, size - int(last or 0)), size - 1
                else:
                    start = int(first)
                    end = min(int(last), size - 1) if last else size - 1
                if start >= size or start > end:
                    self._send(416, b"", headers={"Content-Range": f"bytes */{size}"})
                    return
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                self._send(206, data[start : end + 1], "application/octet-stream", headers)
                return
        self._send(200, data, "application/octet-stream", headers)
