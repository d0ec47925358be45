"""A pip-compatible ``requirements.txt`` parser.

Follows pip's line processing: ``\\`` continuations are joined first, then a
``#`` at the start of a line or after whitespace starts a comment (so
``#sha256=`` URL fragments survive), then ``${VAR}`` environment variables
are expanded.  Nested ``-r``/``-c`` files are relative to the including file.
A file may be an ``http(s)://`` URL, read through a fetcher the caller gives
(so nested relative files and ``--find-links`` resolve against the URL, as in pip).
Every problem is an :class:`~muslin.errors.InputFileError` naming ``file:line``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from muslin.errors import InputFileError, UsageError
from muslin.plan.model import InputFile

_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")
_HASH_RE = re.compile(r"^(sha256|sha384|sha512):([0-9a-fA-F]+)$")
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_NAMED_REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar")

COMMAND_LINE = "<command line>"

Location = Path | str
"""A requirements file: a local path, or an ``http(s)://`` URL (a ``str``)."""

Fetcher = Callable[[str], bytes]
"""Reads a remote requirements file: its bytes, or raises (a muslin error, or ``FileNotFoundError``
for a 404)."""


def is_remote(value: str | os.PathLike[str]) -> bool:
    """``http://`` or ``https://``: a remote requirements file."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def _shown(location: Location) -> str:
    if isinstance(location, Path):
        return os.fspath(location)
    from muslin.index.config import redact_url

    return redact_url(location)


_EDITABLE_MESSAGE = (
    "editable requirements (-e/--editable) are not supported: an editable install links "
    "to a source tree on this machine, which does not exist inside the image; build a "
    "wheel of the project and require it by name instead"
)


@dataclass(frozen=True)
class ParsedRequirement:
    """One requirement with where it came from."""

    requirement: Requirement
    hashes: tuple[str, ...] = ()
    """``algorithm:hexdigest`` values from ``--hash``; any one of them may match."""
    file: str | None = None
    """The file it was read from, or None for the command line."""
    line: int | None = None
    is_constraint: bool = False

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def url(self) -> str | None:
        """The direct reference URL (``name @ URL``), if any."""
        return self.requirement.url

    @property
    def location(self) -> str:
        """``file:line`` (or ``<command line>``) for messages."""
        if self.file is None:
            return COMMAND_LINE
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def sha256_hashes(self) -> frozenset[str]:
        """Allowed sha256 digests: ``--hash=sha256:`` values and a ``#sha256=`` URL fragment."""
        found = {h.split(":", 1)[1].lower() for h in self.hashes if h.startswith("sha256:")}
        if self.url_sha256:
            found.add(self.url_sha256)
        return frozenset(found)

    @property
    def url_sha256(self) -> str | None:
        """The ``#sha256=...`` fragment of a direct reference URL."""
        if not self.requirement.url:
            return None
        fragment = urlsplit(self.requirement.url).fragment
        for part in fragment.split("&"):
            key, _, value = part.partition("=")
            if key == "sha256" and value:
                return value.lower()
        return None

    def __str__(self) -> str:
        return str(self.requirement)


@dataclass
class RequirementsFile:
    """Everything read from one requirements file and the files it includes."""

    path: str
    requirements: list[ParsedRequirement] = field(default_factory=list)
    constraints: list[ParsedRequirement] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    """URLs as written; local paths made absolute (relative to the file that named them)."""
    no_index: bool = False
    only_binary: set[str] = field(default_factory=set)
    """Canonical names, or ``:all:``."""
    no_binary: set[str] = field(default_factory=set)
    pre: bool = False
    files: list[InputFile] = field(default_factory=list)
    """Every file read (this one and nested ones), with its sha256."""
    warnings: list[str] = field(default_factory=list)


def parse_requirement_string(
    text: str,
    *,
    file: str | None = None,
    line: int | None = None,
    constraint: bool = False,
    hashes: tuple[str, ...] = (),
) -> ParsedRequirement:
    """Parse one PEP 508 string; errors name ``file:line`` (or the command line)."""

    def fail(message: str) -> UsageError:
        if file is None:
            return UsageError(f"requirement {text!r}: {message}")
        return InputFileError(file, line, message)

    stripped = text.strip()
    if _looks_like_bare_location(stripped):
        raise fail(
            f"{stripped!r} is a URL or path without a package name; "
            "write it as 'name @ URL' (a direct reference)"
        )
    try:
        req = Requirement(stripped)
    except InvalidRequirement as exc:
        # packaging adds a caret diagram on further lines: the first line is the reason
        reason = str(exc).splitlines()[0] if str(exc) else "malformed"
        raise fail(f"invalid requirement {stripped!r}: {reason}") from None
    if req.url is not None:
        scheme = urlsplit(req.url).scheme
        if scheme not in ("http", "https", "file"):
            raise fail(
                f"direct reference {req.url!r} is not supported: only http(s):// and "
                "file:// URLs to a wheel can be installed (no VCS or source checkouts)"
            )
    return ParsedRequirement(req, hashes, file, line, constraint)


