"""Per-registry TLS trust from ``certs.d`` directories, the way Docker and Podman read them.

For a registry ``HOST[:PORT]``, the directory ``<root>/HOST[:PORT]/`` may hold:

* ``*.crt``: extra certificate authorities trusted for that registry only
  (on top of the usual ones: certifi's bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``);
* ``NAME.cert`` with ``NAME.key``: a client certificate presented to it.

Roots, first match wins: ``$MUSLIN_CERTS_D`` (one directory), else
``/etc/docker/certs.d``, ``/etc/containers/certs.d``, ``~/.config/docker/certs.d``
and ``~/.config/containers/certs.d``.  A registry without a directory keeps
the default verification (``True``); TLS verification is never switched off.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

from muslin.errors import UsageError

DEFAULT_ROOTS = (
    "/etc/docker/certs.d",
    "/etc/containers/certs.d",
    "~/.config/docker/certs.d",
    "~/.config/containers/certs.d",
)


def certs_dir(host: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The ``certs.d`` directory for ``host`` (``name:port`` as written in image references), if any."""
    environ = os.environ if env is None else env
    override = environ.get("MUSLIN_CERTS_D")
    roots = [override] if override else list(DEFAULT_ROOTS)
    for root in roots:
        candidate = Path(root).expanduser() / host
        if candidate.is_dir():
            return candidate
    return None


def _default_context() -> ssl.SSLContext:
    """What httpx trusts by default: ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else certifi."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def registry_verify(host: str, env: Mapping[str, str] | None = None) -> bool | ssl.SSLContext:
    """``verify=`` for the HTTP client of ``host``: True, or a context with its ``certs.d`` files."""
    folder = certs_dir(host, env)
    if folder is None:
        return True
    files = sorted(p for p in folder.iterdir() if p.is_file())
    try:
        context = _default_context()
        for path in files:
            if path.suffix == ".crt":
                context.load_verify_locations(cafile=str(path))
        for path in files:
            if path.suffix == ".cert":
                key = path.with_suffix(".key")
                if not key.is_file():
                    raise UsageError(f"{path}: client certificate without its key {key.name}")
                context.load_cert_chain(str(path), str(key))
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise UsageError(f"{folder}: unusable certificate files ({reason})") from None
    return context
