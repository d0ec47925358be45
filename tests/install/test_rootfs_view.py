"""The install reads the image's facts from its running container's root filesystem, not ``docker save``."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from muslin.facts.inspector import inspect_opened
from muslin.facts.model import facts_to_cache
from muslin.image.sources.daemon import DaemonSource
from muslin.install.prestart import Prestart
from muslin.plan.planner import PlanRequest, make_plan
from tests.support.index_server import IndexServer

pytestmark = pytest.mark.docker

SITE = "usr/lib/python3.11/site-packages"
LAYERED = "muslin-test-install/view-layers:1"


def _egg(name: str, version: str) -> dict[str, bytes]:
    egg = f"{SITE}/{name}-{version}-py3.11.egg-info"
    return {
        f"{SITE}/{name}/__init__.py": b"",
        f"{egg}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{egg}/top_level.txt": f"{name}\n".encode(),
    }


@pytest.fixture(scope="module")
def layered_image(docker_client: Any, musl_python_image: str) -> Any:
    """Three layers over the fixture: one adds distributions, one deletes one of them (a
    whiteout) and replaces another's directory (an opaque directory), one adds a newer copy."""
    files = {f"root/{k}": v for k, v in {**_egg("keptpkg", "1.0"), **_egg("gonepkg", "2.0")}.items()}
    files.update({f"new/{k}": v for k, v in _egg("keptpkg", "1.1").items()})
    dockerfile = (
        f"FROM {musl_python_image}\n"
        "COPY root/ /\n"
        f"RUN rm -rf /{SITE}/gonepkg /{SITE}/gonepkg-2.0-py3.11.egg-info "
        f"/{SITE}/keptpkg-1.0-py3.11.egg-info && mkdir /{SITE}/keptpkg-1.0-py3.11.egg-info\n"
        f"RUN rm -rf /{SITE}/keptpkg-1.0-py3.11.egg-info\n"
        "COPY new/ /\n"
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image = docker_client.images.build(fileobj=buf, custom_context=True, tag=LAYERED, rm=True, forcerm=True)[0]
    yield image
    docker_client.images.remove(LAYERED, force=True)


@pytest.fixture
def no_facts_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MUSLIN_CACHE_DIR", str(tmp_path))
    return tmp_path


def _no_export(*args: object) -> None:
    raise AssertionError("the image was exported although the container's files were readable")


def test_view_facts_are_the_exported_facts(
    docker_client: Any, layered_image: Any, no_facts_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = inspect_opened(DaemonSource(LAYERED).open())
    names = {d.name: d.version for d in exported.distributions}
    assert names.get("keptpkg") == "1.1" and "gonepkg" not in names
    for entry in (no_facts_cache / "facts").glob("*.json"):
        entry.unlink()

    prestart = Prestart(LAYERED, None).start()
    try:
        root = prestart.rootfs_view(layered_image.id)
        assert root is not None and (root / "etc" / "alpine-release").is_file()
        assert prestart.rootfs_view("sha256:" + "0" * 64) is None  # another image: no view
        with monkeypatch.context() as patch:
            patch.setattr(DaemonSource, "_export", _no_export)
            viewed = inspect_opened(DaemonSource(LAYERED, view=prestart.rootfs_view).open())
        assert facts_to_cache(viewed) == facts_to_cache(exported)
        assert viewed.to_dict(with_files=True) == exported.to_dict(with_files=True)
        assert list((no_facts_cache / "facts").glob("*.json"))  # cached as after an export
    finally:
        prestart.discard()
    assert prestart.rootfs_view(layered_image.id) is None  # removed: no view any more


def test_view_needs_the_token_of_this_container(docker_client: Any, musl_python_image: str) -> None:
    image_id = docker_client.images.get(musl_python_image).id
    prestart = Prestart(musl_python_image, None).start()
    try:
        root = prestart.rootfs_view(image_id)
        assert root is not None
        prestart._view = None
        prestart._find_view("0" * 32)  # the directory does not hold this token: not ours
        assert prestart.rootfs_view(image_id) is None
    finally:
        prestart.discard()


def test_install_plan_reads_the_running_container(
    docker_client: Any,
    musl_python_image: str,
    index: IndexServer,
    no_facts_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``muslin install``'s plan: the prestarted container's files, no ``docker save``."""
    image_id = docker_client.images.get(musl_python_image).id
    prestart = Prestart(musl_python_image, None).start()
    try:
        monkeypatch.setattr(DaemonSource, "_export", _no_export)
        request = PlanRequest(image=musl_python_image, requirements=("pyyaml",), default_index=index.url)
        outcome = make_plan(request, view=prestart.rootfs_view)
        assert [i.name for i in outcome.plan.installs] == ["pyyaml"]
        assert outcome.plan.image.python_executable == "/usr/bin/python3.11"
        taken = prestart.take(image_id, None)
        assert taken is not None  # still the install's to adopt
        if taken.waiter is not None:
            taken.waiter.close()
        docker_client.api.remove_container(taken.container_id, force=True)
    finally:
        prestart.discard()
