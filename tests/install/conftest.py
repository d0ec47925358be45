"""Fixtures for the install tests: a local index of real musllinux wheels plus test-built ones."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from install_helpers import musl_wheels
from support.common import need

from tests.support.index_server import IndexServer
from tests.support.wheels import build_wheel

REAL = [
    "cryptography==41.0.3",
    "cffi==2.1.1",
    "pycparser==3.12",
    "pyyaml==6.0.3",
    "regex==2026.11.15",
    "orjson==3.13.0",
    "pydantic-core==2.50.4",
    "typing-extensions==4.16.0",
]
"""Real wheels the tests install (a closed dependency set)."""

ROLE_FILTER = {"label": "org.muslin.role=install"}


@pytest.fixture(scope="session")
def real_wheels() -> list[Path]:
    try:
        return musl_wheels(REAL)
    except Exception as exc:  # no PyPI and no cached copy
        need(False, f"real musllinux wheels unavailable ({type(exc).__name__}); set MUSLIN_TEST_WHEELS")
        raise


def _extension_needing_missing_library(workdir: Path) -> bytes:
    """A real ELF extension module whose DT_NEEDED names ``libmissing.so.1`` (absent in any image).

    Built with the host's gcc without libc (nothing to link at run time but the
    missing library), so the musl loader fails exactly as for a wheel built
    against a library the image lacks.
    """
    need(shutil.which("gcc") is not None, "gcc is needed to build the broken extension module")
    (workdir / "stub.c").write_text("int missing_stub = 1;\n")
    (workdir / "ext.c").write_text("int broken_marker = 1;\n")
    common = ["gcc", "-shared", "-nostdlib", "-fPIC"]
    subprocess.run([*common, "-Wl,-soname,libmissing.so.1", "-o", str(workdir / "libmissing.so.1"), str(workdir / "stub.c")], check=True)
    out = workdir / "ext.so"
    subprocess.run(
        [*common, "-o", str(out), str(workdir / "ext.c"), f"-L{workdir}", "-Wl,--no-as-needed", "-l:libmissing.so.1"],
        check=True,
    )
    return out.read_bytes()


@pytest.fixture(scope="session")
def test_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small wheels built here: a broken import, a slow install, a normal package, a needy one."""
    out = tmp_path_factory.mktemp("test-wheels")
    slow_files = {f"slowpkg/m{i:04d}.py": f"X = {i}\n" for i in range(4000)}
    slow_files["slowpkg/__init__.py"] = ""
    native = _extension_needing_missing_library(tmp_path_factory.mktemp("broken-ext"))
    return {
        "brokenpkg": build_wheel(
            out,
            "brokenpkg",
            "1.0",
            tags="cp311-cp311-musllinux_1_2_x86_64",
            files={
                "brokenpkg/__init__.py": "from brokenpkg import _native\n",
                "brokenpkg/_native.cpython-311-x86_64-linux-musl.so": native,
            },
        ),
        "slowpkg": build_wheel(out, "slowpkg", "1.0", files=slow_files),
        "tinyapk": build_wheel(out, "tinyapk", "1.0", files={"tinyapk/__init__.py": 'FROM = "wheel"\n'}),
        "plainpkg": build_wheel(out, "plainpkg", "1.0"),
        "needy": build_wheel(out, "needy", "1.0", requires=["absentdep>=1"]),
    }


@pytest.fixture(scope="session")
def index(real_wheels: list[Path], test_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("install-index")
    for wheel in [*real_wheels, *test_wheels.values()]:
        shutil.copy2(wheel, root / wheel.name)
    with IndexServer(root, mode="json") as server:
        yield server


@pytest.fixture
def images(docker_client: Any) -> Iterator[list[str]]:
    """Tags (or IDs) the test creates; removed afterwards.  Asserts no install container is left."""
    created: list[str] = []
    yield created
    for ref in created:
        with contextlib.suppress(Exception):
            docker_client.images.remove(ref, force=True)
    assert docker_client.containers.list(all=True, filters=ROLE_FILTER) == []
