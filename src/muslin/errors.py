"""Named exceptions, each carrying its documented process exit code.

Every error muslin reports to a user is a :class:`MuslinError`; the CLI turns it
into one line on stderr and the exit code below (a traceback only with
``--debug``).  Anything else escaping is a bug and exits with ``INTERNAL``.

Exit codes (documented in README):

====  =====================================================================
0     success
1     internal error (a bug: please report it)
2     usage: bad command line or bad input file (pyproject, requirements, ...)
3     image not found (unknown reference, no such archive/directory)
4     network or registry/index unreachable, timeout, HTTP 5xx/429
5     authentication / authorization failed (401/403)
6     corrupt or unsupported image (bad layer, digest mismatch, not Alpine)
7     requirements unsatisfiable (including conflicts with installed pins)
8     no wheel for the target
9     integrity failure on a download (hash mismatch)
10    Docker failure (daemon unreachable, build/run/verify failed)
====  =====================================================================
"""

from __future__ import annotations


class MuslinError(Exception):
    """Base class: a user-facing error with one clear line of text."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(MuslinError):
    """Bad command line or malformed input file."""

    exit_code = 2


class InputFileError(UsageError):
    """A malformed input file; the message carries ``file:line``."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class ImageNotFoundError(MuslinError):
    """The image reference, archive, layout or directory does not exist."""

    exit_code = 3


class NetworkError(MuslinError):
    """A registry or index could not be reached, timed out, or failed (5xx/429)."""

    exit_code = 4


class AuthenticationError(MuslinError):
    """Credentials missing or refused (HTTP 401/403)."""

    exit_code = 5


class CorruptImageError(MuslinError):
    """A layer, manifest or config is corrupt, truncated or fails its digest."""

    exit_code = 6


class UnsupportedImageError(CorruptImageError):
    """A valid image muslin cannot work with (not Alpine/musl, unknown media type)."""


class ResolutionError(MuslinError):
    """The requirements cannot be satisfied for the target."""

    exit_code = 7


class NoWheelError(MuslinError):
    """A required package publishes no wheel usable on the target."""

    exit_code = 8


class HashMismatchError(MuslinError):
    """A downloaded file does not match its expected sha256."""

    exit_code = 9


class DockerError(MuslinError):
    """The Docker daemon is unreachable, or a build/run/verify step in it failed."""

    exit_code = 10
