"""Parser of the apk database (``lib/apk/db/installed``).

The database is a sequence of records separated by blank lines; each record is
``K:value`` lines with a one-character key.  ``F:`` opens a directory (empty
value = the root), the ``R:`` lines after it name files in that directory and
the ``Z:`` after an ``R:`` is that file's checksum.  ``a:``/``M:`` (file and
directory ownership/permissions) are not needed and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from muslin.errors import CorruptImageError
from muslin.facts.model import ApkPackage
from muslin.facts.tree import FileTree

DB_PATHS = ("lib/apk/db/installed", "usr/lib/apk/db/installed")
"""Where the database lives: classic layout first, then /usr-merged images."""

_SCALARS = {
    "P": "name",
    "V": "version",
    "A": "arch",
    "o": "origin",
    "T": "description",
    "U": "url",
    "L": "license",
    "m": "maintainer",
    "c": "commit",
    "C": "checksum",
}
_INTS = {"S": "size", "I": "installed_size", "t": "build_time"}
_LISTS = {"D": "depends", "p": "provides", "i": "install_if", "r": "replaces"}
_SKIPPED = frozenset("aM")


class _Record:
    """Mutable accumulator for one database record."""

    __slots__ = ("checksums", "directory", "extra", "fields", "files", "last_file", "lists", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.fields: dict[str, Any] = {}
        self.lists: dict[str, list[str]] = {}
        self.files: list[str] = []
        self.checksums: dict[str, str] = {}
        self.extra: dict[str, list[str]] = {}
        self.directory = ""
        self.last_file: str | None = None

    def build(self, path: str) -> ApkPackage:
        name = self.fields.get("name")
        version = self.fields.get("version")
        if not name:
            raise CorruptImageError(f"{path}:{self.start}: apk record has no package name (P:)")
        if version is None:
            raise CorruptImageError(f"{path}:{self.start}: apk record {name!r} has no version (V:)")
        return ApkPackage(
            **self.fields,
            depends=tuple(self.lists.get("depends", ())),
            provides=tuple(self.lists.get("provides", ())),
            install_if=tuple(self.lists.get("install_if", ())),
            replaces=tuple(self.lists.get("replaces", ())),
            files=tuple(self.files),
            file_checksums=self.checksums,
            extra={key: tuple(values) for key, values in self.extra.items()},
        )


def parse_apk_db(data: bytes | str, path: str = DB_PATHS[0]) -> tuple[ApkPackage, ...]:
    """Parse the whole database; ``path`` only names the file in error messages.

    Raises :class:`CorruptImageError` (with the line number) on a line that is
    not ``K:value``, a non-numeric size/time, or a record without ``P:``/``V:``.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    packages: list[ApkPackage] = []
    record: _Record | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line:
            if record is not None:
                packages.append(record.build(path))
                record = None
            continue
        if len(line) < 2 or line[1] != ":":
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise CorruptImageError(f"{path}:{number}: malformed apk database line {shown!r}")
        if record is None:
            record = _Record(number)
        key = line[0]
        value = line[2:]
        if key == "R":
            file_path = f"{record.directory}/{value}" if record.directory else value
            record.files.append(file_path)
            record.last_file = file_path
        elif key == "F":
            record.directory = value.strip("/")
            record.last_file = None
        elif key == "Z":
            if record.last_file is not None:
                record.checksums[record.last_file] = value
        elif key in _SCALARS:
            record.fields[_SCALARS[key]] = value
        elif key in _LISTS:
            record.lists.setdefault(_LISTS[key], []).extend(value.split())
        elif key in _INTS:
            if value.strip():
                try:
                    record.fields[_INTS[key]] = int(value)
                except ValueError:
                    raise CorruptImageError(
                        f"{path}:{number}: apk field {key}: is not a number: {value!r}"
                    ) from None
        elif key not in _SKIPPED:
            record.extra.setdefault(key, []).append(value)
    if record is not None:
        packages.append(record.build(path))
    return tuple(packages)


def find_apk_db(tree: FileTree) -> str | None:
    """Root-relative path of the apk database, or None when the image has none."""
    for candidate in DB_PATHS:
        if tree.is_file(candidate):
            return candidate
    return None


def read_apk_db(tree: FileTree) -> tuple[str | None, tuple[ApkPackage, ...]]:
    """``(path, packages)`` of the image's apk database; ``(None, ())`` without one."""
    path = find_apk_db(tree)
    if path is None:
        return None, ()
    data = tree.read_bytes(path)
    return path, parse_apk_db(data or b"", "/" + path)


def file_owners(packages: Iterable[ApkPackage]) -> dict[str, ApkPackage]:
    """Map every owned file path to its package (built once per image).

    When two packages list the same path, the first wins, except that an
    Alpine ``-pyc`` subpackage never displaces another package.
    """
    index: dict[str, ApkPackage] = {}
    for pkg in packages:
        is_pyc = pkg.name.endswith("-pyc")
        for file_path in pkg.files:
            current = index.get(file_path)
            if current is None or (current.name.endswith("-pyc") and not is_pyc):
                index[file_path] = pkg
    return index


def owner_of(index: Mapping[str, ApkPackage], path: str) -> ApkPackage | None:
    """The package owning ``path``; /usr-merged aliases (``lib/`` vs ``usr/lib/``) also match."""
    pkg = index.get(path)
    if pkg is not None:
        return pkg
    if path.startswith("usr/"):
        alias = path[4:]
        if alias.split("/", 1)[0] in ("bin", "sbin", "lib"):
            return index.get(alias)
    elif path.split("/", 1)[0] in ("bin", "sbin", "lib"):
        return index.get("usr/" + path)
    return None


def upstream_version(apk_version: str) -> str:
    """``1.2.4-r1`` -> ``1.2.4`` (drops apk's ``-rN`` package release)."""
    base, sep, release = apk_version.rpartition("-r")
    return base if sep and base and release.isdigit() else apk_version
