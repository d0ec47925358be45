"""Time ``muslin install`` of a 20-wheel plan against ``pip install`` inside the same base image.

Both sides start from the musl-python fixture image and the same local index on
127.0.0.1 (PEP 503 HTML, served by tests/support/index_server.py) holding the 20
real musllinux/pure wheels of tests/data/install/musl-wheels.txt.

* muslin:      ``muslin install IMAGE <20 pins> --default-index URL --tag ...`` with an
               empty muslin cache (plan + download + install + verify + commit).
* muslin plan: the same command with ``--dry-run`` (inspect + resolve only), for the split.
* pip:         ``docker run --rm --network host IMAGE python3 -m pip install --index-url URL <20 pins>``.
* pip+commit:  the same without ``--rm``, then ``docker commit`` (what it takes to get an image).

Runs are interleaved; medians are reported.  Usage::

    python bench/install_bench.py [--runs 3] [--json bench/results/install.json]
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

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "install")]

from install_helpers import musl_wheels, pinned_requirements  # noqa: E402

from tests.support.index_server import IndexServer  # noqa: E402

IMAGE = "muslin-test/musl-python:3.11"
ROOTFS = REPO.parent / "shared" / "fixtures" / "musl-python" / "rootfs.tar.zst"
BENCH_REPO = "muslin-bench/install"


def _sh(argv: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(argv[:6])} ...\n{result.stderr[-2000:]}")


def _timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def ensure_image() -> None:
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        return
    subprocess.run(f"zstd -dc {ROOTFS} | docker import - {IMAGE}", shell=True, check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Write the raw timings here.")
    args = parser.parse_args()

    ensure_image()
    requirements = pinned_requirements()
    wheels = musl_wheels(requirements)
    assert len(wheels) == 20, len(wheels)
    timings: dict[str, list[float]] = {"muslin": [], "muslin plan (dry-run)": [], "pip": [], "pip+commit": []}
    with tempfile.TemporaryDirectory(prefix="muslin-bench-") as tmp:
        root = Path(tmp) / "index"
        root.mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, root / wheel.name)
        with IndexServer(root, mode="html") as index:
            for run in range(args.runs):
                tag = f"{BENCH_REPO}:{run}"
                cache = Path(tmp) / f"cache-{run}"
                env = {**os.environ, "MUSLIN_CACHE_DIR": str(cache)}
                muslin = [sys.executable, "-m", "muslin", "install", IMAGE, *requirements, "--default-index", index.url]
                timings["muslin"].append(_timed(lambda: _sh([*muslin, "--tag", tag], env)))
                _sh(["docker", "rmi", tag])
                dry_env = {**env, "MUSLIN_CACHE_DIR": str(cache) + "-dry"}
                timings["muslin plan (dry-run)"].append(_timed(lambda: _sh([*muslin, "--dry-run"], dry_env)))
                pip = [
                    "python3", "-m", "pip", "install", "-q", "--no-cache-dir", "--disable-pip-version-check",
                    "--root-user-action=ignore", "--index-url", index.url, *requirements,
                ]
                timings["pip"].append(_timed(lambda: _sh(["docker", "run", "--rm", "--network", "host", IMAGE, *pip])))
                name = f"muslin-bench-pip-{os.getpid()}-{run}"

                def pip_commit(name: str = name, tag: str = tag) -> None:
                    _sh(["docker", "run", "--name", name, "--network", "host", IMAGE, *pip])
                    _sh(["docker", "commit", name, tag])

                try:
                    timings["pip+commit"].append(_timed(pip_commit))
                finally:
                    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
                    subprocess.run(["docker", "rmi", tag], capture_output=True)
                print(f"run {run + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in timings.items()), flush=True)

    medians = {k: statistics.median(v) for k, v in timings.items()}
    print(f"\n20-wheel install into {IMAGE}, median of {args.runs} runs (cold muslin cache):")
    for key, value in medians.items():
        print(f"  {key:24s} {value:7.2f} s")
    install_only = medians["muslin"] - medians["muslin plan (dry-run)"]
    print(f"  {'muslin minus plan':24s} {install_only:7.2f} s")
    print(f"ratio pip / muslin:              {medians['pip'] / medians['muslin']:.2f}x")
    print(f"ratio pip+commit / muslin:       {medians['pip+commit'] / medians['muslin']:.2f}x")
    print(f"ratio pip+commit / muslin install step (plan excluded): {medians['pip+commit'] / install_only:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": timings, "medians": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
