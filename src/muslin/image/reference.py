"""Docker image references, parsed and normalised the way Docker does.

``alpine`` -> ``docker.io/library/alpine:latest``; ``host:5000/ns/repo:tag``;
``repo@sha256:<hex>``; ``repo:tag@sha256:<hex>``.  The first path component
is a registry host when it contains ``.`` or ``:``, is ``localhost``, or has
upper-case letters (then it cannot be a repository component).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from muslin.errors import UsageError

DEFAULT_REGISTRY = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([0-9a-fA-F]{32,})\Z")
_HOST_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?\Z"
)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_MAX_NAME = 255


@dataclass(frozen=True)
class ImageReference:
    """A normalised reference: registry host, repository path, tag and/or digest."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """``docker.io/library/alpine``."""
        return f"{self.registry}/{self.repository}"

    @property
    def canonical(self) -> str:
        """``docker.io/library/alpine:3.18`` (``@digest`` appended when present)."""
        return self.name + self._suffix()

    @property
    def familiar(self) -> str:
        """The short form Docker prints: ``alpine:3.18``, ``user/repo:tag``, ``host:5000/x:y``."""
        name = self.name
        if self.registry == DEFAULT_REGISTRY:
            name = self.repository
            if name.startswith("library/") and name.count("/") == 1:
                name = name[len("library/"):]
        return name + self._suffix()

    @property
    def api_host(self) -> str:
        """The host serving the distribution API (``registry-1.docker.io`` for Docker Hub)."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def api_reference(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def is_official_alpine(self) -> bool:
        return self.registry == DEFAULT_REGISTRY and self.repository == "library/alpine"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_registry(self.registry)

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.canonical


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and (
        "." in first or ":" in first or first == "localhost" or first.lower() != first
    ):
        return first, rest
    return DEFAULT_REGISTRY, name


def _host_only(registry: str) -> str:
    """``host:5000`` -> ``host``; ``[::1]:5000`` -> ``::1``."""
    if registry.startswith("["):
        return registry[1:].partition("]")[0]
    return registry.rpartition(":")[0] if ":" in registry else registry


def is_loopback_registry(registry: str) -> bool:
    """True for ``localhost``, ``127.x.y.z`` and ``[::1]`` registries, any port."""
    host = _host_only(registry).lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise a reference; raise UsageError when it is not one Docker accepts."""
    s = text.strip()
    if not s:
        raise UsageError("empty image reference")
    digest: str | None = None
    if "@" in s:
        s, _, digest = s.partition("@")
        m = _DIGEST.match(digest)
        if not m:
            raise UsageError(f"invalid image reference {text!r}: bad digest {digest!r}")
        algorithm, hexpart = m.group(1), m.group(2)
        want = _DIGEST_LENGTHS.get(algorithm)
        if want is not None and len(hexpart) != want:
            raise UsageError(
                f"invalid image reference {text!r}: {algorithm} digest needs {want} hex digits"
            )
        digest = f"{algorithm}:{hexpart.lower()}"
    tag: str | None = None
    slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > slash:
        s, tag = s[:colon], s[colon + 1:]
        if not _TAG.match(tag):
            raise UsageError(f"invalid image reference {text!r}: bad tag {tag!r}")
    if not s:
        raise UsageError(f"invalid image reference {text!r}: no repository name")
    registry, path = _split_domain(s)
    if registry != DEFAULT_REGISTRY and not _DOMAIN.match(registry):
        raise UsageError(f"invalid image reference {text!r}: bad registry host {registry!r}")
    if registry == "index.docker.io":
        registry = DEFAULT_REGISTRY
    if path.lower() != path:
        raise UsageError(f"invalid image reference {text!r}: repository name must be lowercase")
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise UsageError(
                f"invalid image reference {text!r}: bad repository component {component!r}"
            )
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = "library/" + path
    if len(f"{registry}/{path}") > _MAX_NAME:
        raise UsageError(f"invalid image reference {text!r}: name longer than {_MAX_NAME}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(registry=registry, repository=path, tag=tag, digest=digest)


def looks_like_reference(text: str) -> bool:
    """True when ``text`` parses as an image reference."""
    try:
        parse_reference(text)
    except UsageError:
        return False
    return True
