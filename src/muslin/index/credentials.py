"""Credentials for index URLs: URL userinfo, ``MUSLIN_INDEX_<NAME>_*`` variables and ``.netrc``.

Kept apart from :mod:`muslin.index.http` (and httpx) so that what only needs to know whether
an index needs credentials, like a plan rendered from a cached resolution, stays light.
Credentials are never printed: :class:`CredentialStore`'s ``repr`` counts them only.
"""

from __future__ import annotations

import logging
import netrc
import os
import re
import threading
from urllib.parse import unquote, urlsplit

from muslin.index.config import redact_url

log = logging.getLogger(__name__)


def env_credentials(index_name: str) -> tuple[str, str] | None:
    """``MUSLIN_INDEX_<NAME>_USERNAME``/``_PASSWORD`` (NAME upper-cased, non-alnum -> ``_``)."""
    key = re.sub(r"[^A-Za-z0-9]", "_", index_name).upper()
    user = os.environ.get(f"MUSLIN_INDEX_{key}_USERNAME")
    password = os.environ.get(f"MUSLIN_INDEX_{key}_PASSWORD")
    if user is None and password is None:
        return None
    return user or "", password or ""


def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, lower-cased host, port) of a URL: credentials belong to one origin."""
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class CredentialStore:
    """Where credentials for a URL come from (never printed)."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._netrc: netrc.netrc | bool | None = False

    def __repr__(self) -> str:
        return f"CredentialStore({len(self._entries)} entries)"

    def add(self, url: str, username: str, password: str) -> None:
        """Use ``username``/``password`` for ``url`` and anything on the same origin."""
        with self._lock:
            self._entries.append((redact_url(url), username, password))

    def add_from_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            self.add(url, unquote(parts.username or ""), unquote(parts.password or ""))

    def _load_netrc(self) -> netrc.netrc | None:
        if self._netrc is False:
            path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
            try:
                self._netrc = netrc.netrc(path) if os.path.isfile(path) else None
            except (netrc.NetrcParseError, OSError) as exc:
                log.warning("ignoring unreadable netrc file %s (%s)", path, type(exc).__name__)
                self._netrc = None
        return self._netrc if isinstance(self._netrc, netrc.netrc) else None

    def lookup(self, url: str) -> tuple[str, str] | None:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            return unquote(parts.username or ""), unquote(parts.password or "")
        clean = redact_url(url)
        origin = url_origin(clean)
        best: tuple[int, str, str] | None = None
        with self._lock:
            for prefix, user, pw in self._entries:
                if url_origin(prefix) != origin:
                    continue
                score = len(prefix) if clean.startswith(prefix) else 0
                if best is None or score > best[0]:
                    best = (score, user, pw)
        if best is not None:
            return best[1], best[2]
        rc = self._load_netrc()
        if rc is not None and parts.hostname:
            auth = rc.authenticators(parts.hostname)
            if auth is not None:
                login, _account, password = auth
                return login or "", password or ""
        return None
