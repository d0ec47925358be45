"""Build small Alpine-shaped root filesystems in a directory, for inspection tests.

Everything is written the way the real thing lays it out: apk database records
(``P/V/A/o/D/p/F/R/Z`` lines), ``setup.py install --root`` egg-info directories,
``python -m installer`` dist-info directories, develop-mode egg-links, eggs.
The directory can be read with :class:`muslin.facts.hostdir.HostDirTree` or
packed into image layers.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

REAL_ALPINE_SKELETON = Path(__file__).resolve().parent.parent / "data" / "alpine-3.18.3" / "skeleton.tar.zst"

ALPINE_OS_RELEASE = (
    'NAME="Alpine Linux"\n'
    "ID=alpine\n"
    "VERSION_ID=3.18.3\n"
    'PRETTY_NAME="Alpine Linux v3.18"\n'
    'HOME_URL="https://alpinelinux.org/"\n'
    'BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"\n'
)
APK_DB = "lib/apk/db/installed"
SITE = "usr/lib/python3.11/site-packages"
LOCAL_SITE = "usr/local/lib/python3.11/site-packages"

MYSQLCLIENT_PKG_INFO = """\
Metadata-Version: 2.1
Name: mysqlclient
Version: 2.1.1
Summary: Python interface to MySQL
Home-page: https://github.com/PyMySQL/mysqlclient
Maintainer: Inada Naoki
Maintainer-email: songofacandy@gmail.com
License: GPL
Project-URL: Project, https://github.com/PyMySQL/mysqlclient
Project-URL: Documentation, https://mysqlclient.readthedocs.io/
Platform: ALL
Classifier: Development Status :: 5 - Production/Stable
Classifier: Programming Language :: Python :: 3
Classifier: Topic :: Database :: Database Engines/Servers
Requires-Python: >=3.5
Description-Content-Type: text/markdown
License-File: LICENSE

# mysqlclient

