"""``muslin inspect`` end to end through the CLI: formats, output files, errors and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from support.alpine_rootfs import LOCAL_SITE, SITE, Rootfs, real_alpine_tree

from muslin.cli import cli
from muslin.cli.errors import run_guarded


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the real command group in-process, through the same error guard as the console script."""
    code = run_guarded(cli, args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """An Alpine rootfs: apk python3 with py3-mysqlclient and pip, plus a /usr/local python with requests."""
    root = tmp_path / "rootfs"
    fs = Rootfs(root).alpine_base().apk_python().local_python(patchlevel="3.11.7")
    fs.mysqlclient_apk()
    fs.dist_info(SITE, "pip", "23.1.2", installer=None, modules=["pip/__init__.py"])
    fs.dist_info(LOCAL_SITE, "requests", "2.31.0", installer="pip", requires=["idna<4,>=2.5"])
    fs.dist_info(LOCAL_SITE, "certifi", "2023.7.22", installer="uv")
    return root


@pytest.fixture
def apk_only(tmp_path: Path) -> Path:
    root = tmp_path / "apk-only"
    fs = Rootfs(root).alpine_base().apk_python()
    fs.mysqlclient_apk()
    fs.dist_info(SITE, "legacy", "1.0-foo", installer="pip")
    return root


def test_text(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["inspect", f"dir:{image}"], capsys)
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert f"Image         dir:{image}" in lines
    assert "OS            Alpine Linux v3.18 (alpine-release 3.18.3)" in lines
    assert "musl          1.2.4 (apk musl 1.2.4-r1)" in lines
    assert any(line.startswith("Python        3.11.7 /usr/local/bin/python3.11") and "[primary]" in line for line in lines)
    assert "Python        3.11.6 /usr/bin/python3.11 (apk python3 3.11.6-r0)" in lines
    assert "Distributions (4):" in lines
    header = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    assert lines[header].split() == ["NAME", "VERSION", "FORM", "OWNER", "SITE-PACKAGES"]
    table = [line.split(None, 3) for line in lines[header + 1 :]]
    assert [row[0] for row in table] == ["certifi", "mysqlclient", "pip", "requests"]
    mysql = lines[header + 2]
    assert mysql.split()[:3] == ["mysqlclient", "2.1.1", "egg-info"]
    assert "apk py3-mysqlclient 2.1.1-r3" in mysql
    # columns are aligned: every row's VERSION starts at the same offset
    offset = lines[header].index("VERSION")
    assert all(line[offset - 2 : offset] == "  " and line[offset] != " " for line in lines[header + 1 :])


def test_json(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["inspect", "--json", f"dir:{image}"], capsys)
    assert code == 0
    data = json.loads(out)
    assert {
        "schema", "reference", "canonical_reference", "source", "digest", "platform", "os",
        "architecture", "variant", "os_release", "alpine_release", "apk", "musl", "pythons",
        "distributions",
    } <= set(data)
    assert data["schema"] == "muslin.inspect/1"
    assert data["source"] == "dir"
    assert data["alpine_release"] == "3.18.3"
    assert data["musl"] == {"version": "1.2.4", "source": "apk musl 1.2.4-r1"}
    assert [p["prefix"] for p in data["pythons"]] == ["/usr/local", "/usr"]
    dists = {d["canonical_name"]: d for d in data["distributions"]}
    assert dists["mysqlclient"]["owner"] == {"kind": "apk", "name": "py3-mysqlclient", "version": "2.1.1-r3"}
    assert dists["mysqlclient"]["form"] == "egg-info"
    assert dists["mysqlclient"]["top_level"] == ["MySQLdb"]
    assert dists["requests"]["requires"] == ["idna<4,>=2.5"]
    assert all("files" not in p for p in data["apk"]["packages"])
    # --format json is the same document; --with-files adds the apk file lists
    assert run(["inspect", "--format", "json", f"dir:{image}"], capsys)[1] == out
    code, with_files, _ = run(["inspect", "--json", "--with-files", f"dir:{image}"], capsys)
    packages = {p["name"]: p for p in json.loads(with_files)["apk"]["packages"]}
    assert f"{SITE}/mysqlclient-2.1.1-py3.11.egg-info/PKG-INFO" in packages["py3-mysqlclient"]["files"]


def test_requirements_format(image: Path, apk_only: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["inspect", "--format", "requirements", f"dir:{image}"], capsys)
    assert code == 0
    assert out.splitlines() == [
        f"# muslin inspect dir:{image}: distributions of /usr/local/bin/python3.11 (Python 3.11.7)",
        "certifi==2023.7.22  # installer uv",
        "requests==2.31.0  # installer pip",
    ]
    code, out, _ = run(["inspect", "--format", "requirements", f"dir:{apk_only}"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[1:] == [
        "legacy===1.0-foo  # installer pip",
        "mysqlclient==2.1.1  # apk py3-mysqlclient 2.1.1-r3",
    ]
    # usable as pip constraints: every non-comment line is a valid requirement
    for line in lines[1:]:
        Requirement(line.split("#", 1)[0].strip())


def test_output_file_is_written_atomically(image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "facts.json"
    target.parent.mkdir()
    code, out, _ = run(["inspect", f"dir:{image}", "--json", "-o", str(target)], capsys)
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["source"] == "dir"
    assert [p.name for p in target.parent.iterdir()] == ["facts.json"]
    # text to a file is the plain form, never rich markup
    code, _, _ = run(["inspect", f"dir:{image}", "--output", str(target)], capsys)
    assert target.read_text().startswith(f"Image         dir:{image}\n")


def test_failure_leaves_no_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    debian = tmp_path / "debian"
    Rootfs(debian).debian_like()
    target = tmp_path / "facts.json"
    code, out, err = run(["inspect", f"dir:{debian}", "--json", "-o", str(target)], capsys)
    assert code == 6
    assert out == ""
    assert err.startswith("muslin: error: not an Alpine/musl image: os-release ID=debian")
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [debian]


def test_unwritable_output(image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["inspect", f"dir:{image}", "-o", str(tmp_path / "missing" / "x.txt")], capsys)
    assert code == 2
    assert err.startswith("muslin: error: cannot write ") and len(err.splitlines()) == 1


def test_conflicting_format_options(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["inspect", "--json", "--format", "requirements", f"dir:{image}"], capsys)
    assert code == 2 and out == ""
    assert "--json and --format requirements exclude each other" in err
    code, _, err = run(["inspect", "--format", "yaml", f"dir:{image}"], capsys)
    assert code == 2 and "yaml" in err


def test_real_alpine_tree(capsys: pytest.CaptureFixture[str]) -> None:
    root = real_alpine_tree()
    code, out, _ = run(["inspect", f"dir:{root}"], capsys)
    assert code == 0
    assert "apk           310 packages in /lib/apk/db/installed, arch x86_64" in out
    assert "Python        3.11.6 /usr/bin/python3.11 (apk python3 3.11.6-r0)" in out
    assert "PEP 668 externally managed: no; pip: no" in out
    assert out.rstrip().endswith("Distributions: none")


def _subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "muslin", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_bad_path_exit_3_one_line(tmp_path: Path) -> None:
    proc = _subprocess("inspect", f"dir:{tmp_path / 'no-such-dir'}")
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr.startswith("muslin: error: ")
    assert len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_non_alpine_exit_6_and_debug_traceback(tmp_path: Path) -> None:
    Rootfs(tmp_path).debian_like()
    proc = _subprocess("inspect", f"dir:{tmp_path}")
    assert proc.returncode == 6
    assert proc.stderr.splitlines() == [
        "muslin: error: not an Alpine/musl image: os-release ID=debian, no apk database, "
        "no musl loader (/lib/ld-musl-*.so.1), glibc loader /lib64/ld-linux-x86-64.so.2"
    ]
    debug = _subprocess("--debug", "inspect", f"dir:{tmp_path}")
    assert debug.returncode == 6 and "Traceback" in debug.stderr


def test_help_has_an_example() -> None:
    proc = _subprocess("inspect", "--help")
    assert proc.returncode == 0
    assert "Examples:" in proc.stdout
    assert "muslin inspect docker-archive:image.tar --json -o facts.json" in proc.stdout
    for option in ("--platform", "--json", "--format", "--output", "--offline", "--with-files"):
        assert option in proc.stdout


# --- end to end on real image archives ----------------------------------------------------


def _layer_from_dir(root: Path) -> Any:
    """A tar layer holding every directory, file and symlink under ``root`` (parents first)."""
    from support.imagebuilder import Layer

    layer = Layer()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            layer.add_symlink(rel, os.readlink(path))
        elif path.is_dir():
            layer.add_dir(rel)
        else:
            layer.add_file(rel, path.read_bytes(), path.stat().st_mode & 0o777)
    return layer


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("reference", "source", "digest")}


def test_layered_image_archives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docker-archive and OCI layout of a 3-layer image: a whiteout removes a dist, an opaque dir replaces some."""
    from support.imagebuilder import Image, Layer

    base = tmp_path / "base"
    fs = Rootfs(base).alpine_base().apk_python().local_python(patchlevel=None)
    fs.mysqlclient_apk()
    fs.dist_info(SITE, "six", "1.16.0", installer="pip", modules=["six.py"])
    fs.dist_info(SITE, "attrs", "23.1.0", installer="pip", modules=["attr/__init__.py"])
    fs.dist_info(LOCAL_SITE, "requests", "2.31.0", installer="pip")
    fs.dist_info(LOCAL_SITE, "certifi", "2023.7.22", installer="pip")
    upper = tmp_path / "upper"
    Rootfs(upper).dist_info(LOCAL_SITE, "requests", "2.32.3", installer="uv", requires=["idna<4,>=2.5"])

    remove_six = Layer().whiteout(f"{SITE}/six-1.16.0.dist-info").whiteout(f"{SITE}/six.py")
    replace_local = Layer().opaque(LOCAL_SITE)
    for entry in _layer_from_dir(upper).entries:
        replace_local.entries.append(entry)
    image = Image(
        [_layer_from_dir(base), remove_six, replace_local],
        arch="amd64",
        env=["PATH=/usr/local/bin:/usr/bin", "PYTHON_VERSION=3.11.9"],
    )
    archive = tmp_path / "image.tar"
    image.write_docker_archive(archive, tag="muslin-test/layers:1")
    layout = tmp_path / "layout"
    digest = image.write_oci_layout(layout, tag="1", compression="zstd")

    code, out, err = run(["inspect", "--json", f"docker-archive:{archive}"], capsys)
    assert code == 0, err
    facts = json.loads(out)
    assert facts["source"] == "docker-archive"
    assert facts["platform"] == "linux/amd64"
    dists = {(d["canonical_name"], d["version"], d["site_packages"]) for d in facts["distributions"]}
    assert dists == {
        ("attrs", "23.1.0", "/" + SITE),
        ("mysqlclient", "2.1.1", "/" + SITE),
        ("requests", "2.32.3", "/" + LOCAL_SITE),
    }
    mysql = next(d for d in facts["distributions"] if d["canonical_name"] == "mysqlclient")
    assert mysql["owner"] == {"kind": "apk", "name": "py3-mysqlclient", "version": "2.1.1-r3"}
    local = facts["pythons"][0]
    assert (local["prefix"], local["full_version"], local["full_version_source"]) == (
        "/usr/local",
        "3.11.9",
        "image env PYTHON_VERSION",
    )
    assert facts["musl"]["version"] == "1.2.4"

    code, oci_out, err = run(["inspect", "--json", f"oci-dir:{layout}"], capsys)
    assert code == 0, err
    oci = json.loads(oci_out)
    assert oci["source"] == "oci-dir" and oci["digest"] == digest
    assert _comparable(oci) == _comparable(facts)

    code, text, _ = run(["inspect", "--format", "requirements", f"docker-archive:{archive}"], capsys)
    assert code == 0
    assert text.splitlines()[1:] == ["requests==2.32.3  # installer uv"]


def _skeleton_layer() -> Any:
    """The real Alpine 3.18.3 tree as a layer (the skeleton tar's entries, in order)."""
    import tarfile

    import zstandard
    from support.alpine_rootfs import REAL_ALPINE_SKELETON
    from support.imagebuilder import Layer

    raw = zstandard.ZstdDecompressor().decompressobj().decompress(REAL_ALPINE_SKELETON.read_bytes())
    layer = Layer()
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        for member in archive:
            if member.isdir():
                layer.add_dir(member.name, member.mode)
            elif member.issym():
                layer.add_symlink(member.name, member.linkname)
            elif member.islnk():
                layer.add_hardlink(member.name, member.linkname)
            elif member.isreg():
                handle = archive.extractfile(member)
                assert handle is not None
                layer.add_file(member.name, handle.read(), member.mode)
    return layer


def test_real_alpine_base_with_apk_py3_mysqlclient_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Real Alpine 3.18.3 bottom layer; a layer adds py3-mysqlclient the way apk would (files + db records)."""
    from support.alpine_rootfs import APK_DB, REAL_ALPINE_SKELETON
    from support.imagebuilder import Image

    added = tmp_path / "mysql"
    fs = Rootfs(added)
    fs.write(APK_DB, (REAL_ALPINE_SKELETON.parent / APK_DB).read_text())
    fs.mysqlclient_apk()
    archive = tmp_path / "alpine-mysql.tar"
    Image([_skeleton_layer(), _layer_from_dir(added)]).write_docker_archive(archive, layout="oci", compress="gzip")

    code, out, err = run(["inspect", "--json", f"docker-archive:{archive}"], capsys)
    assert code == 0, err
    facts = json.loads(out)
    names = [p["name"] for p in facts["apk"]["packages"]]
    assert len(names) == 312 and names[-2:] == ["py3-mysqlclient", "py3-mysqlclient-pyc"]
    assert facts["musl"] == {"version": "1.2.4", "source": "apk musl 1.2.4-r1"}
    (python,) = facts["pythons"]
    assert (python["full_version"], python["externally_managed"]) == ("3.11.6", False)
    (mysql,) = facts["distributions"]
    assert (mysql["name"], mysql["version"], mysql["form"]) == ("mysqlclient", "2.1.1", "egg-info")
    assert mysql["owner"] == {"kind": "apk", "name": "py3-mysqlclient", "version": "2.1.1-r3"}
    code, text, _ = run(["inspect", "--format", "requirements", f"docker-archive:{archive}"], capsys)
    assert text.splitlines()[1:] == ["mysqlclient==2.1.1  # apk py3-mysqlclient 2.1.1-r3"]
