"""The ``docker:`` source against the real Docker daemon.

The musl-python fixture gets one more layer from a real ``docker build`` (a
new dist-info, a removed one -> whiteout); the daemon source must yield the
same tree as ``docker save`` read by the docker-archive source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from muslin.errors import DockerError, ImageNotFoundError
from muslin.image.platform import Platform
from muslin.image.sources.archive import DockerArchiveSource
from muslin.image.sources.daemon import DaemonSource

pytestmark = pytest.mark.docker

SITE = "usr/lib/python3.11/site-packages"
METADATA = "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.2.3\nRequires-Dist: six>=1.16\n"
DOCKERFILE = f"""FROM {{base}}
COPY demo_pkg-1.2.3.dist-info /{SITE}/demo_pkg-1.2.3.dist-info
RUN rm -rf /{SITE}/pip-23.1.2.dist-info && echo layered > /etc/muslin-layered
"""


@pytest.fixture(scope="module")
def layered_image(docker_client: Any, musl_python_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture plus one ``docker build`` layer, tagged uniquely; removed afterwards."""
    context = tmp_path_factory.mktemp("daemon-build")
    dist = context / "demo_pkg-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(METADATA)
    (dist / "INSTALLER").write_text("pip\n")
    (dist / "RECORD").write_text("")
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=musl_python_image))
    tag = f"muslin-test/daemon-layered:{uuid.uuid4().hex[:12]}"
    subprocess.run(
        ["/usr/bin/docker", "build", "-q", "-t", tag, str(context)],
        check=True,
        capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        timeout=600,
    )
    yield tag
    docker_client.images.remove(tag, force=True)


def tree_snapshot(tree: Any) -> dict[str, tuple[str, bytes | str | None]]:
    """Every path the tree kept -> (kind, content or link target)."""
    out: dict[str, tuple[str, bytes | str | None]] = {}
    for path, _node in tree.walk(""):
        link = tree.readlink(path)
        if link is not None:
            out[path] = ("symlink", link)
        elif tree.is_dir(path):
            out[path] = ("dir", None)
        else:
            out[path] = ("file", tree.read_bytes(path))
    return out


def test_daemon_equals_docker_save(docker_client: Any, layered_image: str, tmp_path: Path) -> None:
    opened = DaemonSource(layered_image).open()

    archive = tmp_path / "saved.tar"
    with archive.open("wb") as out:
        for chunk in docker_client.images.get(layered_image).save(named=False):
            out.write(chunk)
    reference = DockerArchiveSource(archive).open()

    assert opened.source == "docker"
    assert opened.reference == layered_image
    assert opened.canonical_reference == f"docker.io/{layered_image}"
    assert opened.digest is None  # built locally: no RepoDigests (an image id is no manifest digest)
    assert opened.config == reference.config
    assert opened.config.os == "linux"

    ours, theirs = tree_snapshot(opened.tree), tree_snapshot(reference.tree)
    assert ours.keys() == theirs.keys()
    assert ours == theirs
    assert opened.tree.read_bytes(f"{SITE}/demo_pkg-1.2.3.dist-info/METADATA") == METADATA.encode()
    assert opened.tree.is_file("lib/apk/db/installed")
    assert opened.tree.read_bytes("etc/apk/arch") == reference.tree.read_bytes("etc/apk/arch")
    # removed by the added layer: a whiteout applied the same way by both
    assert not opened.tree.exists(f"{SITE}/pip-23.1.2.dist-info")


def test_daemon_source_by_image_id(docker_client: Any, layered_image: str) -> None:
    image_id = docker_client.images.get(layered_image).id
    opened = DaemonSource(image_id).open()
    assert opened.digest is None
    assert opened.canonical_reference is None
    assert opened.tree.is_file(f"{SITE}/demo_pkg-1.2.3.dist-info/METADATA")


def test_has_image(layered_image: str) -> None:
    assert DaemonSource.has_image(layered_image)
    assert not DaemonSource.has_image(f"muslin-test/absent-{uuid.uuid4().hex[:8]}:nope")
    wrong_arch = Platform("linux", "s390x")
    assert not DaemonSource.has_image(layered_image, wrong_arch)


def test_platform_mismatch_is_not_found(layered_image: str) -> None:
    with pytest.raises(ImageNotFoundError, match="not linux/s390x"):
        DaemonSource(layered_image, Platform("linux", "s390x")).open()


def test_absent_image_is_not_found(docker_client: Any) -> None:
    with pytest.raises(ImageNotFoundError, match="not found in the Docker daemon"):
        DaemonSource(f"muslin-test/absent-{uuid.uuid4().hex[:8]}:nope").open()


def test_no_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A DOCKER_HOST nobody listens on: has_image is a quick False, open a DockerError."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")
    started = time.monotonic()
    assert not DaemonSource.has_image("alpine:3.18")
    assert time.monotonic() - started < 5
    with pytest.raises(DockerError, match="no Docker daemon reachable"):
        DaemonSource("alpine:3.18").open()
    monkeypatch.setenv("DOCKER_HOST", "tcp://[bad")
    assert not DaemonSource.has_image("alpine:3.18")


def run_muslin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "muslin", *args],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )


def test_cli_inspect_through_daemon(layered_image: str) -> None:
    """``docker:REF`` and a plain reference the daemon holds both read the daemon's image."""
    for image in (f"docker:{layered_image}", layered_image):
        result = run_muslin("inspect", image, "--json")
        assert result.returncode == 0, result.stderr
        facts = json.loads(result.stdout)
        assert facts["source"] == "docker"
        names = {(d["name"], d["version"]) for d in facts["distributions"]}
        assert ("demo-pkg", "1.2.3") in names
        assert not any(name == "pip" for name, _ in names)


def test_cli_daemon_errors(docker_client: Any, tmp_path: Path) -> None:
    absent = run_muslin("inspect", f"docker:muslin-test/absent-{uuid.uuid4().hex[:8]}:nope")
    assert absent.returncode == 3, absent.stderr
    no_daemon = run_muslin(
        "inspect", "docker:alpine:3.18",
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/nobody.sock"},
    )
    assert no_daemon.returncode == 10, no_daemon.stderr
    assert "no Docker daemon reachable" in no_daemon.stderr
    assert "Traceback" not in no_daemon.stderr
