"""Requirements from ``pyproject.toml``: dependencies, optional dependencies, PEP 735 groups.

A project's extras may name the project itself (``all = ["proj[a,b]"]``); those
references are expanded in place.  Groups may include other groups with
``{include-group = "..."}``; cycles are an error.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from muslin.errors import InputFileError, UsageError
from muslin.inputs.requirements import ParsedRequirement, parse_requirement_string
from muslin.inputs.textfile import read_input_text
from muslin.plan.model import InputFile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


@dataclass
class TomlDocument:
    """A parsed TOML file with its text (for finding line numbers) and digest."""

    path: str
    data: dict[str, Any]
    text: str
    sha256: str

    def find_line(self, needle: str) -> int | None:
        """The first line holding ``needle`` as a quoted string (or bare text as a fallback)."""
        for candidate in (f'"{needle}"', f"'{needle}'", needle):
            index = self.text.find(candidate)
            if index >= 0:
                return self.text.count("\n", 0, index) + 1
        return None

    def find_key_line(self, key: str) -> int | None:
        """The first line defining ``key = ...`` (bare or quoted key), else where it is quoted."""
        pattern = re.compile(rf"""^[ \t]*["']?{re.escape(key)}["']?[ \t]*[=:]""", re.MULTILINE)
        match = pattern.search(self.text)
        if match:
            return self.text.count("\n", 0, match.start()) + 1
        return self.find_line(key)

    def error(self, needle: str | None, message: str, *, key: bool = False) -> InputFileError:
        line = None
        if needle:
            line = self.find_key_line(needle) if key else self.find_line(needle)
        return InputFileError(self.path, line, message)


def load_toml(path: str | os.PathLike[str]) -> TomlDocument:
    """Read and parse a TOML file; syntax errors carry the file and line."""
    shown = os.fspath(path)
    raw, text = read_input_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None = None
        match = _TOML_POSITION_RE.search(message)
        if match:
            line = int(match.group(1))
            message = message[: match.start()] + f" (column {match.group(2)})"
        raise InputFileError(shown, line, f"invalid TOML: {message}") from None
    return TomlDocument(shown, data, text, hashlib.sha256(raw).hexdigest())


@dataclass
class PyprojectRequirements:
    """What one pyproject.toml asks to install."""

    path: str
    project_name: NormalizedName | None
    requirements: list[ParsedRequirement] = field(default_factory=list)
    known_extras: tuple[str, ...] = ()
    known_groups: tuple[str, ...] = ()
    file: InputFile | None = None
    document: TomlDocument | None = None


def read_pyproject_requirements(
    path: str | os.PathLike[str],
    *,
    extras: Sequence[str] = (),
    all_extras: bool = False,
    groups: Sequence[str] = (),
    include_project: bool = True,
) -> PyprojectRequirements:
    """``[project].dependencies`` (unless ``include_project`` is False), the chosen extras and groups."""
    doc = load_toml(path)
    project = _table(doc, doc.data, "project")
    name = project.get("name")
    project_name = canonicalize_name(name) if isinstance(name, str) else None
    optional = _table(doc, project, "optional-dependencies", "project.optional-dependencies")
    known_extras = {canonicalize_name(k): k for k in optional}
    dep_groups = _table(doc, doc.data, "dependency-groups")
    known_groups = {canonicalize_name(k): k for k in dep_groups}

    result = PyprojectRequirements(
        path=doc.path,
        project_name=project_name,
        known_extras=tuple(sorted(known_extras.values())),
        known_groups=tuple(sorted(known_groups.values())),
        file=InputFile(doc.path, doc.sha256),
        document=doc,
    )
    dynamic = project.get("dynamic", [])
    if include_project and isinstance(dynamic, list) and "dependencies" in dynamic:
        raise doc.error(
            "dynamic",
            key=True,
            message="[project] dependencies are dynamic; muslin cannot read them without building "
            "the project: list them in [project].dependencies or a requirements file",
        )

    wanted_extras: list[NormalizedName] = []
    if all_extras:
        wanted_extras = list(known_extras)
    for extra in extras:
        key = canonicalize_name(extra)
        if key not in known_extras:
            raise UsageError(
                f"--extra {extra}: {doc.path} has no optional dependencies named {extra!r}; "
                f"known: {_known(known_extras.values())}"
            )
        if key not in wanted_extras:
            wanted_extras.append(key)
    for group in groups:
        if canonicalize_name(group) not in known_groups:
            raise UsageError(
                f"--group {group}: {doc.path} has no dependency group named {group!r}; "
                f"known: {_known(known_groups.values())}"
            )

    reqs: list[ParsedRequirement] = []
    if include_project:
        reqs.extend(_string_list(doc, project, "dependencies", "project.dependencies"))
        reqs = _expand_self(doc, reqs, project_name, optional, known_extras, ())
    for extra in wanted_extras:
        dotted = f"project.optional-dependencies.{known_extras[extra]}"
        items = _string_list(doc, optional, known_extras[extra], dotted)
        reqs.extend(_expand_self(doc, items, project_name, optional, known_extras, (extra,)))
    seen_groups: set[str] = set()
    for group in groups:
        group_key = canonicalize_name(group)
        if group_key in seen_groups:
            continue
        seen_groups.add(group_key)
        reqs.extend(_group_requirements(doc, dep_groups, known_groups, group_key, ()))
    result.requirements = reqs
    return result


def _known(names: Any) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "(none)"


def _table(
    doc: TomlDocument, parent: dict[str, Any], key: str, dotted: str | None = None
) -> dict[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise doc.error(key, f"[{dotted or key}] must be a table", key=True)
    return value


def _string_list(
    doc: TomlDocument, parent: dict[str, Any], key: str, dotted: str
) -> list[ParsedRequirement]:
    value = parent.get(key, [])
    if not isinstance(value, list):
        raise doc.error(key, f"{dotted} must be an array of requirement strings", key=True)
    out: list[ParsedRequirement] = []
    for item in value:
        if not isinstance(item, str):
            raise doc.error(key, f"{dotted}: {item!r} is not a requirement string", key=True)
        out.append(_parse(doc, item, dotted))
    return out


def _parse(doc: TomlDocument, text: str, dotted: str) -> ParsedRequirement:
    line = doc.find_line(text)
    try:
        return parse_requirement_string(text, file=doc.path, line=line)
    except InputFileError as exc:
        detail = exc.message.split(": ", 1)[1] if ": " in exc.message else exc.message
        raise InputFileError(doc.path, line, f"{dotted}: {detail}") from None


def _expand_self(
    doc: TomlDocument,
    reqs: list[ParsedRequirement],
    project_name: NormalizedName | None,
    optional: dict[str, Any],
    known_extras: dict[NormalizedName, str],
    chain: tuple[str, ...],
) -> list[ParsedRequirement]:
    """Replace ``project[extra]`` references to the project itself by those extras' requirements."""
    out: list[ParsedRequirement] = []
    for parsed in reqs:
        req = parsed.requirement
        if project_name is None or parsed.name != project_name or req.url is not None:
            out.append(parsed)
            continue
        for extra in sorted(req.extras):
            key = canonicalize_name(extra)
            if key not in known_extras:
                raise InputFileError(
                    doc.path,
                    parsed.line,
                    f"{req} refers to this project's extra {extra!r}, which is not defined; "
                    f"known: {_known(known_extras.values())}",
                )
            if key in chain:
                continue
            dotted = f"project.optional-dependencies.{known_extras[key]}"
            inner = _string_list(doc, optional, known_extras[key], dotted)
            for expanded in _expand_self(
                doc, inner, project_name, optional, known_extras, (*chain, key)
            ):
                out.append(_with_marker(doc, expanded, req.marker))
    return out


def _with_marker(
    doc: TomlDocument, parsed: ParsedRequirement, outer: Marker | None
) -> ParsedRequirement:
    if outer is None:
        return parsed
    req = Requirement(str(parsed.requirement))
    try:
        req.marker = Marker(f"({req.marker}) and ({outer})") if req.marker else outer
    except InvalidMarker as exc:  # pragma: no cover - both markers already parsed
        raise InputFileError(doc.path, parsed.line, str(exc)) from None
    return ParsedRequirement(req, parsed.hashes, parsed.file, parsed.line, parsed.is_constraint)


def _group_requirements(
    doc: TomlDocument,
    dep_groups: dict[str, Any],
    known_groups: dict[NormalizedName, str],
    key: NormalizedName,
    chain: tuple[str, ...],
) -> list[ParsedRequirement]:
    """The requirements of one PEP 735 group, includes expanded."""
    actual = known_groups[key]
    if key in chain:
        cycle = " -> ".join((*chain, key))
        raise doc.error(actual, f"[dependency-groups] include a group in itself: {cycle}", key=True)
    entries = dep_groups[actual]
    dotted = f"dependency-groups.{actual}"
    if not isinstance(entries, list):
        raise doc.error(actual, f"{dotted} must be an array", key=True)
    out: list[ParsedRequirement] = []
    for entry in entries:
        if isinstance(entry, str):
            out.append(_parse(doc, entry, dotted))
        elif (
            isinstance(entry, dict)
            and set(entry) == {"include-group"}
            and isinstance(entry["include-group"], str)
        ):
            included = canonicalize_name(entry["include-group"])
            if included not in known_groups:
                raise doc.error(
                    entry["include-group"],
                    f"{dotted} includes unknown group {entry['include-group']!r}; "
                    f"known: {_known(known_groups.values())}",
                )
            out.extend(_group_requirements(doc, dep_groups, known_groups, included, (*chain, key)))
        else:
            raise doc.error(
                actual,
                f"{dotted}: {entry!r} is neither a requirement string nor "
                '{include-group = "NAME"}',
                key=True,
            )
    return out
