"""The commands the ``muslin`` group offers (one module per command), loaded on demand.

:data:`COMMANDS` maps each command name to the module defining its ``command``
and its one-line help, so ``muslin --help`` lists every command without
importing any of them and ``muslin plan`` imports only the plan command.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": (
        "muslin.cli.inspect_cmd",
        "Report what IMAGE already contains, read from its layers without running it.",
    ),
    "plan": (
        "muslin.cli.plan_cmd",
        "Resolve requirements for IMAGE's exact target and show what happens to every package.",
    ),
    "dockerfile": (
        "muslin.cli.dockerfile_cmd",
        "Render the plan for IMAGE as a Dockerfile that installs exactly that plan.",
    ),
    "install": (
        "muslin.cli.install_cmd",
        "Perform the plan for IMAGE in a container and commit the result as a new image.",
    ),
}
"""Command name -> (module with a ``command`` attribute, short help), in listing order."""


def load(name: str) -> click.Command:
    """Import the module of command ``name`` and return its click command."""
    module = importlib.import_module(COMMANDS[name][0])
    command: click.Command = module.command
    return command


def __getattr__(name: str) -> Any:
    if name == "ALL":  # every command, imported (for callers that want the objects)
        return [load(n) for n in COMMANDS]
    raise AttributeError(name)
