"""The apk database parser, on the real Alpine 3.18.3 database and on edge cases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.common import DATA

from muslin.errors import CorruptImageError
from muslin.facts.apkdb import (
    file_owners,
    find_apk_db,
    owner_of,
    parse_apk_db,
    read_apk_db,
    upstream_version,
)
from muslin.facts.hostdir import HostDirTree

REAL = DATA / "alpine-3.18.3"
REAL_DB = REAL / "lib/apk/db/installed"


@pytest.fixture(scope="module")
def real_packages() -> dict[str, object]:
    packages = parse_apk_db(REAL_DB.read_bytes())
    return {p.name: p for p in packages}


def test_real_db_parses_completely() -> None:
    packages = parse_apk_db(REAL_DB.read_bytes())
    assert len(packages) == 310
    assert len({p.name for p in packages}) == 310
    # every R: line of the file became a file of some package, every Z: a checksum
    text = REAL_DB.read_text()
    r_lines = sum(1 for line in text.splitlines() if line.startswith("R:"))
    assert sum(len(p.files) for p in packages) == r_lines == 8392
    assert sum(len(p.file_checksums) for p in packages) == 8392


def test_real_db_python3_and_musl(real_packages: dict[str, object]) -> None:
    python3 = real_packages["python3"]
    musl = real_packages["musl"]
    assert python3.version == "3.11.6-r0"  # type: ignore[attr-defined]
    assert python3.arch == "x86_64"  # type: ignore[attr-defined]
    assert python3.origin == "python3"  # type: ignore[attr-defined]
    assert python3.description == "High-level scripting language"  # type: ignore[attr-defined]
    assert python3.url == "https://www.python.org/"  # type: ignore[attr-defined]
    assert python3.license == "PSF-2.0"  # type: ignore[attr-defined]
    assert python3.size == 9350883  # type: ignore[attr-defined]
    assert python3.installed_size == 26136576  # type: ignore[attr-defined]
    assert python3.build_time == 1696400538  # type: ignore[attr-defined]
    assert python3.maintainer == "Natanael Copa <ncopa@alpinelinux.org>"  # type: ignore[attr-defined]
    assert python3.commit == "e17a77d9806157630cb10d4711dcf03ff24584b3"  # type: ignore[attr-defined]
    assert python3.depends[0] == "python3~3.11"  # type: ignore[attr-defined]
    assert "so:libc.musl-x86_64.so.1" in python3.depends  # type: ignore[attr-defined]
    assert "cmd:python3.11=3.11.6-r0" in python3.provides  # type: ignore[attr-defined]
    assert "usr/bin/python3.11" in python3.files  # type: ignore[attr-defined]
    assert "usr/lib/python3.11/os.py" in python3.files  # type: ignore[attr-defined]
    assert python3.checksum.startswith("Q1")  # type: ignore[attr-defined]
    assert musl.version == "1.2.4-r1"  # type: ignore[attr-defined]
    assert musl.files == ("lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1")  # type: ignore[attr-defined]
    assert musl.file_checksums["lib/ld-musl-x86_64.so.1"] == "Q1OcKd/O29pFJo9jiLVM9HqdYvIaU="  # type: ignore[attr-defined]
    assert musl.provides == ("so:libc.musl-x86_64.so.1=1",)  # type: ignore[attr-defined]
    assert musl.depends == ()  # type: ignore[attr-defined]


def test_real_db_install_if_replaces_and_unknown_keys(real_packages: dict[str, object]) -> None:
    assert real_packages["dbus-daemon-launch-helper"].install_if == ("dbus=1.14.8-r0",)  # type: ignore[attr-defined]
    assert "alpine-baselayout" in real_packages["alpine-baselayout-data"].replaces  # type: ignore[attr-defined]
    # k: (provider priority) is not a modelled field: kept verbatim
    assert real_packages["busybox-binsh"].extra == {"k": ("100",)}  # type: ignore[attr-defined]
    # a:/M: (ownership and modes) are skipped, never in extra
    assert all("a" not in p.extra and "M" not in p.extra for p in real_packages.values())  # type: ignore[attr-defined]


def test_real_db_is_fast() -> None:
    data = REAL_DB.read_bytes()
    best = min(_timed(lambda: parse_apk_db(data)) for _ in range(3))
    assert best < 0.1, f"parse took {best * 1000:.1f} ms"


def _timed(func: object) -> float:
    start = time.perf_counter()
    func()  # type: ignore[operator]
    return time.perf_counter() - start


def test_file_owner_index_on_real_db() -> None:
    packages = parse_apk_db(REAL_DB.read_bytes())
    index = file_owners(packages)
    assert index["usr/bin/python3.11"].name == "python3"
    assert index["lib/ld-musl-x86_64.so.1"].name == "musl"
    # /usr-merged aliases resolve either way
    assert owner_of(index, "usr/lib/ld-musl-x86_64.so.1") is index["lib/ld-musl-x86_64.so.1"]
    assert owner_of(index, "usr/lib/nothing-here") is None


def test_find_and_read_db_in_tree(tmp_path: Path) -> None:
    tree = HostDirTree(REAL)
    assert find_apk_db(tree) == "lib/apk/db/installed"
    path, packages = read_apk_db(tree)
    assert path == "lib/apk/db/installed" and len(packages) == 310
    merged = tmp_path / "usr/lib/apk/db"
    merged.mkdir(parents=True)
    (merged / "installed").write_text("P:musl\nV:1.2.4-r1\n")
    assert read_apk_db(HostDirTree(tmp_path))[0] == "usr/lib/apk/db/installed"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_apk_db(HostDirTree(empty)) == (None, ())


EDGE_DB = """\
P:first
V:1.0-r0
D:
p:
i:
r:
S:
F:
R:rootfile
Z:Q1root=
F:etc
M:0:0:755
R:conf
a:0:0:600
Z:Q1conf=
F:/usr/share/doc/
R:README
x:future-field
x:twice
Q:upper-unknown

