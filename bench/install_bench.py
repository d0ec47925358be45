"""Time ``muslin install`` of a 20-wheel plan against ``pip install`` inside the same base image.

Both sides start from the same image and the same local index on 127.0.0.1
(PEP 503 HTML without metadata files, served by tests/support/index_server.py:
pip 23.1 in the image fails on its PEP 714 JSON and on PyYAML's PEP 658 file)
holding the 20 real musllinux/pure wheels of tests/data/install/musl-wheels.txt.

Measured per image, interleaved (each run starts with the next variant in turn, so what one
leaves for the daemon to clean up weighs on all alike), medians reported:

* ``muslin``            ``muslin install IMAGE <20 pins> --default-index URL --tag ...`` with an
                        empty cache (inspect + resolve + download + install with the image's
                        pip + byte-compile + verify + commit)
* ``muslin facts-cached`` the same, but the cache holds the image's facts (from an
                        unmeasured dry run: ``$MUSLIN_CACHE_DIR/facts``, keyed by image ID) and nothing else,
                        as on any repeated install onto the same base image
* ``muslin installer``  the same as ``muslin`` with ``--installer installer``
* ``muslin plan``       the same with ``--dry-run`` (inspect by ``docker save`` + resolve only)
* ``pip``               ``docker run --rm --network host IMAGE python3 -m pip install --index-url URL <20 pins>``
* ``pip+commit``        the same without ``--rm``, then ``docker commit`` (what it takes to get an image)
* ``commit``            the ``docker commit`` of ``pip+commit`` alone
* ``pip files``         ``docker run --rm --network none -v WHEELS:/w:ro IMAGE python3 -m pip install
                        --no-index --no-deps /w/<the 20 wheels>``: the image's pip installing (and
                        byte-compiling) the exact files, no resolve, no download

``pip files`` + ``commit`` is what ``muslin install`` cannot do without: the issue has it install
with the image's own pip and commit the container.  Their sum against ``pip`` shows how far the
steps muslin must run leave it from pip's time.

Images: the musl-python fixture as it is (no ``.pyc`` files at all, so every Python
process compiles the stdlib and pip it imports; ``pip`` writes that bytecode into the
container as it goes, muslin into a pycache prefix on the container's ``/dev/shm``, never committed), and ``--precompiled``: the fixture
with its stdlib and pip byte-compiled, as Alpine's python3/py3-pip packages ship them.

Usage::

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
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "install")]

from install_helpers import musl_wheels, pinned_requirements  # noqa: E402

from tests.support.index_server import IndexServer  # noqa: E402

FIXTURE = "muslin-test/musl-python:3.11"
PRECOMPILED = "muslin-bench/musl-python-pyc:3.11"
ROOTFS = REPO.parent / "shared" / "fixtures" / "musl-python" / "rootfs.tar.zst"
BENCH_REPO = "muslin-bench/install"


def _sh(argv: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, input=stdin)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(argv[:6])} ...\n{result.stderr[-2000:]}")


def _timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _pip_commit(name: str, tag: str, image: str, pip: list[str]) -> float:
    """Run pip in a container and commit it; the commit's share of the time."""
    _sh(["docker", "run", "--name", name, "--network", "host", image, *pip])
    return _timed(partial(_sh, ["docker", "commit", name, tag]))


def ensure_images() -> None:
    if subprocess.run(["docker", "image", "inspect", FIXTURE], capture_output=True).returncode != 0:
        subprocess.run(f"zstd -dc {ROOTFS} | docker import - {FIXTURE}", shell=True, check=True, capture_output=True)
    dockerfile = f"FROM {FIXTURE}\nRUN python3 -m compileall -q /usr/lib/python3.11\n"
    _sh(["docker", "build", "-q", "-t", PRECOMPILED, "-"], stdin=dockerfile)


VARIANTS = (
    "muslin", "muslin facts-cached", "muslin installer", "muslin plan", "pip", "pip+commit", "commit", "pip files"
)


