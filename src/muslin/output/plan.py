"""Show a plan: a table (rich on a terminal, plain columns otherwise) or JSON.

Columns: name, version, action (``keep``/``install``), source (index name or
the owner of an installed distribution), wheel file, size; then a totals line
and the plan's notes.  ``--json`` prints :meth:`Plan.to_dict`, schema
``muslin.plan/1``::

    schema          "muslin.plan/1"
    muslin_version  version that made the plan
    command         muslin command line regenerating it (credentials removed)
    image           reference, pull_reference, digest, alpine_release, has_python,
                    python_prefix, python_executable, has_pip, externally_managed,
                    from_profile (true: built-in release profile, image not read)
    target          python_version, python_full_version, musl_version, arch,
                    platform (Docker), platform_tag (musllinux_1_2_x86_64)
    venv            path (null: system site-packages), system_site_packages,
                    reason, break_system_packages
    apk_packages    apk packages to add first (["python3~3.11", "py3-pip~23.1"])
    indexes         [{name, url (no credentials), needs_credentials, kind}]
                    kind: simple | find-links | direct (name @ url requirements)
    requirements    top-level requirement strings
    inputs          [{path, sha256}] of every input file read
    items           [{name, display_name, version, action (keep|install),
                      source (index name, or owner "apk py3-x 1.0-r0" / "pip"),
                      artifact {filename, url, sha256, index, size, kind} | null,
                      requested_by ("<user>" or parent names), extras,
                      top_level, note}]
    warnings        plan-level remarks
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from muslin.plan.model import Action, Plan, PlanItem

COLUMNS = ("name", "version", "action", "source", "wheel", "size")


def human_size(size: int | None) -> str:
    """``1.2 MB`` style (powers of 1000, as pip and uv print)."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _row(item: PlanItem) -> tuple[str, str, str, str, str, str]:
    wheel = item.artifact.filename if item.artifact else "-"
    size = human_size(item.artifact.size) if item.artifact else "-"
    return (item.display_name or item.name, item.version, item.action.value, item.source, wheel, size)


def totals_line(plan: Plan) -> str:
    """``3 to install, 1 kept, 4.2 MB to download`` (sizes the index did not give are noted)."""
    installs = plan.installs
    known = [i.artifact.size for i in installs if i.artifact and i.artifact.size is not None]
    unknown = len(installs) - len(known)
    text = f"{len(installs)} to install, {len(plan.keeps)} kept, {human_size(sum(known))} to download"
    if unknown:
        text += f" (size unknown for {unknown})"
    return text


def header_line(plan: Plan) -> str:
    """``Plan for alpine:3.18 (CPython 3.11.6, musllinux_1_2_x86_64), venv /opt/venv``."""
    where = f"venv {plan.venv.path}" if plan.venv.path else "system site-packages"
    profile = ", built-in profile" if plan.image.from_profile else ""
    return f"Plan for {plan.image.reference} ({plan.target.describe()}{profile}), installing into {where}"


def note_lines(plan: Plan) -> list[str]:
    """Per-item notes and plan warnings, one line each."""
    lines = [f"{i.name}: {i.note}" for i in plan.items if i.note]
    if plan.apk_packages:
        lines.append("apk add first: " + " ".join(plan.apk_packages))
    if plan.venv.reason:
        lines.append(f"venv: {plan.venv.reason}")
    lines.extend(plan.warnings)
    return lines


def plain_table(plan: Plan) -> str:
    """The table as aligned plain-text columns."""
    rows = [tuple(c.upper() for c in COLUMNS)] + [_row(i) for i in plan.items]
    widths = [max(len(r[c]) for r in rows) for c in range(len(COLUMNS))]
    out = []
    for row in rows:
        cells = [row[c].ljust(widths[c]) if c < len(COLUMNS) - 1 else row[c].rjust(widths[c]) for c in range(len(COLUMNS))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def render_plain(plan: Plan) -> str:
    """Everything ``muslin plan`` prints to a non-terminal: header, table, totals, notes."""
    parts = [header_line(plan), ""]
    parts.append(plain_table(plan) if plan.items else "(nothing to install)")
    parts.append("")
    parts.append(totals_line(plan))
    parts.extend(note_lines(plan))
    return "\n".join(parts) + "\n"


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2) + "\n"


def print_plan(plan: Plan, stream: TextIO, *, tty: bool | None = None) -> None:
    """Print the plan to ``stream``: rich table on a terminal, plain columns otherwise."""
    is_tty = stream.isatty() if tty is None else tty
    if not is_tty:
        stream.write(render_plain(plan))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, highlight=False)
    console.print(header_line(plan), markup=False)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in COLUMNS:
        table.add_column(
            column.upper(),
            justify="right" if column == "size" else "left",
            overflow="fold",
            no_wrap=column in ("name", "version", "action", "size"),
        )
    for item in plan.items:
        style = "green" if item.action is Action.INSTALL else "dim"
        table.add_row(*_row(item), style=style)
    console.print(table)
    console.print(totals_line(plan), markup=False, style="bold")
    for line in note_lines(plan):
        console.print(line, markup=False)


def summarize(plan: Plan) -> Sequence[str]:
    """Short lines for other commands' logs: the totals and the notes."""
    return [totals_line(plan), *note_lines(plan)]