P:second
V:2.0-r1
D:first>=1.0 so:libc.musl-x86_64.so.1
D:dup
R:no-dir-yet
T:desc
T:desc again
"""


def test_edge_cases() -> None:
    first, second = parse_apk_db(EDGE_DB)
    assert first.depends == () and first.provides == () and first.install_if == () and first.replaces == ()
    assert first.size is None
    assert first.files == ("rootfile", "etc/conf", "usr/share/doc/README")
    assert first.file_checksums == {"rootfile": "Q1root=", "etc/conf": "Q1conf="}
    assert first.extra == {"x": ("future-field", "twice"), "Q": ("upper-unknown",)}
    # duplicate list keys accumulate, duplicate scalar keys: the last one wins
    assert second.depends == ("first>=1.0", "so:libc.musl-x86_64.so.1", "dup")
    assert second.description == "desc again"
    # R: before any F: is at the root; the trailing record needs no blank line
    assert second.files == ("no-dir-yet",)


def test_crlf_and_extra_blank_lines_do_not_crash() -> None:
    text = "\r\n\r\nP:a\r\nV:1-r0\r\nF:usr/bin\r\nR:a\r\n\r\n\r\n\r\nP:b\r\nV:2-r0\r\n"
    a, b = parse_apk_db(text.encode())
    assert a.files == ("usr/bin/a",) and a.version == "1-r0" and b.name == "b"


def test_empty_db() -> None:
    assert parse_apk_db(b"") == ()
    assert parse_apk_db(b"\n\n") == ()


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("P:a\nV:1-r0\nthis line has no colon\n", 3, "malformed"),
        ("P:a\nV:1-r0\n\nP:b\nVV:2\n", 5, "malformed"),
        ("P:a\nV:1-r0\nS:big\n", 3, "not a number"),
        ("P:a\nV:1-r0\n\nV:2-r0\nA:x86_64\n", 4, "no package name"),
        ("P:a\n", 1, "no version"),
    ],
)
def test_malformed_raises_with_line_number(text: str, line: int, what: str) -> None:
    with pytest.raises(CorruptImageError) as info:
        parse_apk_db(text, "/lib/apk/db/installed")
    assert f"/lib/apk/db/installed:{line}:" in str(info.value)
    assert what in str(info.value)
    assert info.value.exit_code == 6


def test_upstream_version() -> None:
    assert upstream_version("1.2.4-r1") == "1.2.4"
    assert upstream_version("3.11.6-r0") == "3.11.6"
    assert upstream_version("2.1.1-r13") == "2.1.1"
    assert upstream_version("1.0_rc1-r2") == "1.0_rc1"
    assert upstream_version("1.0") == "1.0"
    assert upstream_version("1.0-rc") == "1.0-rc"
