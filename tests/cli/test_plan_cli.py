"""``muslin plan`` as a command: exit codes, one error line, no traceback, no partial files.

Runs the real ``muslin`` console entry (``python -m muslin``) in a subprocess
for the exit-code contract, against a real index server on 127.0.0.1, with the
built-in Alpine 3.18 profile as the image (no registry access needed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.index_server import IndexServer
from support.wheels import build_wheel

PROFILE = ["alpine:3.18", "--profile", "alpine:3.18"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("index")
    build_wheel(root, "alpha", "1.0", requires=["beta>=2"])
    build_wheel(root, "beta", "2.0")
    build_wheel(root, "beta", "1.0")
    with IndexServer(root, mode="json", basic_auth=("user", "s3cret-token")) as srv:
        yield srv


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def muslin(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["MUSLIN_CACHE_DIR"] = str(work.parent / "cache")
    proc = subprocess.run(
        [sys.executable, "-m", "muslin", *args],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def index_args(server: IndexServer) -> list[str]:
    url = server.url.replace("http://", "http://user:s3cret-token@")
    return ["--default-index", url]


def test_help_lists_the_shared_options(work: Path) -> None:
    proc = muslin(work, "plan", "--help")
    assert proc.returncode == 0
    for option in ("-r, --requirement", "-c, --constraint", "--pin", "--index-strategy", "--upgrade-system",
                   "--accept-linux-tags", "--profile", "--offline", "--no-venv", "--break-system-packages",
                   "--json", "-o, --output", "[REQUIREMENT]..."):
        assert option in proc.stdout, option


def test_success_json_and_no_credentials_anywhere(work: Path, server: IndexServer) -> None:
    proc = muslin(work, "plan", *PROFILE, "alpha", *index_args(server), "--json", "-o", "req.lock.txt",
                  "-o", "pylock.toml")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {i["name"]: i["version"] for i in data["items"]} == {"alpha": "1.0", "beta": "2.0"}
    assert data["indexes"][0]["needs_credentials"] is True
    assert data["command"].startswith("muslin plan alpine:3.18 alpha")
    texts = [proc.stdout, proc.stderr, (work / "req.lock.txt").read_text(), (work / "pylock.toml").read_text()]
    assert all("s3cret-token" not in t for t in texts)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["alpine:3.18", "--profile", "alpine:3.18"], 2, "nothing to plan"),
        ([*PROFILE, "alpha", "-o", "lock.json"], 2, "-o lock.json"),
        ([*PROFILE, "alpha[x"], 2, "alpha[x"),
        ([*PROFILE, "alpha", "--venv", "relative/path"], 2, "--venv"),
        ([*PROFILE, "alpha", "--venv", "/opt/v", "--no-venv"], 2, "exclude"),
        ([*PROFILE, "alpha", "--index", "no-equals-sign"], 2, "NAME=URL"),
        ([*PROFILE, "alpha", "--profile", "ubuntu:22.04"], 2, "--profile"),
        ([*PROFILE, "alpha", "--python", "three"], 2, "--python"),
        (["dir:/nonexistent/rootfs", "alpha"], 3, "nonexistent"),
        ([*PROFILE, "alpha", "beta<2", "-o", "out.lock.txt"], 7, "beta"),
    ],
)
def test_errors_one_line_exit_code_no_output_file(
    work: Path, server: IndexServer, args: list[str], code: int, needle: str
) -> None:
    proc = muslin(work, "plan", *args, *index_args(server))
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr
    assert proc.stderr.startswith(("muslin: error:", "Error:", "Usage:"))
    assert proc.stdout == ""
    assert list(work.iterdir()) == []  # no partial output, no temp files


def test_malformed_requirements_file_names_file_and_line(work: Path, server: IndexServer) -> None:
    (work / "requirements.txt").write_text("alpha\nbeta >= = 2\n")
    proc = muslin(work, "plan", *PROFILE, "-r", "requirements.txt", *index_args(server), "-o", "x.lock.txt")
    assert proc.returncode == 2
    assert "requirements.txt:2" in proc.stderr
    assert not (work / "x.lock.txt").exists()


def test_requirements_file_and_constraints(work: Path, server: IndexServer) -> None:
    (work / "requirements.txt").write_text("alpha\n")
    (work / "constraints.txt").write_text("beta<3\ngamma==1\n")
    proc = muslin(work, "plan", *PROFILE, "-r", "requirements.txt", "-c", "constraints.txt",
                  *index_args(server), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [i["name"] for i in data["items"]] == ["alpha", "beta"]
    assert {Path(i["path"]).name for i in data["inputs"]} == {"requirements.txt", "constraints.txt"}


def test_plain_output_when_not_a_tty(work: Path, server: IndexServer) -> None:
    proc = muslin(work, "plan", *PROFILE, "alpha", *index_args(server))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Plan for alpine:3.18 (CPython 3.11")
    assert any(line.split()[:3] == ["alpha", "1.0", "install"] for line in lines)
    assert "2 to install, 0 kept" in proc.stdout
    assert "apk add first: python3~3.11 py3-pip" in proc.stdout
    assert "\x1b[" not in proc.stdout
