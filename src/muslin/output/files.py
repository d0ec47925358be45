"""Writing output files atomically: a reader sees the old file or the new one, never a part."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from muslin.errors import UsageError


def write_atomic(
    path: str | os.PathLike[str], content: str | bytes, *, mode: int | None = None
) -> None:
    """Write ``content`` to a temporary file next to ``path``, then rename it over ``path``.

    The new file keeps the mode of the file it replaces (else ``0o666`` minus
    the umask) unless ``mode`` is given.  On any error the temporary file is
    removed and ``path`` is left untouched; the error is a
    :class:`~muslin.errors.UsageError` naming the file.
    """
    target = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None
        raise
