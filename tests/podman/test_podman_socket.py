"""The daemon source through Podman's Docker-compatible API socket (DOCKER_HOST).

Starts ``podman system service`` on a socket in a temporary directory, imports
the musl-python fixture into Podman's own storage, and inspects it through the
socket the way a Podman user would (``DOCKER_HOST=unix://...``).  Podman
cannot *run* containers on these machines (the sandbox refuses
``setrlimit(RLIMIT_NPROC)``, which every Podman runtime calls), so only the
read side is exercised here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.common import MUSL_PYTHON_ROOTFS, need

IMAGE = "localhost/muslin-test/podman-musl-python:3.11"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def podman_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    podman = shutil.which("podman")
    need(podman is not None, "podman is not installed (Debian package podman)")
    assert podman is not None
    need(MUSL_PYTHON_ROOTFS.exists(), f"fixture missing: {MUSL_PYTHON_ROOTFS}")
    sock = tmp_path_factory.mktemp("podman") / "podman.sock"
    service = subprocess.Popen(
        [podman, "system", "service", "--time=0", f"unix://{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        need(sock.exists(), "podman system service did not create its socket")
        present = subprocess.run([podman, "image", "exists", IMAGE]).returncode == 0
        if not present:
            subprocess.run(
                f"zstd -dc {MUSL_PYTHON_ROOTFS} | {podman} import - {IMAGE}",
                shell=True,
                check=True,
                capture_output=True,
            )
        yield f"unix://{sock}"
    finally:
        service.terminate()
        service.wait(timeout=30)
        subprocess.run([podman, "rmi", "-f", IMAGE], capture_output=True)


def _muslin(args: list[str], docker_host: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    return subprocess.run(
        [sys.executable, "-m", "muslin", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_inspect_through_podman_socket(podman_socket: str) -> None:
    proc = _muslin(["inspect", f"docker:{IMAGE}", "--json"], podman_socket)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["source"] == "docker"
    assert facts["alpine_release"] == "3.18.3"
    assert facts["musl"]["version"] == "1.2.3"
    (python,) = facts["pythons"]
    assert python["version"] == "3.11"
    assert [d["name"] for d in facts["distributions"]] == ["pip"]
    assert facts["distributions"][0]["owner"]["name"] == "py3-pip"


def test_plain_reference_found_through_podman_socket(podman_socket: str, tmp_path: Path) -> None:
    out = tmp_path / "constraints.txt"
    proc = _muslin(["inspect", IMAGE, "--format", "requirements", "-o", str(out)], podman_socket)
    assert proc.returncode == 0, proc.stderr
    assert "pip==23.1.2  # apk py3-pip 23.1.2-r0" in out.read_text()


def test_missing_image_through_podman_socket(podman_socket: str) -> None:
    proc = _muslin(["inspect", "docker:localhost/muslin-test/absent:1"], podman_socket)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
