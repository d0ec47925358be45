"""``muslin dockerfile IMAGE [REQUIREMENT]... -o Dockerfile``: the plan as a Dockerfile.

Takes every option of ``muslin plan`` (:func:`~muslin.cli.options.plan_options`)
plus the Dockerfile options below; writes the Dockerfile and one
``requirements.<index>.txt`` per index beside it, only after planning and
rendering succeeded, each file atomically.  ``muslin plan --dockerfile PATH``
reuses :func:`plan_dockerfile_writer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from muslin.cli.options import plan_options, request_from_options, split_plan_options
from muslin.render.dockerfile import (
    DockerfileOptions,
    RenderedDockerfile,
    validate_options,
    write_dockerfile,
)

if TYPE_CHECKING:
    from muslin.plan.planner import PlanOutcome

F = TypeVar("F", bound=Callable[..., Any])

_DOCKERFILE_OPTIONS: list[Callable[[F], F]] = [
    click.option(
        "--context",
        "context",
        metavar="DIR",
        help="The docker build context (default: the Dockerfile's directory); must contain it.",
    ),
    click.option(
        "--buildkit/--no-buildkit",
        default=True,
        show_default=True,
        help="Assume BuildKit: RUN --mount for the pip cache, requirements files and secrets.",
    ),
    click.option(
        "--compile/--no-compile",
        "compile_",
        default=False,
        show_default=True,
        help="Byte-compile installed packages (off, as in the official images).",
    ),
    click.option("--pip-check/--no-pip-check", default=True, show_default=True, help="Run pip check after installing."),
    click.option("--user", "user", metavar="NAME[:UID]", help="Create NAME (numeric UID, default 10001) and run as it."),
    click.option("--workdir", metavar="DIR", help="WORKDIR of the final image (absolute)."),
    click.option("--copy", "copies", multiple=True, metavar="SRC:DEST", help="COPY SRC (in the context) to DEST (repeatable)."),
    click.option("--cmd", metavar="CMD", help="CMD: a JSON array (exec form) or a shell command line."),
    click.option("--template", type=click.Path(dir_okay=False, path_type=Path), help="Render this Jinja2 template instead of the built-in one."),
    click.option("--base-image", metavar="REF", help="Default of ARG BASE_IMAGE (default: IMAGE pinned by digest)."),
    click.option("--pin-digest/--no-pin-digest", default=True, show_default=True, help="Pin the base image by digest when known."),
]


def dockerfile_options(func: F) -> F:
    """Add the Dockerfile-specific options (everything but ``-o``) to a click command."""
    for decorator in reversed(_DOCKERFILE_OPTIONS):
        func = decorator(func)
    return func


def options_from_kwargs(kwargs: dict[str, Any]) -> DockerfileOptions:
    """:class:`DockerfileOptions` from ``dockerfile_options`` keyword values, validated."""
    options = DockerfileOptions(
        buildkit=bool(kwargs.get("buildkit", True)),
        compile=bool(kwargs.get("compile_", False)),
        pip_check=bool(kwargs.get("pip_check", True)),
        user=kwargs.get("user"),
        workdir=kwargs.get("workdir"),
        copies=tuple(kwargs.get("copies") or ()),
        cmd=kwargs.get("cmd"),
        template=kwargs.get("template"),
        base_image=kwargs.get("base_image"),
        pin_digest=bool(kwargs.get("pin_digest", True)),
    )
    validate_options(options)
    return options


def regenerate_args(options: DockerfileOptions, context: str | None) -> list[str]:
    """The Dockerfile options as command-line arguments (for the regenerate command)."""
    args: list[str] = []
    if context:
        args += ["--context", context]
    if not options.buildkit:
        args.append("--no-buildkit")
    if options.compile:
        args.append("--compile")
    if not options.pip_check:
        args.append("--no-pip-check")
    if options.user:
        args += ["--user", options.user]
    if options.workdir:
        args += ["--workdir", options.workdir]
    for copy in options.copies:
        args += ["--copy", copy]
    if options.cmd:
        args += ["--cmd", options.cmd]
    if options.template:
        args += ["--template", str(options.template)]
    if options.base_image:
        args += ["--base-image", options.base_image]
    if not options.pin_digest:
        args.append("--no-pin-digest")
    return args


def report(path: Path | str, rendered: RenderedDockerfile) -> None:
    """Tell the user (stderr) what was written and how to build it."""
    target = Path(path)
    if target.is_dir():
        target = target / "Dockerfile"
    folders = sorted({name.split("/", 1)[0] + "/" for name in rendered.copied_files})
    names = ", ".join([*sorted(rendered.side_files), *folders])
    click.echo(f"muslin: wrote {target}" + (f" and, beside it, {names}" if names else ""), err=True)
    for warning in rendered.warnings:
        click.echo(f"muslin: warning: {warning}", err=True)
    if rendered.secrets:
        ids = ", ".join(s.id for s in rendered.secrets)
        click.echo(f"muslin: the build needs BuildKit secret(s) {ids}: see the file's header", err=True)


@click.command(name="dockerfile")
@click.argument("image")
@plan_options
@click.option(
    "-o",
    "--output",
    default="Dockerfile",
    show_default=True,
    metavar="PATH",
    help="Where to write the Dockerfile; requirements.<index>.txt files go beside it.",
)
@dockerfile_options
def command(image: str, output: str, context: str | None, **kwargs: Any) -> None:
    """Render the plan for IMAGE as a Dockerfile that installs exactly that plan.

    \b
    Every option of `muslin plan` shapes the plan; the rest shape the file:
      muslin dockerfile alpine:3.18 -r pyproject.toml -o Dockerfile
      muslin dockerfile alpine:3.20 'django==5.1.5' --user app --workdir /app \\
          --copy src:/app/src --cmd '["gunicorn", "app.wsgi"]'

    \b
    One `pip install --no-deps --require-hashes` step per index, each with a
    requirements file beside the Dockerfile; private index credentials are
    BuildKit secrets (the file's header shows the `docker build --secret` line).
    Nothing is written when planning or rendering fails.

    \b
    Exit codes: as `muslin plan` (0 ok, 2 bad input, 3 image not found,
    4 network, 5 auth, 6 bad image, 7 unsatisfiable, 8 no wheel, 9 hash mismatch).
    """
    from muslin.plan.planner import make_plan

    plan_kwargs, own = split_plan_options(kwargs)
    options = options_from_kwargs(own)
    request = request_from_options(image, **plan_kwargs)
    extra = ["-o", output, *regenerate_args(options, context)]
    request = replace(request, command_name="dockerfile", extra_args=tuple(extra))
    outcome = make_plan(request)
    for note in outcome.notes:
        click.echo(f"muslin: {note}", err=True)
    rendered = write_dockerfile(outcome.plan, output, options, context=context, facts=outcome.facts)
    report(output, rendered)


def plan_dockerfile_writer(outcome: PlanOutcome, own: dict[str, Any]) -> None:
    """``muslin plan --dockerfile PATH``: a ``POST_PLAN_WRITERS`` hook (built-in Dockerfile options)."""
    path = own.get("dockerfile")
    if not path:
        return
    plan = outcome.plan
    if plan.command:
        plan = replace(plan, command=f"{plan.command} --dockerfile {_quote(path)}")
    rendered = write_dockerfile(plan, path, DockerfileOptions(), facts=outcome.facts)
    report(path, rendered)


def _quote(value: str) -> str:
    from muslin.render.templates import sh_quote

    return sh_quote(value)
