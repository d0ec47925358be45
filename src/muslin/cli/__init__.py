"""The ``muslin`` command line: a click group; each command lives in its own module."""

from __future__ import annotations

import sys

import click

from muslin import __version__
from muslin.cli.errors import run_guarded


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="muslin")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Plan and perform Python installs for Alpine Linux / musl container images.

    \b
    Shell completion (bash; zsh/fish likewise):
      eval "$(_MUSLIN_COMPLETE=bash_source muslin)"
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    from muslin.cli import commands

    for command in commands.ALL:
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_guarded(cli))
