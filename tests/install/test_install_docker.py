"""``muslin install`` against the real Docker daemon and the musl-python fixture."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import ROLE_FILTER
from install_helpers import fixture_image_info, install_item, make_plan
from support.alpine_rootfs import apk_record
from support.common import need

from muslin.errors import DockerError, ImageNotFoundError
from muslin.index.http import HttpClient
from muslin.install.console import InstallConsole
from muslin.install.container import InstallOptions, install_plan
from muslin.install.dockerhost import connect
from muslin.install.pull import ensure_image
from muslin.plan.model import Action, PlanItem, VenvDecision
from tests.support.index_server import IndexServer

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
SITE = "usr/lib/python3.11/site-packages"


def _run(client: Any, image: str, *argv: str) -> str:
    out = client.containers.run(image, list(argv), remove=True, network_mode="none", stderr=True)
    return out.decode() if isinstance(out, bytes) else str(out)


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private muslin cache for the CLI runs of this module."""
    return {**os.environ, "MUSLIN_CACHE_DIR": str(tmp_path_factory.mktemp("muslin-cache"))}


def _muslin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "muslin", *args], capture_output=True, text=True, env=env, timeout=600)


def _build(client: Any, tag: str, dockerfile: str, files: dict[str, bytes] | None = None) -> str:
    """``docker build`` a test image from an in-memory context."""
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **(files or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, forcerm=True)
    return tag


