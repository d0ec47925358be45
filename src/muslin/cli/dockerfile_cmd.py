"""``muslin dockerfile``: work in progress by the owner of this module; replaced before landing."""

from __future__ import annotations

import click


@click.command(name="dockerfile")
def command() -> None:
    """(being written)"""
