"""TLS settings for the index side, made once per process, and loaded ahead when asked.

Loading a CA bundle takes 20-40 ms, which a cold plan would otherwise spend before its
first request.  :func:`preload` loads it on a background thread (and imports httpx there
when asked) while the plan imports its HTTP machinery or reads the image (OpenSSL parses the
bundle without holding the GIL); :func:`context` takes the result (waiting for it if need
be), and :func:`settle` waits for a preload to end, so that a process forks without that
thread (see :mod:`muslin.index.warmer`).

``verify=True`` trusts what httpx would: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else
certifi's bundle.  This module imports neither httpx nor certifi until it needs them.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading

from muslin.errors import UsageError

Verify = bool | str
"""True: the default trust store; a string: a CA bundle file or directory; False: no checks."""

_Key = tuple[Verify, str | None, str | None, str]
_CONTEXTS: dict[_Key, ssl.SSLContext] = {}
_LOCK = threading.Lock()
_preloads: dict[_Key, threading.Thread] = {}
_threads: list[threading.Thread] = []

HTTP11 = "http/1.1"
"""The purpose of httpx's context: it sets its own ALPN list on the context it is given, so its
HTTP/1.1 transport cannot share the HTTP/2 connections' context (purpose ``""``)."""


def _key(verify: Verify, purpose: str = "") -> _Key:
    return (verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"), purpose)


def make_context(verify: Verify) -> ssl.SSLContext:
    """A new client context for ``verify`` (see the module docstring); a CA file or directory
    that cannot be loaded is a :class:`~muslin.errors.UsageError` naming where it came from."""
    if verify is False:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if isinstance(verify, str):
        origin, location = "CA bundle", verify
    elif os.environ.get("SSL_CERT_FILE"):
        origin, location = "SSL_CERT_FILE", os.environ["SSL_CERT_FILE"]
    elif os.environ.get("SSL_CERT_DIR"):
        origin, location = "SSL_CERT_DIR", os.environ["SSL_CERT_DIR"]
    else:
        import certifi

        origin, location = "certifi", certifi.where()
    try:
        if os.path.isdir(location):
            return ssl.create_default_context(capath=location)
        return ssl.create_default_context(cafile=location)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{origin} {location}: cannot load CA certificates ({reason})") from None


def context(verify: Verify = True, purpose: str = "") -> ssl.SSLContext:
    """The process's shared context for ``verify`` and ``purpose`` (a preload of it is waited for)."""
    key = _key(verify, purpose)
    with _LOCK:
        preload_thread = _preloads.get(key)
    if preload_thread is not None:
        preload_thread.join()
    with _LOCK:
        ctx = _CONTEXTS.get(key)
    if ctx is None:
        made = make_context(verify)  # outside the lock: it takes a while
        with _LOCK:
            ctx = _CONTEXTS.setdefault(key, made)
    return ctx


def preload(verify: Verify = True, *, purposes: tuple[str, ...] = ("",), imports: tuple[str, ...] = ()) -> None:
    """Start making the contexts for ``verify`` and ``purposes`` on a background thread (each
    once; a failure is left for :func:`context` to meet and report when a request needs it).

    ``imports``: modules the first requests will need (httpx), imported on that thread first.
    """
    with _LOCK:
        wanted = dict.fromkeys(_key(verify, p) for p in purposes)
        keys = [key for key in wanted if key not in _CONTEXTS and key not in _preloads]
        if not keys and not imports:
            return

        def load() -> None:
            import importlib

            for name in imports:
                with contextlib.suppress(ImportError):  # the request that needs it reports it
                    importlib.import_module(name)
            for key in keys:
                try:
                    made = make_context(verify)
                except UsageError:
                    return
                with _LOCK:
                    _CONTEXTS.setdefault(key, made)

        thread = threading.Thread(target=load, name="muslin-tls-preload", daemon=True)
        _preloads.update(dict.fromkeys(keys, thread))
        _threads.append(thread)
    thread.start()


def settle() -> None:
    """Wait until no preload is running (before forking)."""
    with _LOCK:
        threads = list(_threads)
    for thread in threads:
        thread.join()
