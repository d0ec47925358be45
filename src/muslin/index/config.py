"""Index configuration: which indexes exist, which package is pinned to which.

Built from the command line, ``pyproject.toml`` (``[[tool.uv.index]]``,
``[tool.uv.sources]``, ``[tool.muslin]``), ``muslin.yaml``, requirements-file
options and environment variables; consumed by the finder.  Credentials may
sit in :attr:`IndexConfig.url` userinfo: only :attr:`IndexConfig.redacted_url`
is ever shown or written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import Enum
from urllib.parse import urlsplit, urlunsplit

from packaging.markers import Marker
from packaging.utils import NormalizedName

PYPI_NAME = "pypi"
PYPI_URL = "https://pypi.org/simple/"


class IndexStrategy(str, Enum):
    FIRST_INDEX = "first-index"
    """The first index (in priority order) that lists a name owns it."""
    UNSAFE_BEST_MATCH = "unsafe-best-match"
    """Consider every index; take the best version wherever it is."""
    UNSAFE_FIRST_MATCH = "unsafe-first-match"
    """Consider every index, exhausting the first index's versions before the next one's (as uv)."""


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def redact_urls_in(text: str) -> str:
    """``text`` (a requirement such as ``x @ https://user:pw@host/x.whl``) with every URL's userinfo removed."""
    return _USERINFO.sub(r"\1", text)


def redact_url(url: str) -> str:
    """The URL with any ``user:password@`` removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class IndexConfig:
    """One package index or find-links location."""

    name: str
    url: str
    """May carry credentials in userinfo; never print it, use ``redacted_url``."""
    explicit: bool = False
    """Only consulted for packages pinned to it (uv's ``explicit = true``)."""
    default: bool = False
    """The default index: consulted last (replaces PyPI)."""
    accept_linux_tags: bool = False
    """Treat ``linux_<arch>`` wheels as built for the target (alpine-wheels style indexes)."""
    kind: str = "simple"
    """``simple`` (PEP 503/691) or ``find-links`` (flat HTML page or local directory)."""

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)

    @property
    def has_credentials(self) -> bool:
        parts = urlsplit(self.url)
        return parts.username is not None or parts.password is not None

    def __repr__(self) -> str:
        return f"IndexConfig(name={self.name!r}, url={self.redacted_url!r}, explicit={self.explicit}, default={self.default})"


@dataclass(frozen=True)
class IndexPin:
    """``package`` is looked up on ``index`` only (transitively too), where ``marker`` holds."""

    package: NormalizedName
    index: str
    marker: Marker | None = None


@dataclass(frozen=True)
class IndexSettings:
    """Everything the finder needs to know about where packages come from."""

    indexes: tuple[IndexConfig, ...] = ()
    """In priority order, the default index last."""
    pins: tuple[IndexPin, ...] = ()
    strategy: IndexStrategy = IndexStrategy.FIRST_INDEX
    only_binary: frozenset[str] = field(default_factory=frozenset)
    """Canonical names, or ``:all:``."""
    no_binary: frozenset[str] = field(default_factory=frozenset)

    def index(self, name: str) -> IndexConfig | None:
        for ix in self.indexes:
            if ix.name == name:
                return ix
        return None

    @property
    def uses_tls(self) -> bool:
        """Some index is an ``https:`` URL (a TLS context will be needed)."""
        return any(ix.url.startswith("https:") for ix in self.indexes)

    def with_default_pypi(self) -> IndexSettings:
        """Append PyPI as the default index unless a default index is already configured."""
        if any(ix.default for ix in self.indexes):
            return self
        if self.index(PYPI_NAME) is not None:
            return self
        return replace(self, indexes=(*self.indexes, IndexConfig(PYPI_NAME, PYPI_URL, default=True)))
