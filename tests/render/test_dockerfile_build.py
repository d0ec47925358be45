"""Build rendered Dockerfiles for real: musl-python fixture image, wheels served on 127.0.0.1.

Real musllinux wheels (pyyaml, regex, orjson for cp311 musllinux_1_1 x86_64, known to
import on the fixture's musl 1.2.3) are downloaded from PyPI once into
``$MUSLIN_TEST_WHEELS`` or ``tests/.cache/wheels`` (gitignored) and served by
:class:`IndexServer`.  Every build uses ``DOCKER_BUILDKIT=1 /usr/bin/docker build
--network host`` (pip inside the build reaches the index on 127.0.0.1); every image
built here is removed afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.index_server import IndexServer
from support.pypi_wheels import musl_wheels

from muslin.cli import cli
from muslin.cli.errors import run_guarded
from muslin.plan.model import (
    Action,
    Artifact,
    ImageInfo,
    IndexRef,
    Plan,
    PlanItem,
    TargetInfo,
    VenvDecision,
)
from muslin.render.dockerfile import DockerfileOptions, write_dockerfile

pytestmark = pytest.mark.docker

DOCKER = "/usr/bin/docker"
WHEELS = ("pyyaml==6.0.2", "regex==2024.5.10", "orjson==3.9.12")
PASSWORD = "s3cret-PASS-7f1c"
USER = "muslin-ci"


def _wheels(tmp_path_factory: pytest.TempPathFactory, pins: tuple[str, ...]) -> Path:
    """A directory holding exactly ``pins`` (downloaded from PyPI into the shared cache on first use)."""
    out = tmp_path_factory.mktemp("render-wheels")
    for wheel in musl_wheels(pins):
        shutil.copy2(wheel, out / wheel.name)
    return out


@pytest.fixture(scope="session")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding exactly the pinned musllinux wheels (downloaded from PyPI on first use).

    The download cache is shared with other tests, so the wheels are copied out of it.
    """
    return _wheels(tmp_path_factory, WHEELS)


@pytest.fixture
def built_images(docker_client: Any) -> Iterator[list[str]]:
    """Tags of images a test builds; removed (with dangling build layers) afterwards."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True, noprune=False)


def import_names(wheel: Path) -> list[str]:
    """Top-level importable modules of a wheel (top_level.txt, else its RECORD)."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        top = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        if top:
            return [m for m in zf.read(top[0]).decode().split() if m and not m.startswith("_")]
    mods = set()
    for n in names:
        first = n.split("/", 1)[0]
        if first.endswith((".dist-info", ".data", ".libs")):
            continue
        mods.add(first.split(".", 1)[0])
    return sorted(m for m in mods if not m.startswith("_"))


