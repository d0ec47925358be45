"""Benchmark ``muslin plan`` against ``uv pip compile`` and ``pip install --dry-run``.

All three resolve the same requirements for CPython 3.11 / musllinux_1_2 /
x86_64, wheels only, against real PyPI:

* muslin: ``muslin plan alpine:3.18 --profile alpine:3.18 -r REQS --json``
* uv:     ``uv pip compile --python-platform x86_64-unknown-linux-musl
  --python-version 3.11 --only-binary :all: REQS`` (``UV_PYTHON_DOWNLOADS=never``:
  asking for 3.11.6 would make uv download that interpreter; with 3.11 uv
  evaluates ``python_full_version`` markers as 3.11.0 where muslin uses Alpine
  3.18's 3.11.6, so the stack set differs by ``async-timeout``, needed by redis
  only below 3.11.3)
* pip:    ``pip install --dry-run --report - --platform musllinux_1_2_x86_64
  --only-binary=:all: --python-version 3.11 --target DIR -r REQS``

Cold: a fresh, empty cache directory for every run.  Warm: one cache directory
filled by a first (unmeasured) run, then every measured run re-plans with the
same inputs.  The tools take turns (one run of each per round), so a drifting
network weighs on all of them alike; raw times go to ``bench/results/plan.json``.  Before measuring, muslin's own modules are byte-compiled
(``compileall``), as installing its wheel does and as pip's and uv's own files
are: an editable checkout under ``PYTHONDONTWRITEBYTECODE=1`` would otherwise
recompile every module on every run, a cost no installed copy pays.  Prints the median of ``--runs`` runs (default 5) per tool, set
and mode, and the ratios muslin/uv and pip/muslin.

    python bench/plan.py [--runs 5] [--sets live,stack] [--tools muslin,uv,pip]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LIVE = ["django==5.1.5", "cryptography", "pydantic", "pyyaml", "regex", "httpx", "brotli"]
"""The live-test set of issue #3 (20 packages resolved)."""

STACK = [
    "django", "djangorestframework", "celery", "redis", "psycopg[binary]", "fastapi",
    "uvicorn[standard]", "sqlalchemy", "alembic", "pandas", "numpy", "scipy", "matplotlib",
    "boto3", "requests", "pydantic", "httpx", "jinja2", "lxml", "pillow", "orjson", "gunicorn",
    "sentry-sdk", "structlog", "rich", "typer", "python-dateutil", "pyyaml", "cryptography",
    "bcrypt", "argon2-cffi", "pyjwt", "aiohttp", "websockets", "markdown", "openpyxl", "tqdm",
    "tenacity", "prometheus-client", "protobuf", "grpcio", "msgpack",
]
"""A web/data stack: 42 top-level requirements, about 100 packages resolved."""

SETS = {"live": LIVE, "stack": STACK}


def clean_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["MUSLIN_CACHE_DIR"] = str(cache / "muslin")
    env["UV_CACHE_DIR"] = str(cache / "uv")
    env["PIP_CACHE_DIR"] = str(cache / "pip")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def muslin_cmd(reqs: Path, work: Path) -> list[str]:
    return [sys.executable, "-m", "muslin", "plan", "alpine:3.18", "--profile", "alpine:3.18",
            "-r", str(reqs), "--json"]


def uv_cmd(reqs: Path, work: Path) -> list[str]:
    uv = shutil.which("uv") or "uv"
    return [uv, "pip", "compile", "--python-platform", "x86_64-unknown-linux-musl",
            "--python-version", "3.11", "--only-binary", ":all:", "--no-header", "--quiet", str(reqs)]


def pip_cmd(reqs: Path, work: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-",
            "--platform", "musllinux_1_2_x86_64", "--only-binary=:all:", "--python-version", "3.11",
            "--target", str(work / "target"), "--ignore-installed", "-r", str(reqs)]


TOOLS: dict[str, Callable[[Path, Path], list[str]]] = {"muslin": muslin_cmd, "uv": uv_cmd, "pip": pip_cmd}


def run_once(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def measure(tools: list[str], reqs: Path, runs: int, warm: bool) -> dict[str, list[float]]:
    """Each tool's times, run in rounds (one run of every tool per round): a network or
    machine that drifts during the bench then weighs on every tool alike."""
    with tempfile.TemporaryDirectory(prefix="muslin-bench-") as tmp:
        root = Path(tmp)
        work = root / "work"
        work.mkdir()
        cmds = {tool: TOOLS[tool](reqs, work) for tool in tools}
        times: dict[str, list[float]] = {tool: [] for tool in tools}
        if warm:
            for tool in tools:  # fill each tool's own cache once, unmeasured
                run_once(cmds[tool], clean_env(root / "cache"), work)
        for i in range(runs):
            for tool in tools:
                cache = root / "cache" if warm else root / f"cache-{i}"
                times[tool].append(run_once(cmds[tool], clean_env(cache), work))
                if not warm:
                    shutil.rmtree(cache, ignore_errors=True)
        return times


def byte_compile_muslin() -> None:
    """Write ``__pycache__`` for muslin's package, as a wheel install does (git-ignored)."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("muslin")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sets", default="live,stack")
    parser.add_argument("--tools", default="muslin,uv,pip")
    parser.add_argument("--modes", default="cold,warm")
    args = parser.parse_args()
    tools = args.tools.split(",")
    if "muslin" in tools:
        byte_compile_muslin()
    results: dict[tuple[str, str, str], float] = {}
    raw: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="muslin-bench-reqs-") as tmp:
        for set_name in args.sets.split(","):
            reqs = Path(tmp) / f"{set_name}.in"
            reqs.write_text("\n".join(SETS[set_name]) + "\n")
            for mode in args.modes.split(","):
                measured = measure(tools, reqs, args.runs, warm=(mode == "warm"))
                for tool, times in measured.items():
                    t = statistics.median(times)
                    results[(set_name, mode, tool)] = t
                    raw[f"{set_name}/{mode}/{tool}"] = [round(x, 3) for x in times]
                    print(
                        f"{set_name:6} {mode:5} {tool:7} median {t:7.2f} s  "
                        f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)",
                        flush=True,
                    )
    out = Path(__file__).resolve().parent / "results" / "plan.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(raw, indent=2) + "\n")
    print()
    print(f"{'set':6} {'mode':5} " + " ".join(f"{t:>8}" for t in tools) + "   muslin/uv  pip/muslin")
    for set_name in args.sets.split(","):
        for mode in args.modes.split(","):
            row = [results.get((set_name, mode, t)) for t in tools]
            cells = " ".join(f"{v:8.2f}" if v is not None else f"{'-':>8}" for v in row)
            m, u, p = (results.get((set_name, mode, t)) for t in ("muslin", "uv", "pip"))
            ratio_uv = f"{m / u:9.2f}x" if m and u else f"{'-':>10}"
            ratio_pip = f"{p / m:10.2f}x" if m and p else f"{'-':>11}"
            print(f"{set_name:6} {mode:5} {cells}  {ratio_uv} {ratio_pip}")


if __name__ == "__main__":
    main()
