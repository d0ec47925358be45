"""The install speed-ups: the facts cache of daemon images and the container started while planning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import ROLE_FILTER
from install_helpers import fixture_image_info, make_plan

from muslin.facts.inspector import inspect_opened
from muslin.facts.model import facts_from_cache, facts_to_cache
from muslin.image.sources.daemon import DaemonSource, FactsCache
from muslin.install.container import InstallOptions, install_plan
from muslin.install.prestart import Prestart
from muslin.install.steps import PYCACHE_DIR
from tests.support.index_server import IndexServer

pytestmark = pytest.mark.docker


@pytest.fixture
def facts_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MUSLIN_CACHE_DIR", str(tmp_path))
    return tmp_path / "facts"


def test_facts_cache_round_trip_is_exact(docker_client: Any, musl_python_image: str, facts_cache_dir: Path) -> None:
    facts = inspect_opened(DaemonSource(musl_python_image).open())
    back = facts_from_cache(json.loads(json.dumps(facts_to_cache(facts))))
    assert back == facts
    # fields left out of == are kept too
    assert back.config.labels == facts.config.labels
    assert [p.file_checksums for p in back.apk_packages] == [p.file_checksums for p in facts.apk_packages]
    assert [p.extra for p in back.apk_packages] == [p.extra for p in facts.apk_packages]
    assert back.to_dict(with_files=True) == facts.to_dict(with_files=True)


def test_second_open_uses_cached_facts_and_exports_lazily(
    docker_client: Any, musl_python_image: str, facts_cache_dir: Path
) -> None:
    image_id = docker_client.images.get(musl_python_image).id
    first = inspect_opened(DaemonSource(musl_python_image).open())
    entries = list(facts_cache_dir.glob("*.json"))
    assert [e.name.split("-")[0] for e in entries] == [image_id.split(":", 1)[1]]

    opened = DaemonSource(image_id).open()  # another name for the same image ID
    assert opened.tree._tree is None  # type: ignore[attr-defined]  # nothing exported
    second = inspect_opened(opened)
    assert opened.tree._tree is None  # type: ignore[attr-defined]
    assert second.reference == image_id and first.reference == musl_python_image
    assert replace(second, reference=first.reference, canonical_reference=first.canonical_reference) == first
    # the files are still there when something reads them: exported on demand
    assert opened.tree.read_bytes("etc/apk/arch") is not None
    assert opened.tree.is_file("lib/apk/db/installed")


def test_corrupt_facts_cache_entry_is_a_miss(docker_client: Any, musl_python_image: str, facts_cache_dir: Path) -> None:
    expected = inspect_opened(DaemonSource(musl_python_image).open())
    [entry] = list(facts_cache_dir.glob("*.json"))
    entry.write_text('{"schema": 1, "facts": {"reference": 3}}')
    assert FactsCache(docker_client.images.get(musl_python_image).id).load() is None
    assert inspect_opened(DaemonSource(musl_python_image).open()) == expected
    assert facts_from_cache(json.loads(entry.read_text())) == expected  # rewritten


def _exec(client: Any, container_id: str, *argv: str) -> str:
    out = client.api.exec_start(client.api.exec_create(container_id, list(argv))["Id"])
    return out.decode() if isinstance(out, bytes) else str(out)


def test_prestart_warms_bytecode_and_is_adopted(docker_client: Any, musl_python_image: str) -> None:
    image_id = docker_client.images.get(musl_python_image).id
    prestart = Prestart(musl_python_image, None).start()
    try:
        taken = prestart.take(image_id, "none")
        assert taken is not None
        state = docker_client.api.inspect_container(taken.container_id)
        assert state["State"]["Running"] and state["HostConfig"]["NetworkMode"] == "none"
        assert state["Config"]["Labels"]["org.muslin.role"] == "install"
        # the fixture ships no .pyc: the waiting pip compiles its modules into the prefix the install uses
        assert taken.waiter is not None and taken.waiter.running()
        deadline = time.monotonic() + 120
        found = ""
        while "install.cpython-311.pyc" not in found and time.monotonic() < deadline:
            found = _exec(docker_client, taken.container_id, "find", PYCACHE_DIR, "-path", "*pip/_internal/commands*")
            time.sleep(0.2)
        assert "install.cpython-311.pyc" in found
        # and, while waiting, what pip imports only once it runs (its resolver, metadata backends)
        later = ""
        while later.count(".pyc") < 2 and time.monotonic() < deadline:
            later = _exec(docker_client, taken.container_id, "find", PYCACHE_DIR, "-path", "*pip/_internal/*",
                          "(", "-name", "resolver.cpython-311.pyc", "-o", "-name", "pkg_resources.cpython-311.pyc", ")")
            time.sleep(0.2)
        assert "resolvelib/__pycache__/resolver" in later or "resolvelib/resolver" in later, later
        assert "pkg_resources.cpython-311.pyc" in later, later
        # a module pip install never imports, first in the compile helper's (reverse) order:
        # the helper compiled beside the importing waiter
        helped = _exec(docker_client, taken.container_id, "find", PYCACHE_DIR, "-path", "*webencodings*")
        assert "x_user_defined.cpython-311.pyc" in helped, helped
        prestart.discard()  # adopted: no longer the prestart's to remove
        assert docker_client.api.inspect_container(taken.container_id)["State"]["Running"]
        taken.waiter.close()
    finally:
        prestart.discard()
        for container in docker_client.containers.list(all=True, filters={"name": prestart.name}):
            container.remove(force=True)


def test_prestart_for_another_image_or_network_is_removed(docker_client: Any, musl_python_image: str) -> None:
    image_id = docker_client.images.get(musl_python_image).id
    for other_id, network in (("sha256:" + "0" * 64, None), (image_id, "bridge")):
        prestart = Prestart(musl_python_image, None).start()
        assert prestart.take(other_id, network) is None
        assert docker_client.containers.list(all=True, filters={"name": prestart.name}) == []


def test_prestart_discarded_at_once_leaves_nothing(docker_client: Any, musl_python_image: str) -> None:
    prestart = Prestart(musl_python_image, None).start()
    prestart.discard()
    prestart.discard()
    time.sleep(0.5)
    assert docker_client.containers.list(all=True, filters={"name": prestart.name}) == []
    missing = Prestart("muslin-test/does-not-exist:1", None).start()
    assert missing.take("sha256:" + "1" * 64, None) is None


def _muslin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "muslin", *args], capture_output=True, text=True, env=env, timeout=600)


def test_plan_failure_removes_the_prestarted_container(
    docker_client: Any, musl_python_image: str, index: IndexServer, tmp_path: Path
) -> None:
    env = {**os.environ, "MUSLIN_CACHE_DIR": str(tmp_path)}
    result = _muslin(env, "install", musl_python_image, "nosuchpkg==1.0", "--default-index", index.url, "--tag", "muslin-test-install/nope:1")
    assert result.returncode != 0
    assert "nosuchpkg" in result.stderr
    assert "Traceback" not in result.stderr
    assert docker_client.containers.list(all=True, filters=ROLE_FILTER) == []


def test_interrupt_while_planning_removes_the_prestarted_container(
    docker_client: Any, musl_python_image: str, index: IndexServer, tmp_path: Path
) -> None:
    env = {**os.environ, "MUSLIN_CACHE_DIR": str(tmp_path), "MUSLIN_TIMINGS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "muslin", "install", musl_python_image, "slowpkg==1.0", "--default-index", index.url,
         "--tag", "muslin-test-install/early:1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if docker_client.containers.list(all=True, filters=ROLE_FILTER):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "muslin ended before its container appeared"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "plan made" not in out  # interrupted while planning
    assert docker_client.containers.list(all=True, filters=ROLE_FILTER) == []
    assert docker_client.images.list(name="muslin-test-install/early") == []


def _installed_state(client: Any, tag: str) -> list[str]:
    out = client.containers.run(
        tag,
        ["sh", "-c", "ls -A /tmp | wc -l; find /usr/lib/python3.11 -name '*.pyc' -not -path '*/site-packages/*' | wc -l; "
         "cat /usr/lib/python3.11/site-packages/plainpkg-1.0.dist-info/INSTALLER; "
         "ls /usr/lib/python3.11/site-packages/plainpkg/__pycache__ | wc -l; python3 -c 'import plainpkg, tinyapk; print(tinyapk.FROM)'"],
        remove=True, network_mode="none",
    )
    return (out.decode() if isinstance(out, bytes) else str(out)).split()


def test_waiting_pip_runs_the_install(
    docker_client: Any, musl_python_image: str, index: IndexServer, test_wheels: dict[str, Path], images: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The pip started while planning installs the wheels; nothing of it is left in the image."""
    tag = "muslin-test-install/waiter:1"
    images.append(tag)
    plan = make_plan(fixture_image_info(musl_python_image), [test_wheels["plainpkg"], test_wheels["tinyapk"]], index.base)
    prestart = Prestart(musl_python_image, None).start()
    install_plan(plan, InstallOptions(tag=tag), prestart=prestart)
    out = capsys.readouterr().out
    assert "==> install wheels with pip (pip started while planning)" in out
    assert "  | Successfully installed plainpkg-1.0 tinyapk-1.0" in out
    assert _installed_state(docker_client, tag) == ["0", "0", "pip", "1", "wheel"]
    assert docker_client.containers.list(all=True, filters={"name": prestart.name}) == []


def test_waiting_pip_declines_for_the_installer_path(
    docker_client: Any, musl_python_image: str, index: IndexServer, test_wheels: dict[str, Path], images: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Adopted with a waiting pip, but the plan installs with installer: the waiter exits, installer runs."""
    tag = "muslin-test-install/waiter-declined:1"
    images.append(tag)
    plan = make_plan(fixture_image_info(musl_python_image), [test_wheels["plainpkg"], test_wheels["tinyapk"]], index.base)
    prestart = Prestart(musl_python_image, None).start()
    install_plan(plan, InstallOptions(tag=tag, installer="installer"), prestart=prestart)
    out = capsys.readouterr().out
    assert "==> install wheels with installer" in out
    assert "pip started while planning" not in out
    assert _installed_state(docker_client, tag) == ["0", "0", "muslin", "1", "wheel"]
