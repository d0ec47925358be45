"""Shared test fixtures: repository paths, the shared fixtures, Docker access.

Docker-dependent tests use the ``docker_client`` fixture: it skips with a
reason when no daemon is reachable, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MUSLIN_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
ALPINE_FIXTURE = FIXTURES / "alpine-3.18.3"
MUSL_PYTHON_ROOTFS = FIXTURES / "musl-python" / "rootfs.tar.zst"
MUSL_PYTHON_IMAGE = "muslin-test/musl-python:3.11"
DATA = Path(__file__).resolve().parent / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip (or, under CI=true, fail) when a real part the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A Docker SDK client for a reachable daemon (DOCKER_HOST honoured)."""
    import docker

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # daemon absent: skip, or fail under CI
        need(False, f"no Docker daemon reachable ({type(exc).__name__})")
        raise
    yield client
    client.close()


@pytest.fixture(scope="session")
def musl_python_image(docker_client: Any) -> str:
    """The musl-python fixture imported into the daemon as ``muslin-test/musl-python:3.11``."""
    try:
        docker_client.images.get(MUSL_PYTHON_IMAGE)
    except Exception:
        need(MUSL_PYTHON_ROOTFS.exists(), f"fixture missing: {MUSL_PYTHON_ROOTFS}")
        subprocess.run(
            f"zstd -dc {MUSL_PYTHON_ROOTFS} | docker import - {MUSL_PYTHON_IMAGE}",
            shell=True,
            check=True,
            capture_output=True,
        )
    return MUSL_PYTHON_IMAGE


@pytest.fixture(scope="session")
def alpine_fixture() -> Path:
    """The real Alpine 3.18.3 data directory (``../shared/fixtures/alpine-3.18.3``)."""
    need(ALPINE_FIXTURE.exists(), f"fixture missing: {ALPINE_FIXTURE}")
    return ALPINE_FIXTURE
