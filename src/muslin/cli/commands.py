"""The list of commands the ``muslin`` group offers (one module per command)."""

from __future__ import annotations

import click

from muslin.cli import dockerfile_cmd, inspect_cmd, install_cmd, plan_cmd

ALL: list[click.Command] = [
    inspect_cmd.command,
    plan_cmd.command,
    dockerfile_cmd.command,
    install_cmd.command,
]
