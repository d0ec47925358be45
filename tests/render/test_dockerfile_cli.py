"""``muslin dockerfile`` and ``muslin plan --dockerfile`` end to end, without Docker.

Plans for the built-in ``alpine:3.18`` profile (``--profile``) against small real
wheels served by :class:`IndexServer` on 127.0.0.1; checks what is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import dockerfile
import pytest
from support.index_server import IndexServer
from support.wheels import build_wheel

from muslin.cli import cli
from muslin.cli.errors import run_guarded

PASSWORD = "pa55-w0rd-93b1"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-wheels")
    build_wheel(root, "alpha", "1.0.0", requires=["beta>=2"])
    build_wheel(root, "beta", "2.1.0")
    build_wheel(root, "gamma", "0.3.0", tags="cp311-cp311-musllinux_1_1_x86_64")
    return root


def muslin(cwd: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        capsys.readouterr()
        code = run_guarded(cli, list(args))
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    return code, out.out, out.err


def lint(path: Path) -> None:
    if shutil.which("hadolint"):
        proc = subprocess.run(["hadolint", "--no-color", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


def test_dockerfile_command_writes_dockerfile_and_side_files(
    wheels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with IndexServer(wheels, mode="json") as server:
        code, _, err = muslin(
            tmp_path, capsys, "dockerfile", "alpine:3.18", "alpha", "gamma", "--profile", "alpine:3.18",
            "--default-index", server.url, "-o", "Dockerfile",
            "--user", "app", "--workdir", "/app", "--copy", "src:/app/src", "--cmd", "python3 -m alpha",
        )
    assert code == 0, err
    assert "wrote Dockerfile and, beside it, requirements.pypi.txt" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile", "requirements.pypi.txt"]
    text = (tmp_path / "Dockerfile").read_text()
    lint(tmp_path / "Dockerfile")
    kinds = [c.cmd for c in dockerfile.parse_string(text)]
    assert kinds == ["ARG", "FROM", "RUN", "RUN", "RUN", "WORKDIR", "COPY", "USER", "CMD"]
    assert "ARG BASE_IMAGE=alpine:3.18\n" in text
    # python3 and py3-pip both minor-pinned from the release table: no DL3018 ignore needed
    assert "RUN apk add --no-cache python3~3.11 py3-pip~23.1\n" in text
    assert "DL3018" not in text and "Not version-pinned" not in text
    assert "# Target:  CPython 3.11" in text and "musllinux_1_2_x86_64 (linux/amd64)" in text
    # the regenerate command carries the Dockerfile options
    assert "--user app --workdir /app --copy src:/app/src --cmd 'python3 -m alpha'" in text
    reqs = (tmp_path / "requirements.pypi.txt").read_text()
    pins = sorted(line.split(" ")[0] for line in reqs.splitlines() if line and not line.startswith(("#", " ")))
    assert pins == ["alpha==1.0.0", "beta==2.1.0", "gamma==0.3.0"]
    assert reqs.count("--hash=sha256:") == 3


def test_context_directory_and_credentials_never_written(
    wheels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "docker" / "py"
    out_dir.mkdir(parents=True)
    with IndexServer(wheels, mode="html", basic_auth=("ci", PASSWORD)) as server:
        code, stdout, err = muslin(
            tmp_path, capsys, "dockerfile", "alpine:3.18", "alpha", "--profile", "alpine:3.18",
            "--index", f"corp={server.url_with_auth('ci', PASSWORD)}", "-o", "docker/py/Dockerfile",
            "--context", ".",
        )
    assert code == 0, err
    for text in (stdout, err, *(p.read_text() for p in out_dir.iterdir())):
        assert PASSWORD not in text and "ci:" not in text
    text = (out_dir / "Dockerfile").read_text()
    lint(out_dir / "Dockerfile")
    assert "--mount=type=bind,source=docker/py/requirements.corp.txt,target=/tmp/muslin/requirements.corp.txt" in text
    assert "docker build --secret id=corp_netrc,src=$HOME/.netrc -f docker/py/Dockerfile ." in text
    assert "NETRC=/run/secrets/corp_netrc" in text


def test_plan_dockerfile_option(wheels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with IndexServer(wheels, mode="json") as server:
        code, stdout, err = muslin(
            tmp_path, capsys, "plan", "alpine:3.18", "alpha", "--profile", "alpine:3.18",
            "--default-index", server.url, "--dockerfile", "build/Dockerfile.muslin",
        )
    # the directory does not exist: one error line, exit 2
    assert code == 2 and "muslin: error: cannot write build/" in err and "Traceback" not in err
    (tmp_path / "build").mkdir()
    with IndexServer(wheels, mode="json") as server:
        code, stdout, err = muslin(
            tmp_path, capsys, "plan", "alpine:3.18", "alpha", "--profile", "alpine:3.18",
            "--default-index", server.url, "--dockerfile", "build/Dockerfile.muslin",
        )
    assert code == 0, err
    assert "alpha" in stdout  # the plan table still prints
    text = (tmp_path / "build" / "Dockerfile.muslin").read_text()
    assert "#   muslin plan alpine:3.18 alpha" in text and text.split("\n")[1].endswith("--dockerfile build/Dockerfile.muslin")
    assert "-f Dockerfile.muslin ." in text
    assert (tmp_path / "build" / "requirements.pypi.txt").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "Bad User"], "--user"),
        (["--copy", "nocolon"], "--copy"),
        (["--cmd", "[1]"], "--cmd"),
        (["--workdir", "relative"], "--workdir"),
        (["--template", "missing.j2"], "--template"),
        (["--venv", "/opt/v", "--no-venv"], "--venv"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = muslin(tmp_path, capsys, "dockerfile", "alpine:3.18", "alpha", "--profile", "alpine:3.18", *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_render_failure_writes_nothing(wheels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").write_text("# the user's old file\n")
    with IndexServer(wheels, mode="json") as server:
        code, _, err = muslin(
            tmp_path, capsys, "dockerfile", "alpine:3.18", "alpha", "--profile", "alpine:3.18",
            "--default-index", server.url, "--context", str(tmp_path / "elsewhere"),
        )
    assert code == 2 and "inside the build context" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile"]
    assert (tmp_path / "Dockerfile").read_text() == "# the user's old file\n"
