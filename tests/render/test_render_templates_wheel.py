"""The templates ship in the wheel: a non-editable install renders the same Dockerfile.

Builds the wheel (pip fetches hatchling from PyPI for the isolated build), installs it
into a fresh venv (``--system-site-packages`` for the runtime dependencies, the wheel's
``muslin`` first on ``sys.path``) and renders a plan there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import render_plans
from support.common import REPO, need

from muslin.render.dockerfile import render_dockerfile
from muslin.render.templates import builtin_templates_dir

SCRIPT = """
import json, sys
import muslin.render.templates as t
from muslin.plan.model import Plan
from muslin.render.dockerfile import render_dockerfile
plan = Plan.from_dict(json.load(sys.stdin))
r = render_dockerfile(plan)
print(json.dumps({"module": t.__file__, "dir": str(t.builtin_templates_dir()), "text": r.text, "side": r.side_files}))
"""


def test_source_checkout_finds_repo_templates() -> None:
    assert builtin_templates_dir() == REPO / "templates"


def test_installed_wheel_renders_from_packaged_templates(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
    )
    need(build.returncode == 0, f"cannot build the wheel (hatchling from PyPI?): {build.stderr[-500:]}")
    (wheel,) = (tmp_path / "dist").glob("muslin-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    plan = render_plans.private_index()
    out = subprocess.run(
        [str(py), "-c", SCRIPT], input=json.dumps(plan.to_dict()), capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    site = venv / "lib"
    assert result["module"].startswith(str(site)), result["module"]
    assert result["dir"].startswith(str(site)) and result["dir"].endswith("muslin/templates")
    expected = render_dockerfile(plan)
    assert result["text"] == expected.text
    assert result["side"] == expected.side_files