def docker_build(
    context: Path, tag: str, built: list[str], *extra: str, buildkit: bool = True
) -> subprocess.CompletedProcess[str]:
    built.append(tag)
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if buildkit else "0"}
    progress = ["--progress", "plain"] if buildkit else []
    return subprocess.run(
        [DOCKER, "build", "--network", "host", *progress, *extra, "-t", tag, "-f", str(context / "Dockerfile"), str(context)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def docker_run(tag: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, "run", "--rm", "--network", "none", tag, *cmd], capture_output=True, text=True, timeout=120)


def smoke(tag: str, modules: list[str]) -> None:
    code = "import " + ", ".join(modules) + "; print('imported', len([" + ", ".join(modules) + "]))"
    imp = docker_run(tag, "python3", "-c", code)
    assert imp.returncode == 0, imp.stderr
    assert f"imported {len(modules)}" in imp.stdout
    check = docker_run(tag, "python3", "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr


def muslin(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the muslin CLI in-process from an empty directory (no project config around)."""
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        capsys.readouterr()
        code = run_guarded(cli, list(args))
    finally:
        os.chdir(cwd)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("mode", ["system", "venv", "no-buildkit"])
def test_cli_dockerfile_builds_and_imports(
    mode: str, wheel_dir: Path, musl_python_image: str, built_images: list[str],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    venv = mode == "venv"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    wheels = sorted(wheel_dir.glob("*.whl"))
    with IndexServer(wheel_dir, mode="json") as server:
        # Digest pinning is covered by the renderer tests; a docker-imported image has no
        # registry digest to pin to, so FROM uses its tag here.
        args = [
            "dockerfile", f"docker:{musl_python_image}", "pyyaml", "regex", "orjson",
            "--default-index", server.url, "-o", str(ctx / "Dockerfile"), "--no-pin-digest",
        ]
        if venv:
            args += ["--venv", "/opt/venv"]
        elif mode == "no-buildkit":
            args += ["--no-buildkit"]  # the classic builder: COPY the requirements file, --no-cache-dir
        else:
            # the application options, for real (the fixture has no adduser: a bare UID)
            (ctx / "app.py").write_text("import orjson, yaml\nprint('app', orjson.dumps(yaml.safe_load('a: 1')).decode())\n")
            args += ["--user", "10001", "--workdir", "/srv", "--copy", "app.py:/srv/app.py", "--cmd", '["python3", "app.py"]']
        code, err = muslin(tmp_path, capsys, *args)
        assert code == 0, err
        text = (ctx / "Dockerfile").read_text()
        assert f"ARG BASE_IMAGE={musl_python_image}\n" in text
        assert ("/opt/venv/bin/python -m pip install" in text) is venv
        assert {"Dockerfile", "requirements.pypi.txt"} <= {p.name for p in ctx.iterdir()}
        assert ("--mount" in text) is (mode != "no-buildkit")
        tag = f"muslin-test/render-build-{mode}:{os.getpid()}"
        build = docker_build(ctx, tag, built_images, buildkit=mode != "no-buildkit")
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    modules = [m for w in wheels for m in import_names(w)]
    assert {"yaml", "regex", "orjson"} <= set(modules)
    smoke(tag, modules)
    if mode == "system":
        app = subprocess.run([DOCKER, "run", "--rm", "--network", "none", tag], capture_output=True, text=True, timeout=120)
        assert app.stdout == 'app {"a":1}\n', app.stderr
        whoami = docker_run(tag, "/bin/id", "-u")
        assert whoami.stdout.strip() == "10001"
    if venv:
        where = docker_run(tag, "python3", "-c", "import sys, yaml; print(sys.prefix, yaml.__file__)")
        assert where.stdout.startswith("/opt/venv /opt/venv/lib/python3.11/site-packages/yaml/"), where.stdout


@pytest.mark.parametrize("buildkit", [True, False])
def test_local_find_links_directory_builds_without_network(
    buildkit: bool, wheel_dir: Path, musl_python_image: str, built_images: list[str],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """``--find-links DIR`` (wheels on this machine): they are copied beside the Dockerfile and
    installed from there; the build needs no index and no network at all."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    args = [
        "dockerfile", f"docker:{musl_python_image}", "pyyaml", "regex", "orjson",
        "--find-links", str(wheel_dir), "--no-index",
        "-o", str(ctx / "Dockerfile"), "--no-pin-digest",
    ]
    if not buildkit:
        args.append("--no-buildkit")
    code, err = muslin(tmp_path, capsys, *args)
    assert code == 0, err
    slug = sorted(p.name for p in ctx.iterdir() if p.name.startswith("wheels."))
    assert len(slug) == 1, sorted(p.name for p in ctx.iterdir())
    copied = sorted(p.name for p in (ctx / slug[0]).iterdir())
    assert copied == sorted(p.name for p in wheel_dir.glob("*.whl"))
    steps = [line for line in (ctx / "Dockerfile").read_text().splitlines() if not line.startswith("#")]
    assert not [line for line in steps if str(wheel_dir) in line]  # only the header's regenerate command has it
    tag = f"muslin-test/render-find-links-{'bk' if buildkit else 'classic'}:{os.getpid()}"
    built_images.append(tag)
    env = {**os.environ, "DOCKER_BUILDKIT": "1" if buildkit else "0"}
    build = subprocess.run(
        [DOCKER, "build", "--network", "none", "-t", tag, "-f", str(ctx / "Dockerfile"), str(ctx)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    smoke(tag, ["yaml", "regex", "orjson"])


def test_nothing_written_when_planning_fails(
    wheel_dir: Path, musl_python_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with IndexServer(wheel_dir, mode="json") as server:
        code, err = muslin(
            tmp_path, capsys, "dockerfile", f"docker:{musl_python_image}", "no-such-package-xyz",
            "--default-index", server.url, "-o", str(tmp_path / "Dockerfile"),
        )
    assert code != 0 and "Traceback" not in err and err.startswith("muslin: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_private_index_secret_stays_out_of_the_image(
    wheel_dir: Path, musl_python_image: str, built_images: list[str],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    netrc = tmp_path / "netrc"
    with IndexServer(wheel_dir, mode="html", basic_auth=(USER, PASSWORD)) as server:
        url = server.url_with_auth(USER, PASSWORD)
        code, err = muslin(
            tmp_path, capsys, "dockerfile", f"docker:{musl_python_image}", "pyyaml", "orjson",
            "--index", f"private={url}", "--pin", "pyyaml=private", "--pin", "orjson=private",
            "-o", str(ctx / "Dockerfile"), "--no-pin-digest",
        )
        assert code == 0, err
        assert PASSWORD not in err
        for f in ctx.iterdir():
            assert PASSWORD not in f.read_text() and f"{USER}:" not in f.read_text(), f.name
        text = (ctx / "Dockerfile").read_text()
        assert "--mount=type=secret,id=private_netrc,required=true" in text
        assert "docker build --secret id=private_netrc,src=$HOME/.netrc -f Dockerfile ." in text
        netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
        tag = f"muslin-test/render-secret:{os.getpid()}"
        # without the secret the build stops at once (required=true), before pip gets a 401
        failed = docker_build(ctx, tag + "-nosecret", built_images)
        assert failed.returncode != 0
        server.clear_requests()
        build = docker_build(ctx, tag, built_images, "--secret", f"id=private_netrc,src={netrc}")
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        authed = [h for _, p, h in server.requests if p.startswith("/files/")]
        assert authed and all("Authorization" in h or "authorization" in h for h in authed)
    smoke(tag, ["yaml", "orjson"])
    history = subprocess.run([DOCKER, "history", "--no-trunc", tag], capture_output=True, text=True, check=True)
    inspect = subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True, text=True, check=True)
    for out in (history.stdout, inspect.stdout):
        assert PASSWORD not in out
        assert USER not in out
    assert "/run/secrets/private_netrc" in history.stdout  # the step ran with the secret mounted
    # nor in any layer's files
    saved = tmp_path / "image.tar"
    subprocess.run([DOCKER, "save", "-o", str(saved), tag], check=True, capture_output=True)
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            if member.isfile():
                data = outer.extractfile(member)
                assert data is not None
                assert PASSWORD.encode() not in data.read(), member.name
    saved.unlink()


def test_metacharacters_in_index_url_build_safely(
    wheel_dir: Path, musl_python_image: str, built_images: list[str], tmp_path: Path
) -> None:
    """A find-links URL carrying $(...), ; and backticks reaches pip as one literal word."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    wheel = next(w for w in wheel_dir.glob("*.whl") if w.name.lower().startswith("pyyaml-"))
    data = wheel.read_bytes()
    with IndexServer(wheel_dir, mode="html") as server:
        evil_url = server.flat_url + "?q=$(touch${IFS}/tmp/pwned);touch${IFS}/tmp/pwned2;`touch${IFS}/tmp/pwned3`"
        index = IndexRef("links", evil_url, kind="find-links")
        item = PlanItem(
            "pyyaml", "PyYAML", wheel.name.split("-")[1], Action.INSTALL, "links",
            Artifact(wheel.name, server.base + "/files/" + wheel.name, hashlib.sha256(data).hexdigest(), "links", len(data)),
        )
        plan = Plan(
            image=ImageInfo(musl_python_image, musl_python_image, None, "3.18.3", True, "/usr", "/usr/bin/python3.11", True, False),
            target=TargetInfo("3.11", "3.11.2", "1.2", "x86_64", "linux/amd64"),
            items=(item,),
            indexes=(index,),
            venv=VenvDecision(None),
            requirements=("pyyaml",),
        )
        write_dockerfile(plan, ctx / "Dockerfile", DockerfileOptions())
        assert "'" + evil_url + "'" in (ctx / "Dockerfile").read_text()
        tag = f"muslin-test/render-metachar:{os.getpid()}"
        build = docker_build(ctx, tag, built_images)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        assert any(p == "/flat/" for _, p, _ in server.requests)
    smoke(tag, ["yaml"])
    probe = docker_run(tag, "/bin/sh", "-c", "ls /tmp/pwned /tmp/pwned2 /tmp/pwned3 2>/dev/null; true")
    assert probe.stdout.strip() == ""


def test_upgrade_system_installs_beside_apk_files_in_a_venv(
    musl_python_image: str, built_images: list[str], tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The fixture's pip 23.1.2 is apk-owned (py3-pip); --upgrade-system pip puts 24.0 in a venv."""
    wheels = _wheels(tmp_path_factory, ("pip==24.0",))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with IndexServer(wheels, mode="json") as server:
        code, err = muslin(
            tmp_path, capsys, "dockerfile", f"docker:{musl_python_image}", "pip==24.0", "--upgrade-system", "pip",
            "--default-index", server.url, "-o", str(ctx / "Dockerfile"), "--no-pin-digest",
        )
        assert code == 0, err
        text = (ctx / "Dockerfile").read_text()
        assert "-m venv --system-site-packages --without-pip /opt/venv" in text
        tag = f"muslin-test/render-upgrade:{os.getpid()}"
        build = docker_build(ctx, tag, built_images)
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    venv_pip = docker_run(tag, "python3", "-m", "pip", "--version")
    assert venv_pip.stdout.startswith("pip 24.0 from /opt/venv/"), venv_pip.stdout
    system_pip = docker_run(tag, "/usr/bin/python3.11", "-m", "pip", "--version")
    assert system_pip.stdout.startswith("pip 23.1.2 from /usr/lib/python3.11/site-packages/"), system_pip.stdout
    check = docker_run(tag, "python3", "-m", "pip", "check")
    assert check.returncode == 0, check.stdout
