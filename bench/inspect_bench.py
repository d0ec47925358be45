"""Benchmark: open a >= 1 GiB multi-layer image and walk the files inspection reads.

Builds (once, cached in ``bench/.cache/``) an image of several incompressible
random-data layers, the real Alpine 3.18.3 skeleton as base layer when the
shared fixture is present, and a layer of Python metadata (a site-packages
with dist-info, egg-info directories and files, an egg, an egg-link, .pth);
writes it as a docker-archive (plain tar) and as an OCI layout with gzip
layers.  Each measurement runs in a fresh subprocess: wall time of
``open_image`` + a walk reading every interesting file, and peak RSS.

    python bench/inspect_bench.py            # build if needed, measure both, print a table
    python bench/inspect_bench.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / ".cache"
SKELETON = REPO.parent / "shared" / "fixtures" / "alpine-3.18.3" / "skeleton.tar.zst"
RANDOM_LAYERS = (384 << 20, 256 << 20, 256 << 20, 192 << 20)  # 1088 MiB
VERSION = "v1"
SP = "usr/lib/python3.11/site-packages"


def build_image() -> object:
    sys.path.insert(0, str(REPO / "tests"))
    from support.imagebuilder import Image, Layer

    layers = []
    if SKELETON.exists():
        layers.append(Layer.from_tar(SKELETON))
    else:
        layers.append(Layer().add_dirs("etc").add_file("etc/alpine-release", "3.18.3\n"))
    for i, size in enumerate(RANDOM_LAYERS):
        layer = Layer().add_dirs(f"opt/data{i}")
        chunk = size // 4
        for j in range(4):
            layer.add_random(f"opt/data{i}/blob{j}.bin", chunk)
        layers.append(layer)
    meta = Layer().add_dirs(SP, "usr/local/lib/python3.11/site-packages")
    for n in range(40):
        d = f"{SP}/pkg{n}-1.{n}.0.dist-info"
        meta.add_dir(d)
        meta.add_file(f"{d}/METADATA", f"Metadata-Version: 2.1\nName: pkg{n}\nVersion: 1.{n}.0\n" + "Requires-Dist: six\n" * 5)
        meta.add_file(f"{d}/RECORD", "".join(f"pkg{n}/m{k}.py,sha256=x,1\n" for k in range(200)))
        meta.add_file(f"{d}/INSTALLER", "pip\n").add_file(f"{d}/top_level.txt", f"pkg{n}\n")
        meta.add_dir(f"{SP}/pkg{n}")
        for k in range(20):
            meta.add_file(f"{SP}/pkg{n}/m{k}.py", "x = 1\n" * 100)
    e = f"{SP}/mysqlclient-2.1.1-py3.11.egg-info"
    meta.add_dir(e).add_file(f"{e}/PKG-INFO", "Metadata-Version: 2.1\nName: mysqlclient\nVersion: 2.1.1\n")
    meta.add_file(f"{e}/requires.txt", "").add_file(f"{e}/top_level.txt", "MySQLdb\n")
    meta.add_file(f"{SP}/legacy-0.1-py3.11.egg-info", "Metadata-Version: 1.0\nName: legacy\nVersion: 0.1\n")
    meta.add_dir(f"{SP}/eggy-1.0-py3.11.egg").add_dir(f"{SP}/eggy-1.0-py3.11.egg/EGG-INFO")
    meta.add_file(f"{SP}/eggy-1.0-py3.11.egg/EGG-INFO/PKG-INFO", "Name: eggy\nVersion: 1.0\n")
    meta.add_file(f"{SP}/dev.egg-link", "/src/dev\n.\n").add_file(f"{SP}/easy-install.pth", "./eggy-1.0-py3.11.egg\n")
    layers.append(meta)
    return Image(layers, env=["PATH=/usr/local/bin:/usr/bin"])


def ensure_cache() -> tuple[Path, Path]:
    archive = CACHE / f"image-{VERSION}.docker.tar"
    layout = CACHE / f"image-{VERSION}.oci-gzip"
    if archive.exists() and (layout / "index.json").exists():
        return archive, layout
    CACHE.mkdir(parents=True, exist_ok=True)
    image = build_image()
    if not archive.exists():
        t = time.time()
        image.write_docker_archive(archive, tag="muslin-bench/big:1")  # type: ignore[attr-defined]
        print(f"built {archive.name} ({archive.stat().st_size / 2**30:.2f} GiB) in {time.time() - t:.0f} s")
    if not (layout / "index.json").exists():
        t = time.time()
        shutil.rmtree(layout, ignore_errors=True)
        image.write_oci_layout(layout, tag="1", compression="gzip")  # type: ignore[attr-defined]
        print(f"built {layout.name} in {time.time() - t:.0f} s")
    return archive, layout


def measure(reference: str) -> None:
    """Child process: open, walk, print JSON."""
    from muslin.image.layers import is_interesting
    from muslin.image.open import open_image
    from muslin.image.vfs import VirtualTree

    start = time.perf_counter()
    opened = open_image(reference)
    tree = opened.tree
    assert isinstance(tree, VirtualTree)
    entries = files = content = 0
    for path, node in tree.walk():
        entries += 1
        if node.kind == "file" and is_interesting(path):
            data = tree.read_bytes(path)
            files += 1
            content += len(data or b"")
    wall = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's maxrss.
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"wall": wall, "rss_mib": peak / 1024, "entries": entries, "files": files, "bytes": content}))


def run(reference: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", reference], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    archive, layout = ensure_cache()
    size = sum(p.stat().st_size for p in layout.rglob("*") if p.is_file())
    print(f"docker-archive {archive.stat().st_size / 2**30:.2f} GiB, OCI gzip layout {size / 2**30:.2f} GiB")
    print(f"{'source':<16}{'run':>4}{'wall s':>9}{'peak RSS MiB':>14}{'entries':>9}{'files':>7}")
    for label, ref in (("docker-archive", f"docker-archive:{archive}"), ("oci-dir (gzip)", f"oci-dir:{layout}")):
        for i in range(args.runs):
            r = run(ref)
            print(f"{label:<16}{i + 1:>4}{r['wall']:>9.2f}{r['rss_mib']:>14.1f}{int(r['entries']):>9}{int(r['files']):>7}")


if __name__ == "__main__":
    main()
