"""Installed Python distributions in site-packages directories, in every metadata form.

Forms: ``NAME.dist-info/METADATA``; ``NAME.egg-info/PKG-INFO`` (directory) or a
single ``NAME.egg-info`` file; ``NAME.egg/EGG-INFO/PKG-INFO`` (directory) or a
zipped ``.egg``; ``NAME.egg-link`` (a develop install pointing to a project
directory holding ``NAME.egg-info``).  Each distribution's owner is the apk
package that lists its metadata file, else its ``INSTALLER``, else unknown.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser

from packaging.utils import canonicalize_name

from muslin.facts.apkdb import owner_of
from muslin.facts.model import ApkPackage, Distribution, DistributionForm, Owner
from muslin.facts.tree import FileTree, normalize, read_text

_NOT_MODULE_FILES = frozenset({"setup.py", "conftest.py", "noxfile.py", "fabfile.py", "tasks.py"})

Reader = Callable[[str], "str | None"]
"""Reads a metadata file by its name relative to the metadata directory."""


@dataclass(frozen=True)
class _Found:
    """A metadata location, before its content is parsed."""

    form: DistributionForm
    metadata_path: str
    """The dist-info/egg-info/egg directory, egg-info file, zipped egg, or linked egg-info."""
    pkg_info: str
    """Name of the core metadata file for ``read`` (``METADATA``, ``PKG-INFO``, ``EGG-INFO/PKG-INFO``)."""
    read: Reader
    owner_paths: tuple[str, ...]
    """Root-relative files whose apk owner is the distribution's owner, most specific first."""
    contents: Callable[[], list[str]]
    """Root-of-distribution paths (for egg forms: the egg's own entries), to derive top-level names."""


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _dir_reader(tree: FileTree, directory: str) -> Reader:
    return lambda name: read_text(tree, f"{directory}/{name}")


def _no_contents() -> list[str]:
    return []


def requires_txt_to_pep508(text: str) -> tuple[str, ...]:
    """Convert setuptools' ``requires.txt`` to PEP 508 strings.

    ``[extra]`` sections add ``extra == "extra"``; ``[:marker]`` and
    ``[extra:marker]`` sections add the marker too.
    """
    result: list[str] = []
    extra: str | None = None
    section_marker: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name, _, marker = line[1:-1].partition(":")
            extra = canonicalize_name(name.strip()) if name.strip() else None
            section_marker = marker.strip() or None
            continue
        requirement, _, line_marker = line.partition(";")
        markers = [m for m in (line_marker.strip(), section_marker) if m]
        clauses = [f"({m})" for m in markers] if len(markers) + (extra is not None) > 1 else markers
        if extra is not None:
            clauses.append(f'extra == "{extra}"')
        requirement = requirement.strip()
        result.append(f"{requirement}; {' and '.join(clauses)}" if clauses else requirement)
    return tuple(result)


def top_level_from_paths(paths: Iterable[str]) -> tuple[str, ...]:
    """Importable top-level names from installed paths relative to site-packages (RECORD style)."""
    names: set[str] = set()
    for raw in paths:
        path = raw.replace("\\", "/")
        if path.startswith(("../", "/")):
            continue
        parts = [p for p in path.split("/") if p and p != "."]
        if not parts:
            continue
        first = parts[0]
        if first == "__pycache__" or first.endswith((".dist-info", ".egg-info", ".data", ".pth")):
            continue
        if len(parts) > 1 or path.endswith("/"):
            if first.isidentifier() and first != "EGG-INFO":
                names.add(first)
        elif first.endswith(".py") and first not in _NOT_MODULE_FILES:
            names.add(first[:-3])
        elif first.endswith((".so", ".pyd")):
            names.add(first.split(".", 1)[0])
    return tuple(sorted(n for n in names if n.isidentifier()))


def top_level_from_sources(paths: Iterable[str]) -> tuple[str, ...]:
    """Top-level packages/modules from an egg-info ``SOURCES.txt`` (paths relative to the project)."""
    files = [p.replace("\\", "/").lstrip("./") for p in paths if p.strip()]
    package_dirs = {f.rpartition("/")[0] for f in files if f.endswith("/__init__.py")}
    tops = {d for d in package_dirs if d.rpartition("/")[0] not in package_dirs}
    roots = {d.rpartition("/")[0] for d in tops} or {"", "src", "lib"}
    names = {d.rpartition("/")[2] for d in tops}
    for f in files:
        parent, _, base = f.rpartition("/")
        if parent in roots and base.endswith(".py") and base not in _NOT_MODULE_FILES:
            names.add(base[:-3])
    return tuple(sorted(n for n in names if n.isidentifier()))


def _top_level(found: _Found) -> tuple[str, ...]:
    prefix = "EGG-INFO/" if found.form in ("egg", "egg-zip") else ""
    text = found.read(prefix + "top_level.txt")
    if text is not None:
        return tuple(sorted({line.strip() for line in text.splitlines() if line.strip()}))
    record = found.read("RECORD") if found.form == "dist-info" else None
    if record is not None:
        return top_level_from_paths(row[0] for row in csv.reader(io.StringIO(record)) if row)
    installed = found.read("installed-files.txt")
    if installed is not None:
        return top_level_from_paths(
            line.strip()[3:] for line in installed.splitlines() if line.strip().startswith("../")
        )
    contents = found.contents()
    if contents:
        return top_level_from_paths(contents)
    sources = found.read(prefix + "SOURCES.txt")
    if sources is not None:
        return top_level_from_sources(sources.splitlines())
    return ()


