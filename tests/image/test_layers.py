"""Layer application: whiteouts, opaque dirs, compression, digests, corruption, streaming."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from support.imagebuilder import Layer, write_layer_blob

from muslin.errors import CorruptImageError
from muslin.facts.tree import FileTree
from muslin.image.layers import LayerBlob, apply_layers, is_interesting
from muslin.image.vfs import VirtualTree

SP = "usr/lib/python3.11/site-packages"


def blob(layer: Layer, tmp: Path, compression: str | None = None, *, verify: bool = True) -> LayerBlob:
    b = write_layer_blob(layer, tmp, compression)
    return LayerBlob(
        digest=b.digest if verify else None,
        media_type=b.media_type,
        size=b.size if verify else None,
        opener=lambda: b.path.open("rb"),
        diff_id=b.diff_id if verify else None,
    )


def bytes_blob(data: bytes, **kw: str | None) -> LayerBlob:
    return LayerBlob(
        digest=kw.get("digest"),
        media_type=None,
        size=None,
        opener=lambda: io.BytesIO(data),
        diff_id=kw.get("diff_id"),
    )


def dist(layer: Layer, name: str, version: str) -> Layer:
    d = f"{SP}/{name}-{version}.dist-info"
    return (
        layer.add_dir(d)
        .add_file(f"{d}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        .add_file(f"{d}/RECORD", "")
        .add_file(f"{SP}/{name}.py", "x = 1\n")
    )


def base_layer() -> Layer:
    layer = Layer().add_dirs("etc/apk", "lib/apk/db", SP, "usr/bin")
    layer.add_file("etc/alpine-release", "3.18.3\n")
    layer.add_file("lib/apk/db/installed", "P:musl\nV:1.2.4-r1\n\n")
    layer.add_file("usr/bin/python3.11", b"\x7fELF" + b"\0" * 100, mode=0o755)
    layer.add_symlink("usr/bin/python3", "python3.11")
    dist(layer, "six", "1.16.0")
    dist(layer, "idna", "3.4")
    return layer


def test_virtual_tree_is_a_filetree(tmp_path: Path) -> None:
    tree = apply_layers([blob(base_layer(), tmp_path)])
    assert isinstance(tree, FileTree)
    assert tree.read_bytes("etc/alpine-release") == b"3.18.3\n"
    assert tree.read_bytes("/etc/alpine-release") == b"3.18.3\n"
    assert tree.is_file("usr/bin/python3") and tree.readlink("usr/bin/python3") == "python3.11"
    assert tree.is_dir(SP) and tree.exists("usr/bin/python3")
    assert tree.listdir(SP) == ["idna-3.4.dist-info", "idna.py", "six-1.16.0.dist-info", "six.py"]
    # Uninteresting files exist but their content is not kept.
    assert tree.is_file(f"{SP}/six.py") and tree.read_bytes(f"{SP}/six.py") is None
    assert tree.read_bytes("usr/bin/python3.11") is None and tree.size("usr/bin/python3.11") == 104
    assert tree.read_bytes(f"{SP}/six-1.16.0.dist-info/METADATA") is not None
    assert tree.listdir("nope") == [] and tree.read_bytes("nope") is None


def test_whiteout_removes_distribution_of_lower_layer(tmp_path: Path) -> None:
    top = Layer().whiteout(f"{SP}/six-1.16.0.dist-info").whiteout(f"{SP}/six.py")
    tree = apply_layers([blob(base_layer(), tmp_path), blob(top, tmp_path)])
    assert tree.listdir(SP) == ["idna-3.4.dist-info", "idna.py"]
    assert not tree.exists(f"{SP}/six-1.16.0.dist-info/METADATA")


def test_whiteout_does_not_hide_same_layer_entries(tmp_path: Path) -> None:
    # The replacement comes first in the tar, the whiteout after: the new one stays.
    top = dist(Layer(), "six", "1.17.0")
    top.add_file(f"{SP}/six-1.16.0.dist-info/NEW", "same layer")
    top.whiteout(f"{SP}/six-1.16.0.dist-info")
    tree = apply_layers([blob(base_layer(), tmp_path), blob(top, tmp_path)])
    assert tree.is_dir(f"{SP}/six-1.17.0.dist-info")
    assert tree.listdir(f"{SP}/six-1.16.0.dist-info") == ["NEW"]


@pytest.mark.parametrize("marker_first", [True, False])
def test_opaque_directory(tmp_path: Path, marker_first: bool) -> None:
    top = Layer().add_dir(SP)
    if marker_first:
        top.opaque(SP)
    dist(top, "attrs", "23.1.0")
    top.add_dir(f"{SP}/idna-3.4.dist-info").add_file(f"{SP}/idna-3.4.dist-info/ONLY", "x")
    if not marker_first:
        top.opaque(SP)
    tree = apply_layers([blob(base_layer(), tmp_path), blob(top, tmp_path)])
    assert tree.listdir(SP) == ["attrs-23.1.0.dist-info", "attrs.py", "idna-3.4.dist-info"]
    assert tree.listdir(f"{SP}/idna-3.4.dist-info") == ["ONLY"]
    assert tree.read_bytes("etc/alpine-release") == b"3.18.3\n"


def test_opaque_keeps_same_layer_entries_under_implicit_dirs(tmp_path: Path) -> None:
    lower = Layer().add_dirs("a/b").add_file("a/b/old", "o").add_file("a/keep", "k")
    upper = Layer().add_file("a/b/new", "n").opaque("a")
    tree = apply_layers([blob(lower, tmp_path), blob(upper, tmp_path)])
    assert tree.listdir("a") == ["b"]
    assert tree.listdir("a/b") == ["new"]


def test_replacing_kinds(tmp_path: Path) -> None:
    lower = Layer().add_dirs("d/sub").add_file("d/sub/f", "x").add_file("f", "x").add_symlink("l", "d")
    upper = Layer().add_file("d", "now a file").add_dir("f").add_dir("l").add_file("l/in", "i")
    tree = apply_layers([blob(lower, tmp_path), blob(upper, tmp_path)])
    assert tree.is_file("d") and tree.is_dir("f") and tree.is_dir("l")
    assert tree.readlink("l") is None and tree.listdir("l") == ["in"]


def test_hardlinks_devices_and_fifos(tmp_path: Path) -> None:
    layer = Layer().add_dirs("etc", "dev").add_file("etc/os-release", "ID=alpine\n")
    layer.add_hardlink("usr/lib/os-release", "etc/os-release")
    layer.add_hardlink("dangling", "does/not/exist")
    layer.add_hardlink("to-dir", "etc")
    layer.add_device("dev/null").add_fifo("dev/fifo")
    tree = apply_layers([blob(layer, tmp_path)])
    assert tree.read_bytes("usr/lib/os-release") == b"ID=alpine\n"
    assert not tree.exists("dangling") and not tree.exists("to-dir")
    assert tree.exists("dev/null") and not tree.is_file("dev/null") and not tree.is_dir("dev/null")
    assert tree.exists("dev/fifo") and tree.read_bytes("dev/fifo") is None


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_each_compression(tmp_path: Path, compression: str | None) -> None:
    tree = apply_layers([blob(base_layer(), tmp_path, compression)])
    assert tree.read_bytes("lib/apk/db/installed") == b"P:musl\nV:1.2.4-r1\n\n"
    assert tree.listdir(SP)[0] == "idna-3.4.dist-info"


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_unverified_streams_also_work(tmp_path: Path, compression: str | None) -> None:
    tree = apply_layers([blob(base_layer(), tmp_path, compression, verify=False)])
    assert tree.read_bytes("etc/alpine-release") == b"3.18.3\n"


def test_xz_and_bzip2_layers() -> None:
    import bz2
    import lzma

    raw = base_layer().tar_bytes()
    for packed in (lzma.compress(raw), bz2.compress(raw)):
        tree = apply_layers([bytes_blob(packed, diff_id="sha256:" + hashlib.sha256(raw).hexdigest())])
        assert tree.read_bytes("etc/alpine-release") == b"3.18.3\n"


def test_multi_member_gzip_and_zero_padding() -> None:
    raw = base_layer().tar_bytes()
    packed = gzip.compress(raw[:5000], mtime=0) + gzip.compress(raw[5000:], mtime=0) + b"\0" * 64
    tree = apply_layers([bytes_blob(packed, diff_id="sha256:" + hashlib.sha256(raw).hexdigest())])
    assert tree.read_bytes("lib/apk/db/installed") is not None


def test_empty_layers() -> None:
    empty_tar = b"\0" * 1024
    tree = apply_layers([bytes_blob(b""), bytes_blob(empty_tar), bytes_blob(gzip.compress(empty_tar))])
    assert tree.listdir("") == []


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_digest_mismatch_names_the_layer(tmp_path: Path, compression: str | None) -> None:
    good = blob(base_layer(), tmp_path, compression)
    wrong = "sha256:" + "0" * 64
    bad = LayerBlob(wrong, good.media_type, good.size, good.opener, good.diff_id)
    with pytest.raises(CorruptImageError) as exc:
        apply_layers([good, bad])
    msg = str(exc.value)
    assert "layer 2/2" in msg and wrong in msg and "mismatch" in msg and "\n" not in msg


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_diff_id_mismatch(tmp_path: Path, compression: str | None) -> None:
    good = blob(base_layer(), tmp_path, compression)
    bad = LayerBlob(None, None, None, good.opener, "sha256:" + "1" * 64)
    with pytest.raises(CorruptImageError, match=r"layer 1/1 .*diff_id mismatch"):
        apply_layers([bad])


def test_size_mismatch(tmp_path: Path) -> None:
    good = blob(base_layer(), tmp_path, "gzip")
    bad = LayerBlob(good.digest, None, (good.size or 0) + 1, good.opener, good.diff_id)
    with pytest.raises(CorruptImageError, match="size"):
        apply_layers([bad])


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
@pytest.mark.parametrize("cut", [0.3, 0.7, 0.95])
def test_truncated_layer_without_digests(tmp_path: Path, compression: str | None, cut: float) -> None:
    layer = base_layer().add_random("usr/share/big.bin", 300_000)
    data = write_layer_blob(layer, tmp_path, compression).read()
    truncated = data[: int(len(data) * cut)]
    with pytest.raises(CorruptImageError) as exc:
        apply_layers([bytes_blob(truncated)])
    assert "layer 1/1" in str(exc.value) and "\n" not in str(exc.value)


def test_truncated_at_member_boundary() -> None:
    raw = Layer().add_file("a", b"x" * 512).add_file("b", b"y" * 512).tar_bytes()
    # Header(a)+data(a) = 1024 bytes (PAX may add more): cut exactly after a member.
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        members = tf.getmembers()
    end_of_first = members[0].offset_data + 512
    with pytest.raises(CorruptImageError, match="end-of-archive"):
        apply_layers([bytes_blob(raw[:end_of_first])])


def test_garbage_layer() -> None:
    with pytest.raises(CorruptImageError):
        apply_layers([bytes_blob(b"\x1f\x8b this is not gzip" * 50)])
    with pytest.raises(CorruptImageError):
        apply_layers([bytes_blob(b"not a tar at all" * 100)])


def test_trailing_garbage_after_gzip() -> None:
    raw = base_layer().tar_bytes()
    with pytest.raises(CorruptImageError):
        diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        apply_layers([bytes_blob(gzip.compress(raw) + b"garbage!", diff_id=diff_id)])


class _NoRead(io.RawIOBase):
    """A seekable 'file' that refuses big reads: proves data is seeked over, not read."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.f = io.BytesIO(data)
        self.largest = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)

    def tell(self) -> int:
        return self.f.tell()

    def read(self, n: int = -1) -> bytes:
        self.largest = max(self.largest, n)
        assert 0 <= n <= 1 << 16, f"read({n}) of a layer that should be skipped"
        return self.f.read(n)


