"""Tar streams for ``put_archive``: built in a spooled temporary file, never extracted on the host."""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SPOOL_LIMIT = 8 * 1024 * 1024
"""Tar streams up to this size stay in memory; larger ones spill to a temporary file."""

_MTIME = 1704067200


@dataclass(frozen=True)
class TarEntry:
    """One member: a host file (``source``), literal bytes (``data``), or a directory (neither)."""

    name: str
    """Path inside the archive, relative (``tmp/muslin-install/wheels/x.whl``)."""
    source: Path | None = None
    data: bytes | None = None
    mode: int = 0o644

    @property
    def is_dir(self) -> bool:
        return self.source is None and self.data is None


def build_tar(entries: Iterable[TarEntry]) -> IO[bytes]:
    """Write ``entries`` (owned by root) to a rewound spooled tar stream; the caller closes it."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115
    try:
        with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for entry in entries:
                info = tarfile.TarInfo(entry.name.strip("/"))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = _MTIME
                if entry.is_dir:
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755 if entry.mode == 0o644 else entry.mode
                    tar.addfile(info)
                elif entry.data is not None:
                    info.size = len(entry.data)
                    info.mode = entry.mode
                    tar.addfile(info, io.BytesIO(entry.data))
                else:
                    assert entry.source is not None
                    info.size = entry.source.stat().st_size
                    info.mode = entry.mode
                    with entry.source.open("rb") as fh:
                        tar.addfile(info, fh)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool
