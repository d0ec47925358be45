"""HTTP/2 where the server offers it: requests multiplexed on one TLS connection per origin.

:class:`Http2Pool` opens one TLS connection per origin, offering ``h2`` and ``http/1.1``
by ALPN.  When the server picks ``h2``, every request to that origin from every thread of
the process shares that connection, as concurrent streams (up to the server's
``SETTINGS_MAX_CONCURRENT_STREAMS``).  Otherwise :meth:`Http2Pool.request` answers None,
the caller sends the request over HTTP/1.1 (httpx), and an origin that did not offer
``h2`` is not asked again.

Why not httpx's own HTTP/2: its sync connection is not safe to share between threads
(encode/httpx#3566), and in pure Python it spent twice the CPU time of HTTP/1.1 on the
~60 MB of index pages a large plan reads.  Nor does a request go through httpx's client
here: its URL validation, header models and cookie handling cost more CPU than the
request itself (~0.4 ms each, over the ~250 requests of a large plan), and a plan that
only talks HTTP/2 never imports httpx.  Here the :mod:`h2` state machine and the TLS
socket are only touched under one lock that is never held while waiting: a reader thread
per connection waits for the socket outside it, then takes it to read everything the
socket has, feed the frames to :mod:`h2` at once and hand each stream its events.  We
advertise 1 MiB frames and large flow-control windows, so a big page comes in few frames
and the server never waits for a window update.

Failures are :class:`TransportError` (retryable: a connection refused or lost, a stream
reset or refused, including streams above a ``GOAWAY``'s last stream ID, which the server
never processed) or :class:`TransportTimeout` (no connection, response or body data within
the timeout); ``kind`` names them as httpx would (``ConnectError``, ``ReadTimeout`` ...).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hpack import NeverIndexedHeaderTuple
from hyperframe.frame import DataFrame

MAX_FRAME = 1 << 20
"""Largest frame we accept (servers send up to this; the default is 16 KiB)."""
STREAM_WINDOW = (1 << 31) - 1
"""Initial flow-control window of each stream: the server never has to wait for us."""
CONNECTION_WINDOW = 1 << 30
"""Added to the connection's flow-control window when it opens."""
READ_SIZE = 1 << 18
SEND_ATTEMPTS = 5
"""Connections a request is sent on at most while servers refuse it unprocessed (``GOAWAY``)."""
WAKE_BYTES = 1 << 18
"""A reader of a body is woken when this much has come in (or the body ended): a big page
wakes its reader a few hundred times, not once per frame."""

_SKIP_HEADERS = frozenset(
    {b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
"""Connection-specific headers HTTP/2 forbids (``Host`` becomes ``:authority``)."""

_NEVER_INDEXED = frozenset({b"authorization", b"proxy-authorization", b"cookie"})

Origin = tuple[str, int]


class TransportError(Exception):
    """A request failed on the way: worth sending again.  ``kind`` names the failure."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind or type(self).__name__


class TransportTimeout(TransportError):
    """No connection, response or body data within the timeout."""


class _DrainingConnection(h2.connection.H2Connection):
    """h2's connection, except that a ``GOAWAY`` lets the streams it covers finish.

    h2 closes its whole state machine on a ``GOAWAY``, so the responses still coming on
    streams up to the frame's last stream ID (which the server promises to complete) would
    be refused as protocol errors.  Here the frame only reports :class:`ConnectionTerminated`;
    :class:`_Connection` then opens no new stream on it and retires it once its streams end.
    (If a future h2 renames this hook, h2's own handling applies: those streams fail with a
    retryable error.)
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        table = getattr(self, "_frame_dispatch_table", None)
        if isinstance(table, dict) and DataFrame in table:
            table[_QuietDataFrame] = table[DataFrame]

    def _receive_frame(self, frame: Any) -> list[h2.events.Event]:
        # h2 formats ``repr(frame)`` for its trace log, eagerly, for every frame it receives; a DATA
        # frame's repr hex-encodes the whole payload (0.17 ms per 64 KiB, 0.16 CPU-s for the 60 MB
        # of pages of a large plan).  A DATA frame is handled as one whose repr skips the payload.
        if type(frame) is DataFrame and _QuietDataFrame in self._frame_dispatch_table:
            frame.__class__ = _QuietDataFrame
        events: list[h2.events.Event] = super()._receive_frame(frame)
        return events

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        event = h2.events.ConnectionTerminated()
        event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class _QuietDataFrame(DataFrame):
    """A received DATA frame whose ``repr`` gives the payload's length, not its bytes in hex."""

    def _body_repr(self) -> str:
        return f"<{len(self.data)} bytes>"


class _Lost(Exception):
    """The connection cannot take new streams; the request may be sent on a new one."""


@dataclass
class _Stream:
    """What the reader has received for one request."""

    ready: threading.Condition
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    buffered: int = 0
    last: float = field(default_factory=time.monotonic)
    """When the server last sent something on this stream (the read timeout counts from there)."""
    ended: bool = False
    error: Exception | None = None


class _Connection:
    """One HTTP/2 connection over a TLS socket (thread-safe; see the module docstring)."""

    def __init__(self, sock: ssl.SSLSocket, authority: bytes) -> None:
        self._sock = sock
        self._authority = authority
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        """Notified when streams end or settings change (a slot may be free)."""
        self._streams: dict[int, _Stream] = {}
        self._lost: Exception | None = None
        """Why no new stream may start (connection lost or ``GOAWAY``)."""
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self._h2 = _DrainingConnection(config=config)
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: MAX_FRAME,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
            },
        )
        # the server may use our settings as soon as it has read them, before it acknowledges them
        self._h2.max_inbound_frame_size = MAX_FRAME
        self._h2.incoming_buffer.max_frame_size = MAX_FRAME
        sock.setblocking(False)
        with self._lock:
            self._h2.initiate_connection()
            self._h2.increment_flow_control_window(CONNECTION_WINDOW)
            self._flush()
        self._reader = threading.Thread(target=self._read_loop, name="muslin-h2", daemon=True)
        self._reader.start()

    # -- socket (under self._lock) -------------------------------------------
    def _flush(self) -> None:
        data = self._h2.data_to_send()
        view = memoryview(data)
        while view:
            try:
                sent = self._sock.send(view)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                waiter = select.poll()
                waiter.register(self._sock, select.POLLOUT | select.POLLIN)
                waiter.poll(1000)
                continue
            view = view[sent:]

    def _recv_available(self) -> bytes | None:
        """Everything the socket has now; b"" if nothing yet, None at end of stream."""
        parts: list[bytes] = []
        while True:
            try:
                data = self._sock.recv(READ_SIZE)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                break
            if not data:
                if parts:
                    break
                return None
            parts.append(data)
        return b"".join(parts)

    # -- reader thread -------------------------------------------------------
    def _read_loop(self) -> None:
        """Until the connection is lost, or retired (no new streams) with none left running."""
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        try:
            while True:
                if not self._sock.pending():
                    poller.poll()
                with self._lock:
                    data = self._recv_available()
                    if data is None:
                        raise TransportError("the server closed the connection", "ReadError")
                    if data:
                        self._receive(data)
                    if self._lost is not None and not self._streams:
                        self._fail_all(self._lost)
                        return
        except (OSError, ValueError, h2.exceptions.ProtocolError, TransportError) as exc:
            error = exc if isinstance(exc, TransportError) else TransportError(
                f"HTTP/2 connection lost ({type(exc).__name__})", "ReadError"
            )
            with self._lock:
                self._fail_all(error)
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()

    def _fail_all(self, error: Exception) -> None:
        if self._lost is None:
            self._lost = error
        for stream in self._streams.values():
            if not stream.ended and stream.error is None:
                stream.error = error
                stream.ready.notify_all()
        self._streams.clear()
        self._changed.notify_all()

    def _receive(self, data: bytes) -> None:
        for event in self._h2.receive_data(data):
            sid = getattr(event, "stream_id", None)
            stream = self._streams.get(sid) if sid is not None else None
            if isinstance(event, h2.events.DataReceived):
                with contextlib.suppress(h2.exceptions.StreamClosedError):
                    self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if stream is not None:
                    stream.chunks.append(event.data)
                    stream.buffered += len(event.data)
                    stream.last = time.monotonic()
                    if stream.buffered >= WAKE_BYTES:
                        stream.ready.notify_all()
            elif isinstance(event, h2.events.ResponseReceived) and stream is not None:
                for name, value in event.headers:
                    if name == b":status":
                        stream.status = int(value)
                    elif not name.startswith(b":"):
                        stream.headers.append((name, value))
                stream.ready.notify_all()
            elif isinstance(event, h2.events.StreamEnded) and stream is not None:
                stream.ended = True
                stream.ready.notify_all()
                del self._streams[event.stream_id]
                self._changed.notify_all()
            elif isinstance(event, h2.events.StreamReset) and stream is not None:
                code = event.error_code
                stream.error = TransportError(f"HTTP/2 stream reset by the server ({code!s})", "RemoteProtocolError")
                stream.ready.notify_all()
                del self._streams[event.stream_id]
                self._changed.notify_all()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._goaway(event.last_stream_id or 0)
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                self._changed.notify_all()
        self._flush()

    def _goaway(self, last_stream_id: int) -> None:
        """No new streams; those the server never processed fail, to be sent again."""
        if self._lost is None:
            self._lost = _Lost("the server is closing the connection (GOAWAY)")
        for sid in [s for s in self._streams if s > last_stream_id]:
            stream = self._streams.pop(sid)
            stream.error = _Lost("stream refused by GOAWAY: the server never processed it")
            stream.ready.notify_all()
        self._changed.notify_all()

    # -- requests ------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self._lost is None

    def request(
        self,
        method: bytes,
        target: bytes,
        fields: Iterable[tuple[bytes, bytes]],
        read_timeout: float | None,
        pool_timeout: float | None,
    ) -> Http2Response:
        """Send a request without a body (``target``: path and query); the response once its
        headers are in (its body is read from :class:`Http2Response`)."""
        # a path is seldom asked for twice, and credentials stay out of HPACK's table (RFC 7541
        # section 7.1.3): both are sent as never-indexed literals
        headers: list[tuple[bytes, bytes]] = [
            (b":method", method),
            (b":authority", self._authority),
            (b":scheme", b"https"),
            NeverIndexedHeaderTuple(b":path", target),
        ]
        for name, value in fields:
            lower = name.lower()
            if lower in _NEVER_INDEXED:
                headers.append(NeverIndexedHeaderTuple(lower, value))
            elif lower not in _SKIP_HEADERS and not (lower == b"te" and value.lower() != b"trailers"):
                headers.append((lower, value))
        stream = _Stream(threading.Condition(self._lock))
        with self._lock:
            deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
            while self._lost is None and self._h2.open_outbound_streams >= self._h2.remote_settings.max_concurrent_streams:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TransportTimeout("no free HTTP/2 stream within the pool timeout", "PoolTimeout")
                self._changed.wait(left)
            if self._lost is not None:
                raise _Lost(str(self._lost))
            sid = self._h2.get_next_available_stream_id()
            try:
                self._h2.send_headers(sid, headers, end_stream=True)
                self._streams[sid] = stream
                self._flush()
            except (OSError, h2.exceptions.ProtocolError) as exc:
                self._fail_all(TransportError(f"HTTP/2 send failed ({type(exc).__name__})", "WriteError"))
                raise _Lost("connection lost while sending") from None
            self._wait(stream, read_timeout, lambda: stream.status is not None, sid)
        return Http2Response(self, sid, stream, read_timeout)

    def _wait(self, stream: _Stream, timeout: float | None, check: Callable[[], bool], sid: int) -> None:
        """Wait (holding the lock) until ``check()`` or the stream fails.

        The read timeout counts from the last frame received on the stream; when it passes,
        the stream is reset.
        """
        while stream.error is None and not check():
            left = None if timeout is None else stream.last + timeout - time.monotonic()
            if left is not None and left <= 0:
                self._cancel(sid)
                raise TransportTimeout("timed out waiting for the HTTP/2 response", "ReadTimeout")
            stream.ready.wait(left)
        if stream.error is not None and not check():
            raise stream.error

    def _cancel(self, sid: int) -> None:
        """Reset a stream we no longer want (holding the lock)."""
        if self._streams.pop(sid, None) is None:
            return
        with contextlib.suppress(h2.exceptions.ProtocolError, OSError):
            self._h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            self._flush()
        self._changed.notify_all()

    def chunks(self, sid: int, stream: _Stream, timeout: float | None) -> Iterator[bytes]:
        while True:
            with self._lock:
                self._wait(stream, timeout, lambda: stream.buffered >= WAKE_BYTES or stream.ended, sid)
                parts, stream.chunks, stream.buffered = stream.chunks, [], 0
                ended = stream.ended
            yield from parts  # the reader of the body joins them once
            if ended:
                return

    def release(self, sid: int, stream: _Stream) -> None:
        with self._lock:
            if not stream.ended:
                self._cancel(sid)

    def close(self) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = _Lost("connection closed")
            with contextlib.suppress(h2.exceptions.ProtocolError, OSError):
                self._h2.close_connection()
                self._flush()
            self._fail_all(TransportError("connection closed", "ReadError"))
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