def test_unverified_seekable_layer_skips_data_by_seeking() -> None:
    raw = base_layer().add_random("big", 8 << 20).tar_bytes()
    src = _NoRead(raw)
    tree = apply_layers([LayerBlob(None, None, None, lambda: src, None)])  # type: ignore[arg-type,return-value]
    assert tree.size("big") == 8 << 20 and src.largest <= 4096


def test_memory_does_not_grow_with_layer_size(tmp_path: Path) -> None:
    # Peak RSS is read from VmHWM: ru_maxrss would include the forking pytest
    # process's own RSS, which Linux carries into the child's maxrss across exec.
    import subprocess
    import sys

    layer = base_layer().add_random("usr/share/big1", 200 << 20).add_random("usr/share/big2", 100 << 20)
    b = write_layer_blob(layer, tmp_path, "gzip")
    code = f"""
from pathlib import Path
from muslin.image.layers import LayerBlob, apply_layers
p = Path({str(b.path)!r})
tree = apply_layers([LayerBlob({b.digest!r}, None, {b.size}, lambda: p.open("rb"), {b.diff_id!r})])
assert tree.size("usr/share/big1") == 200 << 20
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_kib = int(out.stdout.strip())
    assert peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("etc/os-release", True),
        ("usr/lib/os-release", True),
        ("etc/apk/world", True),
        ("lib/apk/db/installed", True),
        ("usr/lib/apk/db/installed", True),
        ("lib/ld-musl-x86_64.so.1", True),
        ("lib/libc.musl-aarch64.so.1", True),
        ("usr/include/python3.11/patchlevel.h", True),
        ("usr/local/include/python3.12/patchlevel.h", True),
        ("usr/lib/python3.11/EXTERNALLY-MANAGED", True),
        ("usr/local/lib/python3.11/EXTERNALLY-MANAGED", True),
        (f"{SP}/six-1.16.0.dist-info/METADATA", True),
        (f"{SP}/six-1.16.0.dist-info/RECORD", True),
        (f"{SP}/mysqlclient-2.1.1-py3.11.egg-info/PKG-INFO", True),
        (f"{SP}/mysqlclient-2.1.1-py3.11.egg-info", True),
        (f"{SP}/foo-1.0-py3.11.egg/EGG-INFO/PKG-INFO", True),
        (f"{SP}/foo-1.0-py3.11.egg", True),
        (f"{SP}/foo.egg-link", True),
        (f"{SP}/distutils-precedence.pth", True),
        ("usr/local/lib/python3.11/dist-packages/x-1.dist-info/METADATA", True),
        (f"{SP}/six.py", False),
        (f"{SP}/setuptools/_vendor/packaging-24.0.dist-info/METADATA", True),
        ("src/dev/dev.egg-info/PKG-INFO", True),  # the target of an .egg-link
        ("lib/libc.so", False),
        ("usr/lib/python3.11/ensurepip/_bundled/pip-23.2.1-py3-none-any.whl", False),
        ("usr/bin/python3.11", False),
        ("etc/passwd", False),
        ("usr/include/python3.11/Python.h", False),
    ],
)
def test_is_interesting(path: str, wanted: bool) -> None:
    assert is_interesting(path) is wanted


def test_custom_wanted_and_walk(tmp_path: Path) -> None:
    tree = apply_layers([blob(base_layer(), tmp_path)], wanted=lambda p: p.endswith(".py"))
    assert isinstance(tree, VirtualTree)
    assert tree.read_bytes(f"{SP}/six.py") == b"x = 1\n"
    assert tree.read_bytes("etc/alpine-release") is None
    paths = [p for p, _ in tree.walk()]
    assert "usr/bin/python3" in paths and f"{SP}/idna-3.4.dist-info/METADATA" in paths
    assert paths.index("usr") < paths.index("usr/bin") < paths.index("usr/bin/python3")
    assert paths == sorted(paths, key=lambda p: p.split("/"))


def test_sequential_and_parallel_agree(tmp_path: Path) -> None:
    layers = [base_layer(), Layer().whiteout(f"{SP}/six.py"), dist(Layer(), "attrs", "1")]
    blobs = [blob(layer, tmp_path, "gzip") for layer in layers]
    one = apply_layers(blobs, workers=1)
    many = apply_layers(blobs, workers=3)
    assert [p for p, _ in one.walk()] == [p for p, _ in many.walk()]


def test_real_alpine_skeleton_layer(alpine_fixture: Path) -> None:
    """The real Alpine 3.18.3 tree (zstd tar) applies completely: every path, every link."""
    skeleton = alpine_fixture / "skeleton.tar.zst"
    tree = apply_layers([LayerBlob(None, None, None, lambda: skeleton.open("rb"), None)])
    rows = [line.split("\t") for line in (alpine_fixture / "tree.tsv").read_text().splitlines()[1:]]
    assert len(rows) > 15000
    for mode, _size, quoted, target in rows:
        path = _unquote(quoted)
        if mode == "120000":
            assert tree.readlink(path) == target, path
        else:
            assert tree.is_file(path), path
    db = tree.read_bytes("lib/apk/db/installed") or b""
    assert db == (alpine_fixture / "rootfs" / "lib" / "apk" / "db" / "installed").read_bytes()
    assert tree.read_bytes("etc/os-release") == (alpine_fixture / "rootfs/etc/os-release").read_bytes()
    assert tree.is_file("bin/sh") and tree.readlink("bin/sh") == "/bin/busybox"
    assert tree.is_file("usr/bin/python3") and tree.is_dir("usr/lib/python3.11/site-packages")


def _unquote(path: str) -> str:
    """git's C-style quoting of non-ASCII paths (``"a\\305\\221"``)."""
    if not path.startswith('"'):
        return path
    import codecs

    raw: bytes = codecs.escape_decode(path[1:-1].encode())[0]  # type: ignore[attr-defined]
    return raw.decode()