def bench_image(
    image: str, index: IndexServer, requirements: list[str], wheels: Path, runs: int, tmp: Path
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {k: [] for k in VARIANTS}
    pip_files = [
        "docker", "run", "--rm", "--network", "none", "-v", f"{wheels}:/w:ro", image,
        "python3", "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--disable-pip-version-check",
        "--root-user-action=ignore", *sorted(f"/w/{w.name}" for w in wheels.glob("*.whl")),
    ]
    pip = [
        "python3", "-m", "pip", "install", "-q", "--no-cache-dir", "--disable-pip-version-check",
        "--root-user-action=ignore", "--index-url", index.url, *requirements,
    ]
    muslin = [sys.executable, "-m", "muslin", "install", image, *requirements, "--default-index", index.url]
    # facts for "muslin facts-cached", from one unmeasured dry run (it exports the image)
    seed = tmp / f"seed-{image.replace('/', '_')}"
    _sh([*muslin, "--dry-run"], {**os.environ, "MUSLIN_CACHE_DIR": str(seed)})
    for run in range(runs):
        tag = f"{BENCH_REPO}:{run}"

        def env(kind: str, run: int = run) -> dict[str, str]:
            return {**os.environ, "MUSLIN_CACHE_DIR": str(tmp / f"cache-{image.replace('/', '_')}-{kind}-{run}")}

        def install(kind: str, *extra: str, tag: str = tag) -> None:
            _sh([*muslin, "--tag", tag, *extra], env(kind))
            _sh(["docker", "rmi", tag])

        def facts_cached(run: int = run) -> None:
            shutil.copytree(seed / "facts", Path(env("facts", run)["MUSLIN_CACHE_DIR"]) / "facts")
            install("facts")

        name = f"muslin-bench-pip-{os.getpid()}-{run}"

        def pip_commit(name: str = name, tag: str = tag) -> None:
            try:
                timings["commit"].append(_pip_commit(name, tag, image, pip))
            finally:
                subprocess.run(["docker", "rm", "-f", name], capture_output=True)
                subprocess.run(["docker", "rmi", tag], capture_output=True)

        variants: list[tuple[str, Callable[[], None]]] = [
            ("muslin", partial(install, "pip")),
            ("muslin facts-cached", facts_cached),
            ("muslin installer", partial(install, "installer", "--installer", "installer")),
            ("muslin plan", partial(_sh, [*muslin, "--dry-run"], env("dry"))),
            ("pip", partial(_sh, ["docker", "run", "--rm", "--network", "host", image, *pip])),
            ("pip+commit", pip_commit),
            ("pip files", partial(_sh, pip_files)),
        ]
        # each run starts with another variant: what one leaves behind for the daemon to clean
        # up (removed images and containers) then weighs on every variant alike
        shift = run % len(variants)
        try:
            for key, action in variants[shift:] + variants[:shift]:
                timings[key].append(_timed(action))
        finally:
            subprocess.run(["docker", "rmi", tag], capture_output=True)
        print(f"  {image} run {run + 1}/{runs}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in timings.items()), flush=True)
    return timings


def report(image: str, timings: dict[str, list[float]], runs: int) -> dict[str, float]:
    med = {k: statistics.median(v) for k, v in timings.items()}
    print(f"\n{image}: 20-wheel install, median of {runs} runs")
    for key, value in med.items():
        print(f"  {key:18s} {value:6.2f} s")
    # (no "without the plan" figure: the install's plan reads the running container, the dry
    # run's exports the image, so subtracting one from the other means nothing)
    for name in ("muslin", "muslin facts-cached", "muslin installer"):
        print(f"  {name}: pip/muslin {med['pip'] / med[name]:.2f}x, pip+commit/muslin {med['pip+commit'] / med[name]:.2f}x")
    floor = med["pip files"] + med["commit"]
    print(
        f"  the steps muslin must run, pip files + commit: {floor:.2f} s; twice pip's speed is {med['pip'] / 2:.2f} s"
    )
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Write the raw timings here.")
    args = parser.parse_args()

    ensure_images()
    requirements = pinned_requirements()
    wheels = musl_wheels(requirements)
    assert len(wheels) == 20, len(wheels)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="muslin-bench-") as tmp:
        root = Path(tmp) / "index"
        root.mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, root / wheel.name)
        with IndexServer(root, mode="html") as index:
            for image in (FIXTURE, PRECOMPILED):
                results[image] = bench_image(image, index, requirements, root, args.runs, Path(tmp))
    medians = {image: report(image, timings, args.runs) for image, timings in results.items()}
    subprocess.run(["docker", "rmi", PRECOMPILED], capture_output=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": results, "medians": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
