"""``muslin plan IMAGE [REQUIREMENT]... [options]``: resolve for the image and show the plan.

Prints the plan table (or ``--json``) on stdout, notes on stderr, and writes
lock files with ``-o`` (by file name: ``*.txt`` -> requirements lock,
``pylock.toml``/``pylock.*.toml`` -> PEP 751).  Other commands' output
options plug in through :data:`POST_PLAN_WRITERS`: each is called with the
plan outcome and the command's keyword arguments after the plan is made.
Exit codes as documented in :mod:`muslin.errors`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from muslin.cli.options import plan_options, request_from_options, split_plan_options
from muslin.errors import UsageError

if TYPE_CHECKING:
    from muslin.plan.model import Plan
    from muslin.plan.planner import PlanOutcome


def plan_dockerfile_writer(outcome: PlanOutcome, own: dict[str, Any]) -> None:
    """``--dockerfile PATH``: :func:`muslin.cli.dockerfile_cmd.plan_dockerfile_writer`, imported when asked for."""
    if not own.get("dockerfile"):
        return
    from muslin.cli.dockerfile_cmd import plan_dockerfile_writer as write

    write(outcome, own)


PostPlanWriter = Callable[["PlanOutcome", dict[str, Any]], None]
POST_PLAN_WRITERS: list[PostPlanWriter] = [plan_dockerfile_writer]
"""Called in order after a successful plan (e.g. ``--dockerfile PATH`` adds one)."""

_PYLOCK = re.compile(r"^pylock\.([^.]+\.)?toml$")


def lock_kind(path: str) -> str:
    """``requirements`` or ``pylock`` for an ``-o`` file name; UsageError otherwise."""
    name = Path(path).name
    if _PYLOCK.match(name):
        return "pylock"
    if name.endswith(".txt"):
        return "requirements"
    raise UsageError(
        f"-o {path}: unknown output kind; use a *.txt name (requirements lock) "
        "or pylock.toml / pylock.NAME.toml (PEP 751)"
    )


def render_lock(plan: Plan, kind: str) -> str:
    from muslin.plan.lockfile import render_pylock, render_requirements_lock

    return render_pylock(plan) if kind == "pylock" else render_requirements_lock(plan)


def write_outputs(plan: Plan, outputs: tuple[str, ...]) -> list[str]:
    """Render every ``-o`` file first, then write each atomically; returns the paths written."""
    from muslin.output.files import write_atomic

    rendered = [(path, render_lock(plan, lock_kind(path))) for path in outputs]
    for path, text in rendered:
        write_atomic(path, text)
    return [path for path, _ in rendered]


@click.command(name="plan")
@click.argument("image")
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schema muslin.plan/1).")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="FILE",
    help="Write a lock file: *.txt (requirements with hashes) or pylock.toml (PEP 751). Repeatable.",
)
@click.option("--dockerfile", metavar="PATH", help="Also write the plan as a Dockerfile (see muslin dockerfile).")
def command(image: str, as_json: bool, outputs: tuple[str, ...], **kwargs: Any) -> None:
    """Resolve requirements for IMAGE's exact target and show what happens to every package.

    \b
    IMAGE: alpine:3.18, docker:NAME, docker-archive:FILE, oci-dir:DIR, oci-archive:FILE, dir:ROOTFS ...
    REQUIREMENT: requirement strings, e.g. 'django==5.1.5' 'httpx>=0.27'.

    \b
    Installed distributions (apk packages such as py3-mysqlclient) are fixed
    pins: kept when the requirements accept them.

    \b
    Exit codes: 0 ok, 2 bad input, 3 image not found, 4 network, 5 auth,
    6 bad image, 7 unsatisfiable, 8 no wheel for the target, 9 hash mismatch.
    """
    from muslin.output.plan import print_plan, render_json
    from muslin.plan.planner import make_plan

    plan_kwargs, own = split_plan_options(kwargs)
    for path in outputs:
        lock_kind(path)  # reject unknown names before any work
    request = request_from_options(image, **plan_kwargs)
    extra: list[str] = []
    for path in outputs:
        extra += ["-o", path]
    if extra:
        request = replace(request, extra_args=tuple(extra))
    outcome = make_plan(request)
    for note in outcome.notes:
        click.echo(f"muslin: {note}", err=True)
    written = write_outputs(outcome.plan, outputs)
    for writer in POST_PLAN_WRITERS:
        writer(outcome, own)
    if as_json:
        sys.stdout.write(render_json(outcome.plan))
    else:
        print_plan(outcome.plan, sys.stdout)
    for path in written:
        click.echo(f"muslin: wrote {path}", err=True)