def _looks_like_bare_location(text: str) -> bool:
    """A URL or path with no ``name @`` in front (pip guesses the name; we refuse)."""
    head = text.split(";", 1)[0].strip()
    if _NAMED_REFERENCE_RE.match(head):
        return False
    if "://" in head or head.startswith((".", "/", "~")):
        return True
    return head.lower().endswith(_ARCHIVE_SUFFIXES) or "/" in head or os.sep in head


def parse_requirements_file(
    path: str | os.PathLike[str],
    *,
    constraint: bool = False,
    env: Mapping[str, str] | None = None,
    fetch: Fetcher | None = None,
) -> RequirementsFile:
    """Parse ``path`` (and every file it includes) like pip does.

    ``path`` may be an ``http(s)://`` URL; remote files (given or included) need ``fetch``.
    """
    location: Location = path if isinstance(path, str) and is_remote(path) else Path(path)
    result = RequirementsFile(path=_shown(location))
    _Parser(result, os.environ if env is None else env, fetch).parse(
        location, constraint=constraint, stack=(), origin=None
    )
    return result


class _Parser:
    def __init__(self, result: RequirementsFile, env: Mapping[str, str], fetch: Fetcher | None) -> None:
        self.result = result
        self.env = env
        self.fetch = fetch
        self.seen_files: set[Location] = set()

    def _read(self, location: Location) -> tuple[Location, bytes]:
        """(identity for include loops, bytes) of a local or remote file."""
        if isinstance(location, Path):
            return location.resolve(), location.read_bytes()
        if self.fetch is None:
            raise OSError("remote requirements files cannot be read here")
        return location.split("#", 1)[0], self.fetch(location)

    def parse(
        self,
        path: Location,
        *,
        constraint: bool,
        stack: tuple[Location, ...],
        origin: tuple[str, int] | None,
    ) -> None:
        shown = _shown(path)
        try:
            resolved, data = self._read(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if origin is not None:
                raise InputFileError(
                    origin[0], origin[1], f"cannot read included file {shown!r}: {reason}"
                ) from None
            raise InputFileError(shown, None, f"cannot read requirements file: {reason}") from None
        if resolved in stack:
            chain = " -> ".join(_shown(p) for p in (*stack, resolved))
            assert origin is not None
            raise InputFileError(
                origin[0], origin[1], f"requirements files include each other: {chain}"
            )
        if resolved not in self.seen_files:
            self.seen_files.add(resolved)
            self.result.files.append(InputFile(shown, hashlib.sha256(data).hexdigest()))
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InputFileError(shown, line, "not valid UTF-8 text") from None
        for lineno, logical in _logical_lines(text):
            expanded = _ENV_VAR_RE.sub(lambda m: self.env.get(m.group(1), m.group(0)), logical)
            self._parse_line(
                expanded, path=path, lineno=lineno, constraint=constraint, stack=(*stack, resolved)
            )

    def _parse_line(
        self, line: str, *, path: Location, lineno: int, constraint: bool, stack: tuple[Location, ...]
    ) -> None:
        shown = _shown(path)
        req_part, opt_part = _split_args_options(line)
        try:
            tokens = shlex.split(opt_part)
        except ValueError as exc:
            raise InputFileError(shown, lineno, f"cannot split options: {exc}") from None
        options = list(_iter_options(tokens, shown, lineno))
        if req_part:
            hashes: list[str] = []
            for name, value in options:
                if name != "--hash":
                    raise InputFileError(
                        shown, lineno, f"option {name} is not allowed on a requirement line"
                    )
                hashes.append(_check_hash(value, shown, lineno))
            parsed = parse_requirement_string(
                req_part, file=shown, line=lineno, constraint=constraint, hashes=tuple(hashes)
            )
            (self.result.constraints if constraint else self.result.requirements).append(parsed)
            return
        for name, value in options:
            self._apply_option(
                name, value, path=path, lineno=lineno, constraint=constraint, stack=stack
            )

    def _apply_option(
        self,
        name: str,
        value: str,
        *,
        path: Location,
        lineno: int,
        constraint: bool,
        stack: tuple[Location, ...],
    ) -> None:
        shown = _shown(path)
        res = self.result
        if name in ("--requirement", "--constraint"):
            nested: Location
            if is_remote(value):
                nested = value
            elif isinstance(path, str):
                nested = urljoin(path, value)  # relative to the remote file, as pip does
            elif "://" in value:
                raise InputFileError(shown, lineno, f"requirements file URLs must be http(s): {value}")
            else:
                nested = path.parent / value
            self.parse(
                nested,
                constraint=name == "--constraint",
                stack=stack,
                origin=(shown, lineno),
            )
        elif name == "--editable":
            raise InputFileError(shown, lineno, _EDITABLE_MESSAGE)
        elif name == "--index-url":
            res.index_url = value
        elif name == "--extra-index-url":
            if value not in res.extra_index_urls:
                res.extra_index_urls.append(value)
        elif name == "--find-links":
            location = value
            if isinstance(path, str):
                location = urljoin(path, value) if "://" not in value else value
            elif "://" not in value:
                candidate = path.parent / value
                location = (
                    os.fspath(candidate.resolve())
                    if candidate.exists()
                    else os.fspath(Path(value).resolve())
                )
            if location not in res.find_links:
                res.find_links.append(location)
        elif name == "--no-index":
            res.no_index = True
        elif name == "--only-binary":
            apply_binary_option(value, res.only_binary, res.no_binary, shown, lineno)
        elif name == "--no-binary":
            apply_binary_option(value, res.no_binary, res.only_binary, shown, lineno)
        elif name == "--pre":
            res.pre = True
        elif name in ("--prefer-binary", "--trusted-host", "--use-feature"):
            res.warnings.append(f"{shown}:{lineno}: option {name} has no effect in muslin; ignored")
        else:
            raise InputFileError(
                shown, lineno, f"option {name} is only allowed on a requirement line"
            )


# name -> (canonical long option, takes a value)
_OPTIONS: dict[str, tuple[str, bool]] = {
    "-r": ("--requirement", True),
    "--requirement": ("--requirement", True),
    "-c": ("--constraint", True),
    "--constraint": ("--constraint", True),
    "-e": ("--editable", True),
    "--editable": ("--editable", True),
    "-i": ("--index-url", True),
    "--index-url": ("--index-url", True),
    "--extra-index-url": ("--extra-index-url", True),
    "-f": ("--find-links", True),
    "--find-links": ("--find-links", True),
    "--no-index": ("--no-index", False),
    "--only-binary": ("--only-binary", True),
    "--no-binary": ("--no-binary", True),
    "--pre": ("--pre", False),
    "--prefer-binary": ("--prefer-binary", False),
    "--trusted-host": ("--trusted-host", True),
    "--use-feature": ("--use-feature", True),
    "--hash": ("--hash", True),
}


def _iter_options(tokens: list[str], shown: str, lineno: int) -> Iterator[tuple[str, str]]:
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        value: str | None = None
        if token.startswith("--") and "=" in token:
            token, value = token.split("=", 1)
        elif not token.startswith("--") and len(token) > 2 and token.startswith("-"):
            token, value = token[:2], token[2:]
        spec = _OPTIONS.get(token)
        if spec is None:
            if not token.startswith("-"):
                raise InputFileError(shown, lineno, f"unexpected {token!r} after options")
            raise InputFileError(shown, lineno, f"unknown option {token}")
        name, takes_value = spec
        if not takes_value:
            if value is not None:
                raise InputFileError(shown, lineno, f"option {token} takes no value")
            yield name, ""
            continue
        if value is None:
            if i >= len(tokens):
                raise InputFileError(shown, lineno, f"option {token} needs a value")
            value = tokens[i]
            i += 1
        yield name, value


def _check_hash(value: str, shown: str, lineno: int) -> str:
    m = _HASH_RE.match(value.strip())
    if m is None or len(m.group(2)) != _HASH_LENGTHS[m.group(1)]:
        raise InputFileError(
            shown,
            lineno,
            f"invalid --hash {value!r}: expected sha256:<64 hex digits> (or sha384/sha512)",
        )
    return f"{m.group(1)}:{m.group(2).lower()}"


def apply_binary_option(
    value: str, target: set[str], other: set[str], shown: str, lineno: int | None
) -> None:
    """pip's ``--only-binary``/``--no-binary`` semantics (``:all:``, ``:none:``, comma lists)."""
    if not value or value.startswith("-"):
        raise InputFileError(
            shown, lineno, f"--only-binary/--no-binary needs a value, got {value!r}"
        )
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        if name == ":all:":
            other.clear()
            target.clear()
            target.add(":all:")
        elif name == ":none:":
            target.clear()
        else:
            canonical = canonicalize_name(name)
            other.discard(canonical)
            target.add(canonical)


def _split_args_options(line: str) -> tuple[str, str]:
    """Split at the first whitespace-separated token that starts with ``-`` (as pip does)."""
    tokens = line.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:i]).strip(), " ".join(tokens[i:]).strip()
    return line.strip(), ""


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first physical line number, line)`` with continuations joined, comments removed."""
    pending: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        is_comment = _COMMENT_RE.match(raw) is not None
        if raw.endswith("\\") and not is_comment:
            if not pending:
                start = lineno
            pending.append(raw[:-1])
            continue
        if is_comment:
            raw = " " + raw
        if pending:
            pending.append(raw)
            joined, number = "".join(pending), start
            pending = []
        else:
            joined, number = raw, lineno
        cleaned = _COMMENT_RE.sub("", joined).strip()
        if cleaned:
            yield number, cleaned
    if pending:
        cleaned = _COMMENT_RE.sub("", "".join(pending)).strip()
        if cleaned:
            yield start, cleaned
