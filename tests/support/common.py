"""Constants and helpers shared by tests (import as ``from support.common import ...``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("MUSLIN_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
ALPINE_FIXTURE = FIXTURES / "alpine-3.18.3"
MUSL_PYTHON_ROOTFS = FIXTURES / "musl-python" / "rootfs.tar.zst"
MUSL_PYTHON_IMAGE = "muslin-test/musl-python:3.11"
DATA = REPO / "tests" / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip (or, under CI=true, fail) when a real part the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)
