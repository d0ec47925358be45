"""Shared test fixtures: Docker access and the shared fixtures.

Docker-dependent tests use the ``docker_client`` fixture: it skips with a
reason when no daemon is reachable, except under ``CI=true`` where it fails.
Constants and ``need()`` live in ``support/common.py``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.common import (  # noqa: F401  (re-exported for older imports)
    ALPINE_FIXTURE,
    DATA,
    FIXTURES,
    IN_CI,
    MUSL_PYTHON_IMAGE,
    MUSL_PYTHON_ROOTFS,
    REPO,
    SHARED,
    need,
)


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
            ["bash", str(REPO / "containers" / "musl-python" / "load.sh"), MUSL_PYTHON_IMAGE],
            check=True,
            capture_output=True,
            env={**os.environ, "MUSLIN_SHARED": str(SHARED)},
        )
    return MUSL_PYTHON_IMAGE


@pytest.fixture(scope="session")
def alpine_fixture() -> Path:
    """The real Alpine 3.18.3 data directory (``../shared/fixtures/alpine-3.18.3``)."""
    need(ALPINE_FIXTURE.exists(), f"fixture missing: {ALPINE_FIXTURE}")
    return ALPINE_FIXTURE
