"""Build small but real wheels and sdists for tests.

``build_wheel`` writes a zip with a correct ``METADATA``, ``WHEEL`` and
``RECORD`` (sha256 of every member) plus a top-level module, so installers
(``installer``, pip, uv) accept it.  ``build_sdist`` writes a ``.tar.gz`` with
``PKG-INFO`` and a minimal ``pyproject.toml``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def metadata_text(
    name: str,
    version: str,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
    extras: Iterable[str] = (),
) -> str:
    """Core metadata 2.1 text for ``name`` ``version``."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines.append(f"Summary: test package {name}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Provides-Extra: {e}" for e in extras)
    lines.extend(f"Requires-Dist: {r}" for r in requires)
    return "\n".join(lines) + "\n\n"


def wheel_filename(name: str, version: str, tags: str = "py3-none-any") -> str:
    dist = canonicalize_name(name).replace("-", "_")
    return f"{dist}-{version}-{tags}.whl"


def build_wheel(
    dest_dir: Path | str,
    name: str,
    version: str,
    tags: str = "py3-none-any",
    requires: Iterable[str] = (),
    requires_python: str | None = None,
    files: Mapping[str, bytes | str] | None = None,
    extras: Iterable[str] = (),
    padding: int = 0,
) -> Path:
    """Write ``{name}-{version}-{tags}.whl`` into ``dest_dir`` and return its path.

    ``tags`` is the compressed tag triple (``cp311-cp311-musllinux_1_2_x86_64``);
    ``files`` maps archive paths to contents (default: ``<module>/__init__.py``);
    ``padding`` adds an incompressible data file of that many bytes (for range tests).
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    dist = canonicalize_name(name).replace("-", "_")
    module = dist.lower()
    dist_info = f"{dist}-{version}.dist-info"
    members: dict[str, bytes] = {}
    if files is None:
        files = {f"{module}/__init__.py": f'__version__ = "{version}"\n'}
    for path, content in files.items():
        members[path] = content.encode() if isinstance(content, str) else content
    if padding:
        members[f"{module}/_padding.bin"] = hashlib.sha256(b"pad").digest() * (padding // 32 + 1)
        members[f"{module}/_padding.bin"] = members[f"{module}/_padding.bin"][:padding]
    members[f"{dist_info}/METADATA"] = metadata_text(
        name, version, requires, requires_python, extras
    ).encode()
    interp, abi, plats = tags.split("-")
    pure = abi == "none" and plats == "any"
    wheel_lines = [
        "Wheel-Version: 1.0",
        "Generator: muslin-tests",
        f"Root-Is-Purelib: {'true' if pure else 'false'}",
    ]
    for i in interp.split("."):
        for a in abi.split("."):
            for p in plats.split("."):
                wheel_lines.append(f"Tag: {i}-{a}-{p}")
    members[f"{dist_info}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    members[f"{dist_info}/top_level.txt"] = f"{module}\n".encode()
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = dest / f"{dist}-{version}-{tags}.whl"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out


def build_sdist(
    dest_dir: Path | str,
    name: str,
    version: str,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
) -> Path:
    """Write ``{name}-{version}.tar.gz`` (PKG-INFO + pyproject.toml) into ``dest_dir``."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    dist = canonicalize_name(name).replace("-", "_")
    root = f"{dist}-{version}"
    req_list = ", ".join(f'"{r}"' for r in requires)
    members = {
        f"{root}/PKG-INFO": metadata_text(name, version, requires, requires_python).encode(),
        f"{root}/pyproject.toml": (
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n"
            f"[project]\nname = \"{name}\"\nversion = \"{version}\"\ndependencies = [{req_list}]\n"
        ).encode(),
        f"{root}/{dist.lower()}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    out = dest / f"{root}.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return out
