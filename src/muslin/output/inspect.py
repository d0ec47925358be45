"""Renderers for ``muslin inspect``: human summary (plain or rich), JSON, pip constraints."""

from __future__ import annotations

import json

from packaging.version import InvalidVersion, Version
from rich.console import Console
from rich.table import Table
from rich.text import Text

from muslin.facts.model import Distribution, ImageFacts, Owner, PythonInstall

FORMATS = ("text", "json", "requirements")
_LABEL_WIDTH = len("Repositories") + 2


def _os_line(facts: ImageFacts) -> str:
    release = facts.os_release
    name = release.get("PRETTY_NAME") or release.get("NAME") or release.get("ID")
    parts = [name] if name else []
    if facts.alpine_release:
        parts.append(f"(alpine-release {facts.alpine_release})")
    return " ".join(parts) if parts else "unknown (no os-release)"


def _apk_line(facts: ImageFacts) -> str:
    if facts.apk_db_path is None:
        return "no apk database"
    arch = f", arch {facts.apk_arch}" if facts.apk_arch else ""
    return f"{len(facts.apk_packages)} packages in /{facts.apk_db_path}{arch}"


def _python_lines(python: PythonInstall, primary: bool) -> list[str]:
    version = python.full_version or python.version
    exe = "/" + python.executables[0] if python.executables else "/" + python.stdlib
    owner = python.owner.label if python.owner.kind != "unknown" else "not from apk"
    source = ""
    if python.full_version_source and python.full_version_source != python.owner.label:
        source = f"; version from {python.full_version_source}"
    lines = [f"{version} {exe} ({owner}{source}){' [primary]' if primary else ''}"]
    sites = ", ".join("/" + s for s in python.site_packages) or "none"
    lines.append(f"  site-packages: {sites}")
    pep668 = "yes (EXTERNALLY-MANAGED)" if python.externally_managed else "no"
    lines.append(f"  PEP 668 externally managed: {pep668}; pip: {'yes' if python.has_pip else 'no'}")
    return lines


def summary(facts: ImageFacts) -> list[tuple[str, list[str]]]:
    """The summary as ``(label, lines)`` rows, shared by the plain and rich renderers."""
    rows: list[tuple[str, list[str]]] = [("Image", [facts.reference])]
    if facts.canonical_reference and facts.canonical_reference != facts.reference:
        rows.append(("Reference", [facts.canonical_reference]))
    rows.append(("Source", [facts.source]))
    if facts.digest:
        rows.append(("Digest", [facts.digest]))
    rows.append(("Platform", [facts.config.platform]))
    rows.append(("OS", [_os_line(facts)]))
    rows.append(("apk", [_apk_line(facts)]))
    if facts.apk_repositories:
        rows.append(("Repositories", list(facts.apk_repositories)))
    musl = f"{facts.musl_version} ({facts.musl_version_source})" if facts.musl_version else "unknown"
    rows.append(("musl", [musl]))
    primary = facts.python
    if not facts.pythons:
        rows.append(("Python", ["none found"]))
    for python in facts.pythons:
        rows.append(("Python", _python_lines(python, primary is python and len(facts.pythons) > 1)))
    for venv in facts.venvs:
        system = "with" if venv.system_site_packages else "without"
        line = f"/{venv.path} (Python {venv.version}, {system} system site-packages){' [active]' if venv.active else ''}"
        rows.append(("venv", [line, f"  site-packages: /{venv.site_packages}; pip: {'yes' if venv.has_pip else 'no'}"]))
    return rows


def _table_rows(facts: ImageFacts) -> tuple[list[str], list[list[str]]]:
    sites = {d.site_packages for d in facts.distributions}
    headers = ["NAME", "VERSION", "FORM", "OWNER"]
    if len(sites) > 1:
        headers.append("SITE-PACKAGES")
    rows = []
    for dist in facts.distributions:
        row = [dist.name, dist.version, dist.form, dist.owner.label]
        if len(sites) > 1:
            row.append("/" + dist.site_packages)
        rows.append(row)
    return headers, rows


def render_text(facts: ImageFacts) -> str:
    """Plain aligned text: the summary, then the distribution table."""
    rows = summary(facts)
    width = max(_LABEL_WIDTH, *(len(label) + 2 for label, _ in rows))
    out: list[str] = []
    for label, lines in rows:
        for i, line in enumerate(lines):
            out.append(f"{(label if i == 0 else ''):<{width}}{line}".rstrip())
    out.append("")
    headers, table = _table_rows(facts)
    if not table:
        out.append("Distributions: none")
        return "\n".join(out) + "\n"
    out.append(f"Distributions ({len(table)}):")
    widths = [max(len(r[i]) for r in [headers, *table]) for i in range(len(headers))]
    for row in [headers, *table]:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out) + "\n"


def print_rich(facts: ImageFacts, console: Console) -> None:
    """The same content as :func:`render_text`, as rich tables for a terminal."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, lines in summary(facts):
        grid.add_row(Text(label), Text("\n".join(lines)))
    console.print(grid)
    console.print()
    headers, rows = _table_rows(facts)
    if not rows:
        console.print("Distributions: none")
        return
    table = Table(title=Text(f"Distributions ({len(rows)})"), title_justify="left")
    for header in headers:
        table.add_column(header.lower().replace("-", " "), overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def render_json(facts: ImageFacts, with_files: bool = False) -> str:
    """``ImageFacts.to_dict()`` as indented JSON (``with_files``: apk file lists too)."""
    return json.dumps(facts.to_dict(with_files=with_files), indent=2, ensure_ascii=False) + "\n"


def _owner_comment(owner: Owner) -> str:
    if owner.kind == "apk":
        return owner.label
    if owner.kind == "installer":
        return f"installer {owner.name}"
    return "owner unknown"


def _pin(dist: Distribution) -> str:
    try:
        Version(dist.version)
    except InvalidVersion:
        return f"{dist.name}==={dist.version}"
    return f"{dist.name}=={dist.version}"


def render_requirements(facts: ImageFacts) -> str:
    """``name==version  # owner`` lines for the primary Python's distributions, sorted.

    Usable as a pip constraints file; a version that is not PEP 440 is pinned
    with ``===``.  A distribution found twice keeps its first entry.
    """
    python = facts.python
    if python is None:
        return f"# muslin inspect {facts.reference}: no Python interpreter found\n"
    sites = set(python.site_packages)
    version = python.full_version or python.version
    exe = "/" + python.executables[0] if python.executables else "/" + python.stdlib
    lines = [f"# muslin inspect {facts.reference}: distributions of {exe} (Python {version})"]
    seen: set[str] = set()
    for dist in sorted(facts.distributions, key=lambda d: (d.canonical_name, d.metadata_path)):
        if dist.site_packages not in sites or dist.canonical_name in seen:
            continue
        seen.add(dist.canonical_name)
        if not dist.version:
            lines.append(f"# {dist.name}: version unknown  # {_owner_comment(dist.owner)}")
            continue
        lines.append(f"{_pin(dist)}  # {_owner_comment(dist.owner)}")
    return "\n".join(lines) + "\n"


def render(facts: ImageFacts, fmt: str, with_files: bool = False) -> str:
    """Render in one of :data:`FORMATS` as a string (``text`` is the plain form)."""
    if fmt == "json":
        return render_json(facts, with_files)
    if fmt == "requirements":
        return render_requirements(facts)
    return render_text(facts)