class Http2Response:
    """A response on a stream: status and headers now, the body as it comes.

    ``headers`` are lower-cased, repeated fields joined with ", ".  The body is decoded as
    ``Content-Encoding`` says (gzip or deflate, the codings :data:`ACCEPT_ENCODING` asks for).
    """

    def __init__(self, conn: _Connection, sid: int, stream: _Stream, timeout: float | None) -> None:
        self._conn = conn
        self._sid = sid
        self._stream = stream
        self._timeout = timeout
        self._content: bytes | None = None
        self.status_code = stream.status or 0
        self.headers: dict[str, str] = {}
        for name, value in stream.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        self.url = ""
        """The URL asked for (set by the client)."""

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body, decoded, in the pieces it arrives in (``chunk_size`` is not used)."""
        chunks = self._conn.chunks(self._sid, self._stream, self._timeout)
        coding = self.headers.get("content-encoding", "").strip().lower()
        if coding in ("", "identity"):
            yield from chunks
            return
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise TransportError(f"unsupported Content-Encoding {coding!r}", "DecodingError")
        decoder: Any = None
        try:
            for chunk in chunks:
                if decoder is None:
                    decoder = zlib.decompressobj(_wbits(coding, chunk))
                out = decoder.decompress(chunk)
                if out:
                    yield out
            if decoder is not None:
                tail = decoder.flush()
                if tail:
                    yield tail
        except zlib.error as exc:
            raise TransportError(f"cannot decode the {coding} body ({exc})", "DecodingError") from None

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(self.iter_bytes())
        return self._content

    def close(self) -> None:
        self._conn.release(self._sid, self._stream)


def _wbits(coding: str, first: bytes) -> int:
    """zlib's window bits for a body: gzip, zlib-wrapped deflate, or the raw deflate some
    servers send as ``deflate`` (told apart by the zlib header check)."""
    if "gzip" in coding:
        return 16 + zlib.MAX_WBITS
    if len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


ACCEPT_ENCODING = b"gzip, deflate"
"""The codings :class:`Http2Response` decodes."""


class Http2Pool:
    """One HTTP/2 connection per origin that offers ``h2``; None for the others (see the module docstring)."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        ssl_context.set_alpn_protocols(["h2", "http/1.1"])
        self._ssl = ssl_context
        self._lock = threading.Lock()
        self._connections: dict[Origin, _Connection] = {}
        self._http1: set[Origin] = set()
        self._opening: dict[Origin, threading.Lock] = {}
        self._closed = False

    def request(
        self,
        method: str,
        host: str,
        port: int,
        target: bytes,
        fields: Iterable[tuple[bytes, bytes]],
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        pool_timeout: float | None,
    ) -> Http2Response | None:
        """``method target`` (no body) to ``https://host:port``; None when that origin does not
        offer ``h2`` (send it over HTTP/1.1 instead)."""
        origin = (host, port)
        fields = list(fields)
        for _attempt in range(SEND_ATTEMPTS):  # streams the server never processed are sent again
            conn = self._connection(origin, connect_timeout)
            if conn is None:
                return None
            try:
                return conn.request(method.encode("ascii"), target, fields, read_timeout, pool_timeout)
            except _Lost:
                with self._lock:
                    if self._connections.get(origin) is conn:
                        del self._connections[origin]
        raise TransportError(
            f"HTTP/2: the server refused the request on {SEND_ATTEMPTS} connections in turn", "RemoteProtocolError"
        )

    def _connection(self, origin: Origin, timeout: float | None) -> _Connection | None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the HTTP/2 pool is closed")
            conn = self._connections.get(origin)
            if conn is not None and conn.usable:
                return conn
            if origin in self._http1:
                return None
            opening = self._opening.setdefault(origin, threading.Lock())
        # a connection that may not take new streams finishes its running ones, then its
        # reader closes it (see _Connection._read_loop)
        with opening:  # one connection at a time per origin; the others wait and share it
            with self._lock:
                conn = self._connections.get(origin)
                if conn is not None and conn.usable:
                    return conn
                if origin in self._http1:
                    return None
            conn = self._open(origin, timeout)
            with self._lock:
                if conn is None:
                    self._http1.add(origin)
                else:
                    self._connections[origin] = conn
            return conn

    def _open(self, origin: Origin, timeout: float | None) -> _Connection | None:
        """A new HTTP/2 connection, or None when the server does not offer ``h2``."""
        host, port = origin
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError:
            raise TransportTimeout(f"timed out connecting to {host}:{port}", "ConnectTimeout") from None
        except OSError as exc:
            raise TransportError(
                f"cannot connect to {host}:{port} ({exc.strerror or type(exc).__name__})", "ConnectError"
            ) from None
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock = self._ssl.wrap_socket(raw, server_hostname=host)
        except TimeoutError:
            raw.close()
            raise TransportTimeout(f"timed out in the TLS handshake with {host}:{port}", "ConnectTimeout") from None
        except ssl.SSLError as exc:
            raw.close()
            raise TransportError(
                f"TLS handshake with {host}:{port} failed ({exc.reason or exc})", "ConnectError"
            ) from None
        except OSError as exc:
            raw.close()
            raise TransportError(
                f"TLS handshake with {host}:{port} failed ({type(exc).__name__})", "ConnectError"
            ) from None
        if sock.selected_alpn_protocol() != "h2":
            sock.close()
            return None
        return _Connection(sock, _authority(host, port))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections.values()), {}
        for conn in connections:
            conn.close()


def _authority(host: str, port: int) -> bytes:
    """``:authority`` for an origin: the host (IDNA, brackets around IPv6) and a port other than 443."""
    name = f"[{host}]" if ":" in host else host.encode("idna").decode("ascii")
    return (name if port == 443 else f"{name}:{port}").encode("ascii")