def test_install_real_musllinux_wheels(
    docker_client: Any,
    musl_python_image: str,
    index: IndexServer,
    real_wheels: list[Path],
    images: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    tag = "muslin-test-install/real:1"
    images.append(tag)
    plan = make_plan(fixture_image_info(musl_python_image), real_wheels, index.base)
    index.clear_requests()
    with HttpClient(cache_dir=tmp_path / "cache") as http:
        result = install_plan(plan, InstallOptions(tag=tag), http=http)
        assert all(http.cached_blob(i.artifact.sha256) for i in plan.installs if i.artifact)
    out = capsys.readouterr().out
    assert "  | Successfully installed" in out  # pip's own output, streamed with a prefix
    # compiled beside pip, each distribution once installed; the verify step found nothing left
    assert re.search(r"  \| compiled (\d+) of \1 files while installing", out), out
    assert re.search(r"  \| compiled \d+ files the install step left; (\d+) of \1 files byte-compiled\n", out), out
    assert "  | verify: compile=0 requirements=0 imports=0" in out
    assert f"image {tag} {result.image_id}" in out
    assert result.size > result.base_size
    assert result.installed[0] == "cryptography==41.0.3"
    files = [r for r in index.requests if r[1].startswith("/files/")]
    assert len(files) == len(real_wheels)

    script = (
        "from cryptography.fernet import Fernet; f = Fernet(Fernet.generate_key()); "
        "assert f.decrypt(f.encrypt(b'x')) == b'x'; "
        "import yaml, regex, orjson, cffi, pydantic_core, typing_extensions; "
        "assert yaml.safe_load('a: 1') == {'a': 1}; assert regex.match(r'\\p{L}+', 'abc'); "
        "assert orjson.dumps([1]) == b'[1]'; print('ALL-OK')"
    )
    assert "ALL-OK" in _run(docker_client, tag, "python3", "-c", script)
    leftovers = _run(
        docker_client, tag, "sh", "-c",
        f"ls /tmp; find /usr/lib/python3.11 -name '*.pyc' -not -path '*/site-packages/*' | head -3; "
        f"cat /{SITE}/cryptography-41.0.3.dist-info/INSTALLER; "
        f"ls /{SITE}/yaml/__pycache__ | head -1; grep -c pyc /{SITE}/pyyaml-6.0.3.dist-info/RECORD; "
        f"cat /{SITE}/*.dist-info/RECORD | sort | uniq -d | wc -l",
    ).split()
    assert leftovers[-1] == "0"  # no RECORD lists a file twice
    assert leftovers[0] == "pip"  # /tmp empty, no stray stdlib bytecode; installed by pip
    assert leftovers[1].endswith(".cpython-311.pyc")  # byte-compiled
    assert int(leftovers[2]) > 0  # and recorded in RECORD

    attrs = docker_client.api.inspect_image(tag)
    labels = attrs["Config"]["Labels"]
    assert labels["org.muslin.plan-hash"] == plan.plan_hash()
    assert labels["org.muslin.base-digest"] == docker_client.api.inspect_image(musl_python_image)["Id"]
    assert labels["org.muslin.version"]
    assert labels["org.muslin.role"] == "image"
    assert not attrs["Config"].get("Entrypoint") and not attrs["Config"].get("Cmd")
    assert attrs["Config"].get("User", "") == ""


def test_installer_path_without_pip(
    docker_client: Any, musl_python_image: str, index: IndexServer, real_wheels: list[Path], test_wheels: dict[str, Path], images: list[str]
) -> None:
    base = _build(
        docker_client,
        "muslin-test-install/nopip:1",
        f"FROM {musl_python_image}\nRUN rm -rf /{SITE}/pip /{SITE}/pip-*.dist-info /bin/sleep\n",
    )
    images.append(base)
    tag = "muslin-test-install/nopip-installed:1"
    images.append(tag)
    wheels = [w for w in real_wheels if w.name.startswith(("pyyaml", "orjson"))] + [test_wheels["plainpkg"]]
    plan = make_plan(fixture_image_info(base, has_pip=False), wheels, index.base)
    install_plan(plan, InstallOptions(tag=tag))  # no /bin/sleep either: the container idles in python
    out = _run(
        docker_client, tag, "sh", "-c",
        "python3 -c 'import yaml, orjson, plainpkg; print(plainpkg.__version__)'; "
        f"cat /{SITE}/plainpkg-1.0.dist-info/INSTALLER; python3 -m pip --version 2>&1 | head -1; ls /tmp",
    )
    lines = out.split("\n")
    assert lines[0] == "1.0"
    assert lines[1] == "muslin"  # installed by the installer library, not pip
    assert "No module named pip" in lines[2]


def test_venv_install_sets_environment(
    docker_client: Any, musl_python_image: str, index: IndexServer, test_wheels: dict[str, Path], images: list[str]
) -> None:
    tag = "muslin-test-install/venv:1"
    images.append(tag)
    plan = make_plan(
        fixture_image_info(musl_python_image), [test_wheels["plainpkg"]], index.base,
        venv=VenvDecision("/opt/venv", True, "test"),
    )
    install_plan(plan, InstallOptions(tag=tag))
    env = docker_client.api.inspect_image(tag)["Config"]["Env"]
    assert "VIRTUAL_ENV=/opt/venv" in env
    assert any(e.startswith("PATH=/opt/venv/bin:") for e in env)
    out = _run(
        docker_client, tag, "sh", "-c",
        "python -c 'import sys, plainpkg; print(sys.prefix)'; "
        "/usr/bin/python3.11 -c 'import plainpkg' 2>&1 | tail -1",
    )
    assert out.split("\n")[0] == "/opt/venv"
    assert "No module named 'plainpkg'" in out


def test_failed_import_commits_nothing(
    docker_client: Any, musl_python_image: str, index: IndexServer, images: list[str], cache_env: dict[str, str]
) -> None:
    tag = "muslin-test-install/broken:1"
    images.append(tag)
    result = _muslin(cache_env, "install", musl_python_image, "brokenpkg==1.0", "--default-index", index.url, "--tag", tag)
    assert result.returncode == 10, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("muslin: error: verification failed, nothing committed: import brokenpkg: ImportError")
    assert "Error loading shared library libmissing.so.1" in last
    assert "FAILED brokenpkg" in result.stderr  # the container's own report, streamed
    assert docker_client.images.list(name="muslin-test-install/broken") == []
    assert docker_client.containers.list(all=True, filters=ROLE_FILTER) == []


def test_failed_requirements_check_commits_nothing(
    docker_client: Any, musl_python_image: str, index: IndexServer, test_wheels: dict[str, Path], images: list[str]
) -> None:
    tag = "muslin-test-install/needy:1"
    images.append(tag)
    plan = make_plan(fixture_image_info(musl_python_image), [test_wheels["needy"]], index.base)
    with pytest.raises(DockerError, match=r"requirements check: needy 1\.0 requires absentdep, which is not installed"):
        install_plan(plan, InstallOptions(tag=tag))
    assert docker_client.images.list(name="muslin-test-install/needy") == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_removes_container(
    docker_client: Any, musl_python_image: str, index: IndexServer, images: list[str], sig: signal.Signals,
    cache_env: dict[str, str],
) -> None:
    tag = f"muslin-test-install/interrupted:{sig.name.lower()}"
    images.append(tag)
    proc = subprocess.Popen(
        [sys.executable, "-m", "muslin", "install", musl_python_image, "slowpkg==1.0", "--default-index", index.url, "--tag", tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cache_env,
    )
    started = threading.Event()
    seen: list[str] = []

    def watch() -> None:  # the step headings on stdout; pip runs in a process started while planning
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("==> install wheels with pip"):
                started.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert started.wait(240), f"the install step never started: {seen}"
        assert proc.poll() is None, "the install ended before the signal"
        proc.send_signal(sig)
        err = proc.stderr.read() if proc.stderr is not None else ""
        proc.wait(timeout=120)
        watcher.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(seen)[-3000:] + err
    assert "muslin: aborted" in err or "muslin: interrupted" in err
    assert docker_client.containers.list(all=True, filters=ROLE_FILTER) == []
    assert docker_client.images.list(name="muslin-test-install/interrupted") == []


def test_apk_owned_egg_info_is_kept(
    docker_client: Any, musl_python_image: str, index: IndexServer, images: list[str], cache_env: dict[str, str]
) -> None:
    egg = f"{SITE}/tinyapk-1.0-py3.11.egg-info"
    files = {
        f"{SITE}/tinyapk/__init__.py": b'FROM = "apk"\n',
        f"{egg}/PKG-INFO": b"Metadata-Version: 2.1\nName: tinyapk\nVersion: 1.0\nSummary: test\n",
        f"{egg}/top_level.txt": b"tinyapk\n",
        f"{egg}/SOURCES.txt": b"tinyapk/__init__.py\n",
        f"{egg}/dependency_links.txt": b"\n",
    }
    entry = apk_record("py3-tinyapk", "1.0-r0", depends=["python3"], files=files) + "\n\n"
    context = {f"root/{k}": v for k, v in files.items()}
    context["apk-entry"] = entry.encode()
    base = _build(
        docker_client,
        "muslin-test-install/eggbase:1",
        f"FROM {musl_python_image}\nCOPY root/ /\nCOPY apk-entry /tmp/apk-entry\n"
        "RUN cat /tmp/apk-entry >> /lib/apk/db/installed && rm /tmp/apk-entry\n",
        context,
    )
    images.append(base)
    tag = "muslin-test-install/egg:1"
    images.append(tag)
    result = _muslin(cache_env, "install", base, "tinyapk==1.0", "orjson", "--default-index", index.url, "--tag", tag)
    assert result.returncode == 0, result.stderr
    assert "orjson" in result.stdout and "tinyapk" not in result.stdout.split("install wheels")[1].split("==>")[0]
    requested = [r[1] for r in index.requests if r[1].startswith("/files/")]
    assert not any("tinyapk" in path for path in requested)
    out = _run(
        docker_client, tag, "sh", "-c",
        f"python3 -c 'import tinyapk, orjson; print(tinyapk.FROM)'; ls -d /{SITE}/tinyapk*",
    )
    lines = out.split()
    assert lines[0] == "apk"
    assert lines[1:] == [f"/{SITE}/tinyapk", f"/{egg}"]  # no dist-info next to the egg-info


def test_dry_run_touches_nothing(
    docker_client: Any, musl_python_image: str, index: IndexServer, cache_env: dict[str, str]
) -> None:
    before = {c.id for c in docker_client.containers.list(all=True)}
    index.clear_requests()
    result = _muslin(cache_env, "install", musl_python_image, "pyyaml==6.0.3", "--default-index", index.url, "--tag", "muslin-test-install/dry:1", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "container: network none" in out
    assert "pyyaml-6.0.3-cp311-cp311-musllinux_1_2_x86_64.whl" in out
    assert "-m pip install --no-index --no-deps" in out
    assert "commit:    muslin-test-install/dry:1" in out
    assert not any(r[1].startswith("/files/") for r in index.requests if not r[1].endswith(".metadata"))
    assert {c.id for c in docker_client.containers.list(all=True)} == before
    assert docker_client.images.list(name="muslin-test-install/dry") == []


def test_missing_tag_is_a_usage_error(musl_python_image: str, cache_env: dict[str, str]) -> None:
    result = _muslin(cache_env, "install", musl_python_image, "pyyaml")
    assert result.returncode == 2
    assert result.stderr.strip() == "muslin: error: muslin install needs --tag REPO:TAG (the name of the committed image)"


def test_docker_context_pointing_at_real_socket(docker_client: Any, tmp_path: Path) -> None:
    import hashlib

    socket = "unix:///var/run/docker.sock"
    for name, host in (("muslin-real", socket), ("muslin-nowhere", "unix:///nonexistent/docker.sock")):
        meta = tmp_path / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
        meta.mkdir(parents=True)
        (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "muslin-real"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "HOME": str(tmp_path)}
    client = connect(env)
    try:
        assert client.api.base_url.startswith("http+docker://")
        assert client.version()["ApiVersion"]
    finally:
        client.close()
    with pytest.raises(DockerError, match=r"cannot reach the Docker daemon at unix:///nonexistent/docker\.sock"):
        connect({**env, "DOCKER_CONTEXT": "muslin-nowhere"})
    with pytest.raises(DockerError, match=r"cannot reach the Docker daemon at tcp://127\.0\.0\.1:9"):
        connect({**env, "DOCKER_HOST": "tcp://127.0.0.1:9"})


def test_keep_items_are_not_touched(
    docker_client: Any, musl_python_image: str, index: IndexServer, test_wheels: dict[str, Path], images: list[str]
) -> None:
    """A plan's keep items (pip here) are left alone; only install items are installed."""
    tag = "muslin-test-install/keep:1"
    images.append(tag)
    keep = PlanItem("pip", "pip", "23.1.2", Action.KEEP, "apk py3-pip 23.1.2-r0")
    plan = make_plan(fixture_image_info(musl_python_image), [test_wheels["plainpkg"]], index.base, keeps=[keep])
    plan = replace(plan, items=(*plan.items, install_item(test_wheels["tinyapk"], index.base)))
    result = install_plan(plan, InstallOptions(tag=tag))
    assert result.installed == ("plainpkg==1.0", "tinyapk==1.0")
    out = _run(docker_client, tag, "python3", "-m", "pip", "--version")
    assert out.startswith("pip 23.1.2")


@pytest.mark.registry
def test_missing_image_is_pulled(
    docker_client: Any,
    musl_python_image: str,
    index: IndexServer,
    test_wheels: dict[str, Path],
    images: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The base image is only in a registry (Debian's docker-registry on 127.0.0.1): install pulls it."""
    from support.registry import have_registry, start_registry

    need(have_registry(), "docker-registry is not installed")
    registry = start_registry(tmp_path / "registry", tmp_path / "storage")
    try:
        ref = f"{registry.host}/muslin-test/pullbase:1"
        images.append(_build(docker_client, ref, f"FROM {musl_python_image}\nRUN echo pulled > /etc/muslin-pulled\n"))
        for event in docker_client.api.push(ref.rsplit(":", 1)[0], tag="1", stream=True, decode=True):
            assert "error" not in event, event
        docker_client.images.remove(ref)  # the new layer is now only in the registry
        tag = "muslin-test-install/pulled:1"
        images.append(tag)
        plan = make_plan(fixture_image_info(ref), [test_wheels["plainpkg"]], index.base)
        install_plan(plan, InstallOptions(tag=tag))
        assert f"==> pulling {ref} (linux/amd64)" in capsys.readouterr().out
        out = _run(docker_client, tag, "sh", "-c", "cat /etc/muslin-pulled; python3 -c 'import plainpkg'")
        assert out.strip() == "pulled"

        # again on a "terminal": the pull stream drives rich progress bars
        docker_client.images.remove(tag)
        docker_client.images.remove(ref)

        class Terminal(InstallConsole):
            @property
            def interactive(self) -> bool:
                return True

        attrs = ensure_image(docker_client, ref, "linux/amd64", Terminal(out=io.StringIO(), err=io.StringIO()))
        assert ref in attrs["RepoTags"]

        with pytest.raises(ImageNotFoundError, match=f"cannot pull {registry.host}/muslin-test/absent:1"):
            ensure_image(docker_client, f"{registry.host}/muslin-test/absent:1", None, InstallConsole(io.StringIO(), io.StringIO()))
    finally:
        registry.stop()


def test_plan_with_nothing_to_install_still_commits(
    docker_client: Any, musl_python_image: str, index: IndexServer, images: list[str]
) -> None:
    tag = "muslin-test-install/nothing:1"
    images.append(tag)
    keep = PlanItem("pip", "pip", "23.1.2", Action.KEEP, "apk py3-pip 23.1.2-r0")
    plan = make_plan(fixture_image_info(musl_python_image), [], index.base, keeps=[keep])
    result = install_plan(plan, InstallOptions(tag=tag))
    assert result.installed == ()
    labels = docker_client.api.inspect_image(tag)["Config"]["Labels"]
    assert labels["org.muslin.plan-hash"] == plan.plan_hash()
    assert _run(docker_client, tag, "ls", "/tmp").strip() == ""


def test_hash_mismatch_leaves_nothing(
    docker_client: Any, musl_python_image: str, test_wheels: dict[str, Path], images: list[str], tmp_path: Path
) -> None:
    from muslin.errors import HashMismatchError

    tag = "muslin-test-install/tampered:1"
    images.append(tag)
    root = tmp_path / "index"
    root.mkdir()
    wheel = test_wheels["plainpkg"]
    (root / wheel.name).write_bytes(wheel.read_bytes())
    with IndexServer(root, mode="html") as server, HttpClient(cache_dir=tmp_path / "cache") as http:
        server.set_file_bytes(wheel.name, b"not the wheel the plan chose")
        plan = make_plan(fixture_image_info(musl_python_image), [wheel], server.base)
        with pytest.raises(HashMismatchError):
            install_plan(plan, InstallOptions(tag=tag), http=http)
    assert docker_client.images.list(name="muslin-test-install/tampered") == []


def test_externally_managed_python(
    docker_client: Any, musl_python_image: str, index: IndexServer, test_wheels: dict[str, Path], images: list[str]
) -> None:
    """PEP 668: installing into the system Python needs the plan's break_system_packages."""
    base = _build(
        docker_client,
        "muslin-test-install/pep668:1",
        f"FROM {musl_python_image}\nRUN printf '[externally-managed]\\nError=use apk\\n' > /usr/lib/python3.11/EXTERNALLY-MANAGED\n",
    )
    images.append(base)
    tag = "muslin-test-install/pep668-installed:1"
    images.append(tag)
    wheels = [test_wheels["plainpkg"]]
    refused = make_plan(replace(fixture_image_info(base), externally_managed=True), wheels, index.base)
    for installer in ("pip", "installer"):
        with pytest.raises(DockerError, match="failed in the container"):
            install_plan(refused, InstallOptions(tag=tag, installer=installer))
    allowed = replace(refused, venv=VenvDecision(None, True, "--break-system-packages", True))
    for installer in ("pip", "installer"):
        images.append(install_plan(allowed, InstallOptions(tag=tag, installer=installer)).image_id)
        assert _run(docker_client, tag, "python3", "-c", "import plainpkg; print('ok')").strip() == "ok"