def _name_version_from_filename(metadata_path: str) -> tuple[str, str]:
    base = metadata_path.rpartition("/")[2]
    for suffix in (".dist-info", ".egg-info", ".egg-link", ".egg"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    name, _, rest = base.partition("-")
    return name, rest.partition("-")[0]


def _owner(found: _Found, installer: str | None, index: Mapping[str, ApkPackage]) -> Owner:
    for path in found.owner_paths:
        pkg = owner_of(index, path)
        if pkg is not None:
            return Owner("apk", pkg.name, pkg.version)
    if installer:
        return Owner("installer", installer)
    return Owner("unknown")


def _build(found: _Found, site_packages: str, index: Mapping[str, ApkPackage]) -> Distribution | None:
    text = found.read(found.pkg_info)
    fallback_name, fallback_version = _name_version_from_filename(found.metadata_path)
    if text is None and found.form == "dist-info":
        return None
    message = HeaderParser().parsestr(text or "")
    name = (message.get("Name") or "").strip() or fallback_name
    version = (message.get("Version") or "").strip() or fallback_version
    if not name:
        return None
    requires: tuple[str, ...] = tuple(r.strip() for r in message.get_all("Requires-Dist") or [])
    if found.form != "dist-info":
        prefix = "EGG-INFO/" if found.form in ("egg", "egg-zip") else ""
        requires_txt = found.read(prefix + "requires.txt")
        if requires_txt is not None:
            requires = requires_txt_to_pep508(requires_txt)
    installer_text = found.read("INSTALLER")
    installer = installer_text.strip().splitlines()[0].strip() if installer_text and installer_text.strip() else None
    requires_python = (message.get("Requires-Python") or "").strip() or None
    return Distribution(
        name=name,
        canonical_name=canonicalize_name(name),
        version=version,
        form=found.form,
        metadata_path=found.metadata_path,
        site_packages=site_packages,
        requires=requires,
        requires_python=requires_python,
        installer=installer,
        top_level=_top_level(found),
        owner=_owner(found, installer, index),
    )


def _zip_found(path: str, data: bytes) -> _Found | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    members = set(names)

    def read(name: str) -> str | None:
        if name not in members:
            return None
        try:
            return _text(archive.read(name))
        except (zipfile.BadZipFile, OSError, ValueError, KeyError):
            return None

    return _Found("egg-zip", path, "EGG-INFO/PKG-INFO", read, (path,), lambda: names)


def _egg_link_found(tree: FileTree, site: str, path: str) -> _Found | None:
    text = read_text(tree, path)
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    target = normalize(lines[0] if lines[0].startswith("/") else f"{site}/{lines[0]}")
    if target is None:
        return None
    egg_infos = [n for n in tree.listdir(target) if n.endswith(".egg-info") and tree.is_dir(f"{target}/{n}")]
    if not egg_infos:
        return None
    wanted = canonicalize_name(_name_version_from_filename(path)[0])
    egg_infos.sort(key=lambda n: canonicalize_name(_name_version_from_filename(n)[0]) != wanted)
    egg_info = f"{target}/{egg_infos[0]}"
    owner_paths = (f"{egg_info}/PKG-INFO", path)
    return _Found("egg-link", egg_info, "PKG-INFO", _dir_reader(tree, egg_info), owner_paths, _no_contents)


def _locate(tree: FileTree, site: str, name: str) -> _Found | None:
    path = f"{site}/{name}"
    if name.endswith(".dist-info") and tree.is_dir(path):
        owners = (f"{path}/METADATA", *(f"{path}/{n}" for n in tree.listdir(path)))
        return _Found("dist-info", path, "METADATA", _dir_reader(tree, path), owners, _no_contents)
    if name.endswith(".egg-info"):
        if tree.is_dir(path):
            owners = (f"{path}/PKG-INFO", *(f"{path}/{n}" for n in tree.listdir(path)))
            return _Found("egg-info", path, "PKG-INFO", _dir_reader(tree, path), owners, _no_contents)
        if tree.is_file(path):
            content = read_text(tree, path)
            return _Found(
                "egg-info-file", path, "PKG-INFO", lambda n: content if n == "PKG-INFO" else None, (path,), _no_contents
            )
        return None
    if name.endswith(".egg"):
        if tree.is_dir(path):
            owners = (f"{path}/EGG-INFO/PKG-INFO", *(f"{path}/EGG-INFO/{n}" for n in tree.listdir(f"{path}/EGG-INFO")))
            entries = [f"{n}/" if tree.is_dir(f"{path}/{n}") else n for n in tree.listdir(path)]
            return _Found("egg", path, "EGG-INFO/PKG-INFO", _dir_reader(tree, path), owners, lambda: entries)
        data = tree.read_bytes(path)
        return _zip_found(path, data) if data is not None else None
    if name.endswith(".egg-link") and tree.is_file(path):
        return _egg_link_found(tree, site, path)
    return None


def find_distributions(
    tree: FileTree, site_packages: Iterable[str], apk_index: Mapping[str, ApkPackage] | None = None
) -> tuple[Distribution, ...]:
    """Every distribution installed in ``site_packages``, sorted by canonical name
    (then in the order of ``site_packages``).

    ``apk_index`` is :func:`muslin.facts.apkdb.file_owners` of the image's
    packages (built once by the caller).
    """
    index = apk_index if apk_index is not None else {}
    found: list[Distribution] = []
    order: dict[str, int] = {}
    for site in site_packages:
        if site in order:
            continue
        order[site] = len(order)
        for name in tree.listdir(site):
            location = _locate(tree, site, name)
            if location is None:
                continue
            dist = _build(location, site, index)
            if dist is not None:
                found.append(dist)
    found.sort(key=lambda d: (d.canonical_name, order[d.site_packages], d.metadata_path))
    return tuple(found)
