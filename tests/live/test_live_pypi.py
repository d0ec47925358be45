"""Live PyPI: muslin's plan agrees with ``uv pip compile`` for CPython 3.11 / musl / x86_64.

Run with ``pytest -m live``.  uv's ``x86_64-unknown-linux-musl`` target
accepts ``musllinux_1_2`` and older tags (musl 1.2), which is what Alpine 3.18's
musl 1.2.4 gives muslin's target, so both resolve for the same wheel tags.
uv evaluates ``python_full_version`` as 3.11.0 for ``--python-version 3.11``
while muslin uses the image's 3.11.6; no package of this set has such a marker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.common import need

pytestmark = pytest.mark.live

LIVE_SET = ["django==5.1.5", "cryptography", "pydantic", "pyyaml", "regex", "httpx", "brotli"]


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["MUSLIN_CACHE_DIR"] = str(cache)
    env["UV_PYTHON_DOWNLOADS"] = "never"  # uv uses a local interpreter for 3.11, never fetches one
    return env


def uv_compile(requirements: list[str], tmp: Path) -> dict[str, str]:
    uv = shutil.which("uv")
    need(uv is not None, "uv is not installed (it is in the test extra)")
    assert uv is not None
    req = tmp / "requirements.in"
    req.write_text("\n".join(requirements) + "\n")
    proc = subprocess.run(
        [uv, "pip", "compile", "--python-platform", "x86_64-unknown-linux-musl", "--python-version", "3.11",
         "--only-binary", ":all:", "--no-header", "--no-annotate", "--no-cache", str(req)],
        capture_output=True, text=True, timeout=300, env=_env(tmp / "cache"),
    )
    assert proc.returncode == 0, proc.stderr
    pins: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def muslin_plan(requirements: list[str], tmp: Path, *target: str) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "muslin", "plan", "alpine:3.18", *requirements, *target, "--json"],
        capture_output=True, text=True, timeout=600, env=_env(tmp / "muslin-cache"), cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["target"]["platform_tag"] == "musllinux_1_2_x86_64"
    assert data["target"]["python_version"] == "3.11"
    assert all(i["artifact"]["filename"].endswith(".whl") for i in data["items"])
    return {i["name"]: i["version"] for i in data["items"]}


@pytest.mark.parametrize("target", [["--profile", "alpine:3.18"], ["--profile", "alpine:3.18", "--python", "3.11"]])
def test_plan_agrees_with_uv(tmp_path: Path, target: list[str]) -> None:
    ours = muslin_plan(LIVE_SET, tmp_path, *target)
    theirs = uv_compile(LIVE_SET, tmp_path)
    assert ours == theirs
    assert ours["django"] == "5.1.5"
