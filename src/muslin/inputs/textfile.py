"""Reading an input file as text, with the errors every input parser reports the same way."""

from __future__ import annotations

import os
from pathlib import Path

from muslin.errors import InputFileError


def read_input_text(path: str | os.PathLike[str], encoding: str = "utf-8") -> tuple[bytes, str]:
    """The file's bytes and its text decoded as ``encoding``.

    Unreadable or not UTF-8 -> InputFileError (with the line of the first bad byte).
    """
    shown = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(shown, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw, raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputFileError(shown, raw[: exc.start].count(b"\n") + 1, "not valid UTF-8 text") from None
