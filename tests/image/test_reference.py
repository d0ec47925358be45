"""Image reference parsing and normalisation, checked against Docker's rules."""

from __future__ import annotations

import pytest

from muslin.errors import UsageError
from muslin.image.reference import is_loopback_registry, parse_reference

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "canonical", "familiar"),
    [
        ("alpine", "docker.io/library/alpine:latest", "alpine:latest"),
        ("alpine:3.18", "docker.io/library/alpine:3.18", "alpine:3.18"),
        ("library/alpine:3.18", "docker.io/library/alpine:3.18", "alpine:3.18"),
        ("docker.io/alpine", "docker.io/library/alpine:latest", "alpine:latest"),
        ("index.docker.io/library/alpine:edge", "docker.io/library/alpine:edge", "alpine:edge"),
        ("user/repo:1.0", "docker.io/user/repo:1.0", "user/repo:1.0"),
        ("host:5000/ns/repo:tag", "host:5000/ns/repo:tag", "host:5000/ns/repo:tag"),
        ("localhost/repo", "localhost/repo:latest", "localhost/repo:latest"),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest", "127.0.0.1:5000/a/b/c:latest"),
        ("ghcr.io/o/r:v1", "ghcr.io/o/r:v1", "ghcr.io/o/r:v1"),
        (f"alpine@sha256:{HEX}", f"docker.io/library/alpine@sha256:{HEX}", f"alpine@sha256:{HEX}"),
        (
            f"alpine:3.18@sha256:{HEX}",
            f"docker.io/library/alpine:3.18@sha256:{HEX}",
            f"alpine:3.18@sha256:{HEX}",
        ),
        ("[::1]:5000/repo:t", "[::1]:5000/repo:t", "[::1]:5000/repo:t"),
        ("a__b/c-d.e:T_1.x-y", "docker.io/a__b/c-d.e:T_1.x-y", "a__b/c-d.e:T_1.x-y"),
    ],
)
def test_normalisation(text: str, canonical: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert ref.canonical == canonical
    assert ref.familiar == familiar


def test_fields_and_helpers() -> None:
    ref = parse_reference("alpine:3.18")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "docker.io",
        "library/alpine",
        "3.18",
        None,
    )
    assert ref.api_host == "registry-1.docker.io"
    assert ref.api_reference == "3.18"
    assert ref.is_official_alpine
    assert not parse_reference("user/alpine").is_official_alpine
    pinned = parse_reference(f"host:5000/x@sha256:{HEX}")
    assert pinned.tag is None and pinned.api_reference == f"sha256:{HEX}"
    assert pinned.api_host == "host:5000"


def test_uppercase_first_component_is_a_registry() -> None:
    ref = parse_reference("MyHost/repo")
    assert ref.registry == "MyHost" and ref.repository == "repo"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Alpine",
        "alpine:",
        "alpine:bad/tag",
        "alpine:-x",
        "alpine@sha256:abc",
        f"alpine@sha256:{HEX}0",
        "alpine@md5",
        "a//b",
        "-alpine",
        "alpine_:1",
        "host:5000/Repo",
        "ex ample",
        "a" * 300,
        "bad_host!:5000/x",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(UsageError):
        parse_reference(text)


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("[::1]:5000", True),
        ("docker.io", False),
        ("10.0.0.1:5000", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback_registry(registry) is loopback
    ref = parse_reference(f"{registry}/repo:1")
    assert ref.is_loopback is loopback