This project is a fork of [MySQLdb1](https://github.com/farcepest/MySQLdb1).
"""

MYSQLCLIENT_SOURCES = """\
HISTORY.rst
LICENSE
MANIFEST.in
README.md
metadata.cfg
setup.cfg
setup.py
setup_common.py
setup_posix.py
setup_windows.py
MySQLdb/__init__.py
MySQLdb/_exceptions.py
MySQLdb/_mysql.c
MySQLdb/connections.py
MySQLdb/converters.py
MySQLdb/cursors.py
MySQLdb/release.py
MySQLdb/times.py
MySQLdb/constants/CLIENT.py
MySQLdb/constants/CR.py
MySQLdb/constants/ER.py
MySQLdb/constants/FIELD_TYPE.py
MySQLdb/constants/FLAG.py
MySQLdb/constants/__init__.py
mysqlclient.egg-info/PKG-INFO
mysqlclient.egg-info/SOURCES.txt
mysqlclient.egg-info/dependency_links.txt
mysqlclient.egg-info/top_level.txt
"""

MYSQLDB_MODULES = (
    "__init__.py",
    "_exceptions.py",
    "_mysql.cpython-311-x86_64-linux-musl.so",
    "connections.py",
    "converters.py",
    "cursors.py",
    "release.py",
    "times.py",
    "constants/CLIENT.py",
    "constants/CR.py",
    "constants/ER.py",
    "constants/FIELD_TYPE.py",
    "constants/FLAG.py",
    "constants/__init__.py",
)


def extract_real_alpine(dest: Path) -> Path:
    """Unpack the real Alpine 3.18.3 tree (paths, modes, symlinks; metadata contents) into ``dest``."""
    import zstandard

    raw = zstandard.ZstdDecompressor().decompressobj().decompress(REAL_ALPINE_SKELETON.read_bytes())
    if shutil.which("tar"):  # GNU tar is several times faster than tarfile on 15k entries
        subprocess.run(["tar", "-x", "-C", str(dest)], input=raw, check=True, capture_output=True)
        return dest
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        archive.extractall(dest, filter="tar")
    return dest


_REAL_ALPINE: list[Path] = []


def real_alpine_tree() -> Path:
    """The real Alpine 3.18.3 tree, unpacked once per test process into a temporary
    directory removed at exit.  Treat it as read-only."""
    if not _REAL_ALPINE:
        import atexit
        import tempfile

        shm = "/dev/shm"  # a tmpfs: unpacking 15k entries there takes a fraction of a second
        where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
        dest = Path(tempfile.mkdtemp(prefix="muslin-alpine-3.18.3-", dir=where))
        atexit.register(shutil.rmtree, dest, True)
        _REAL_ALPINE.append(extract_real_alpine(dest))
    return _REAL_ALPINE[0]


def apk_record(
    name: str,
    version: str,
    *,
    arch: str = "x86_64",
    origin: str | None = None,
    description: str = "",
    depends: Sequence[str] = (),
    provides: Sequence[str] = (),
    files: Iterable[str] = (),
    extra_lines: Sequence[str] = (),
) -> str:
    """One apk database record (without the separating blank line)."""
    lines = [
        "C:Q1" + "A" * 27 + "=",
        f"P:{name}",
        f"V:{version}",
        f"A:{arch}",
        "S:1000",
        "I:4096",
        f"T:{description or name}",
        "U:https://example.invalid/",
        "L:MIT",
        f"o:{origin or name}",
        "m:Test <test@example.invalid>",
        "t:1696400538",
        "c:e17a77d9806157630cb10d4711dcf03ff24584b3",
    ]
    if depends:
        lines.append("D:" + " ".join(depends))
    if provides:
        lines.append("p:" + " ".join(provides))
    lines.extend(extra_lines)
    current: str | None = None
    for path in sorted(files, key=lambda p: p.rpartition("/")[::2]):
        directory, _, base = path.rpartition("/")
        if directory != current:
            lines.append(f"F:{directory}")
            current = directory
        lines.append(f"R:{base}")
        lines.append("Z:Q1" + "B" * 27 + "=")
    return "\n".join(lines) + "\n"


class Rootfs:
    """A root filesystem under construction in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write(self, rel: str, content: str | bytes = "", mode: int = 0o644) -> str:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        target.chmod(mode)
        return rel

    def symlink(self, rel: str, target: str) -> None:
        link = self.root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(target, link)

    def mkdir(self, rel: str) -> None:
        (self.root / rel).mkdir(parents=True, exist_ok=True)

    def add_apk(self, record: str) -> None:
        """Append a record to the apk database (created when missing)."""
        db = self.root / APK_DB
        db.parent.mkdir(parents=True, exist_ok=True)
        existing = db.read_text() if db.exists() else ""
        separator = "\n" if existing else ""
        db.write_text(existing + separator + record)

    # --- base system -----------------------------------------------------

    def alpine_base(self, musl: str = "1.2.4-r1", release: str = "3.18.3") -> Rootfs:
        """os-release, alpine-release, apk repositories/arch, the musl loader and its apk record."""
        self.write("etc/os-release", ALPINE_OS_RELEASE)
        self.write("etc/alpine-release", release + "\n")
        self.write(
            "etc/apk/repositories",
            "https://dl-cdn.alpinelinux.org/alpine/v3.18/main\n"
            "# a comment\n\n"
            "https://dl-cdn.alpinelinux.org/alpine/v3.18/community\n",
        )
        self.write("etc/apk/arch", "x86_64\n")
        self.write("lib/ld-musl-x86_64.so.1", b"\x7fELF\x00musl libc (x86_64)\nVersion %s\n\x00" + musl.split("-r")[0].encode() + b"\x00", 0o755)
        self.symlink("lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1")
        self.add_apk(
            apk_record(
                "musl",
                musl,
                description="the musl c library (libc) implementation",
                provides=["so:libc.musl-x86_64.so.1=1"],
                files=["lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1"],
            )
        )
        return self

    def apk_python(self, version: str = "3.11", apk_version: str = "3.11.6-r0") -> Rootfs:
        """Alpine's python3 package: /usr/bin/python3.11 (+ python3, python links), stdlib, site-packages."""
        stdlib = f"usr/lib/python{version}"
        files = [
            self.write(f"usr/bin/python{version}", b"\x7fELF", 0o755),
            self.write(f"{stdlib}/os.py", "# os\n"),
            self.write(f"{stdlib}/site-packages/README.txt", "This directory exists so that 3rd party packages can be installed here.\n"),
            self.write(f"{stdlib}/ensurepip/_bundled/pip-23.2.1-py3-none-any.whl", b"PK"),
            self.write(f"{stdlib}/ensurepip/_bundled/setuptools-65.5.0-py3-none-any.whl", b"PK"),
        ]
        self.symlink("usr/bin/python3", f"python{version}")
        self.symlink("usr/bin/python", "python3")
        files[1:1] = ["usr/bin/python", "usr/bin/python3"]
        self.add_apk(
            apk_record(
                "python3",
                apk_version,
                description="High-level scripting language",
                depends=[f"python3~{version}", "so:libc.musl-x86_64.so.1"],
                provides=[f"cmd:python{version}={apk_version}", f"cmd:python3={apk_version}"],
                files=sorted(files),
            )
        )
        # Alpine's -pyc split: owns only __pycache__ files, is not a distribution.
        pyc = self.write(f"{stdlib}/__pycache__/os.cpython-311.pyc", b"\x00")
        self.add_apk(apk_record("python3-pyc", apk_version, depends=["python3=" + apk_version], files=[pyc]))
        return self

    def local_python(self, version: str = "3.11", patchlevel: str | None = "3.11.7") -> Rootfs:
        """The official image's style: /usr/local/bin/python3.11, /usr/local/lib/python3.11 (not apk-owned)."""
        stdlib = f"usr/local/lib/python{version}"
        self.write(f"usr/local/bin/python{version}", b"\x7fELF", 0o755)
        self.symlink("usr/local/bin/python3", f"python{version}")
        self.symlink("usr/local/bin/python", "python3")
        self.write(f"{stdlib}/os.py", "# os\n")
        self.mkdir(f"{stdlib}/site-packages")
        if patchlevel is not None:
            self.write(
                f"usr/local/include/python{version}/patchlevel.h",
                f'#define PY_MAJOR_VERSION 3\n#define PY_VERSION "{patchlevel}"\n',
            )
        return self

    def debian_like(self) -> Rootfs:
        """A glibc root filesystem: Debian os-release, dpkg status, ld-linux loader."""
        self.write(
            "etc/os-release",
            'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
        )
        self.write("etc/debian_version", "12.2\n")
        self.write("var/lib/dpkg/status", "Package: libc6\nStatus: install ok installed\n")
        self.write("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", b"\x7fELF", 0o755)
        self.symlink("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        self.write("usr/bin/python3.11", b"\x7fELF", 0o755)
        self.write("usr/lib/python3.11/os.py", "# os\n")
        return self

    # --- distributions -----------------------------------------------------

    def dist_info(
        self,
        site: str,
        name: str,
        version: str,
        *,
        requires: Sequence[str] = (),
        requires_python: str | None = None,
        installer: str | None = "pip",
        top_level: Sequence[str] | None = None,
        modules: Sequence[str] = (),
    ) -> list[str]:
        """A wheel install: ``NAME-VERSION.dist-info`` with METADATA, RECORD (and INSTALLER)."""
        folder = f"{site}/{name.replace('-', '_')}-{version}.dist-info"
        meta = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
        meta.extend(f"Requires-Dist: {r}\n" for r in requires)
        if requires_python:
            meta.append(f"Requires-Python: {requires_python}\n")
        written = [self.write(f"{folder}/METADATA", "".join(meta) + "\nlong description\n")]
        for module in modules:
            written.append(self.write(f"{site}/{module}", "# module\n"))
        if installer is not None:
            written.append(self.write(f"{folder}/INSTALLER", installer + "\n"))
        if top_level is not None:
            written.append(self.write(f"{folder}/top_level.txt", "".join(t + "\n" for t in top_level)))
        record_rows = [p[len(site) + 1 :] + ",," for p in written]
        written.append(self.write(f"{folder}/RECORD", "\n".join([*record_rows, folder[len(site) + 1 :] + "/RECORD,,"]) + "\n"))
        return written

    def egg_info_dir(
        self,
        site: str,
        name: str,
        version: str,
        *,
        requires_txt: str | None = None,
        top_level: Sequence[str] | None = ("pkg",),
        installed_files: Sequence[str] | None = None,
    ) -> str:
        folder = f"{site}/{name}-{version}-py3.11.egg-info"
        self.write(f"{folder}/PKG-INFO", f"Metadata-Version: 1.1\nName: {name}\nVersion: {version}\nSummary: x\n")
        if requires_txt is not None:
            self.write(f"{folder}/requires.txt", requires_txt)
        if top_level is not None:
            self.write(f"{folder}/top_level.txt", "".join(t + "\n" for t in top_level))
        if installed_files is not None:
            self.write(f"{folder}/installed-files.txt", "".join(f + "\n" for f in installed_files))
        return folder

    def egg_info_file(self, site: str, name: str, version: str) -> str:
        """What distutils' ``setup.py install`` writes: a single PKG-INFO-format file."""
        return self.write(
            f"{site}/{name}-{version}-py3.11.egg-info",
            f"Metadata-Version: 1.0\nName: {name}\nVersion: {version}\nSummary: old style\nPlatform: UNKNOWN\n",
        )

    def egg_dir(self, site: str, name: str, version: str, *, requires_txt: str | None = None) -> str:
        folder = f"{site}/{name}-{version}-py3.11.egg"
        self.write(f"{folder}/EGG-INFO/PKG-INFO", f"Metadata-Version: 1.2\nName: {name}\nVersion: {version}\n")
        if requires_txt is not None:
            self.write(f"{folder}/EGG-INFO/requires.txt", requires_txt)
        self.write(f"{folder}/{name.lower()}/__init__.py", "")
        return folder

    def egg_zip(self, site: str, name: str, version: str, *, requires_txt: str | None = None) -> str:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("EGG-INFO/PKG-INFO", f"Metadata-Version: 1.1\nName: {name}\nVersion: {version}\n")
            archive.writestr("EGG-INFO/top_level.txt", f"{name.lower()}\n")
            if requires_txt is not None:
                archive.writestr("EGG-INFO/requires.txt", requires_txt)
            archive.writestr(f"{name.lower()}/__init__.py", "")
        return self.write(f"{site}/{name}-{version}-py3.11.egg", buffer.getvalue())

    def egg_link(self, site: str, name: str, version: str, project: str) -> str:
        """A ``setup.py develop`` install: an egg-link in site-packages, egg-info in the project."""
        self.write(
            f"{project}/{name}.egg-info/PKG-INFO",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\n",
        )
        self.write(f"{project}/{name}.egg-info/top_level.txt", f"{name.lower()}\n")
        self.write(f"{project}/{name}.egg-info/requires.txt", "requests>=2\n")
        self.write(f"{project}/{name.lower()}/__init__.py", "")
        return self.write(f"{site}/{name}.egg-link", f"/{project}\n.\n")

    def mysqlclient_apk(self, site: str = SITE) -> str:
        """Alpine's ``py3-mysqlclient 2.1.1-r3``: a ``setup.py install --root`` layout plus its apk records."""
        egg_info = f"{site}/mysqlclient-2.1.1-py3.11.egg-info"
        files = [self.write(f"{site}/MySQLdb/{m}", "# MySQLdb\n") for m in MYSQLDB_MODULES]
        files += [
            self.write(f"{egg_info}/PKG-INFO", MYSQLCLIENT_PKG_INFO),
            self.write(f"{egg_info}/SOURCES.txt", MYSQLCLIENT_SOURCES),
            self.write(f"{egg_info}/dependency_links.txt", "\n"),
            self.write(f"{egg_info}/top_level.txt", "MySQLdb\n"),
        ]
        self.add_apk(
            apk_record(
                "py3-mysqlclient",
                "2.1.1-r3",
                origin="py3-mysqlclient",
                description="Python interface to MySQL",
                depends=["python3~3.11", "so:libc.musl-x86_64.so.1", "so:libmariadb.so.3"],
                files=sorted(files),
            )
        )
        pycs = [
            self.write(f"{site}/MySQLdb/__pycache__/{m[:-3]}.cpython-311.pyc", b"\x00")
            for m in MYSQLDB_MODULES
            if m.endswith(".py") and "/" not in m
        ]
        self.add_apk(
            apk_record(
                "py3-mysqlclient-pyc",
                "2.1.1-r3",
                origin="py3-mysqlclient",
                depends=["py3-mysqlclient=2.1.1-r3", "python3~3.11"],
                files=sorted(pycs),
            )
        )
        return egg_info
