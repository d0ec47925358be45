"""``muslin inspect``: report what an image contains, read from its layers without running it."""

from __future__ import annotations

import sys

import click

from muslin.errors import UsageError
from muslin.facts.inspector import inspect_opened
from muslin.output.files import write_atomic
from muslin.output.inspect import FORMATS, print_rich, render


@click.command(name="inspect")
@click.argument("image")
@click.option("--platform", metavar="OS/ARCH", help="Platform to pick from a multi-platform image, e.g. linux/arm64.")
@click.option("--json", "as_json", is_flag=True, help="Shorthand for --format json.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="text (default): summary and table; json: every fact; requirements: pip constraints.",
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE atomically instead of stdout ('-': stdout).")
@click.option("--offline", is_flag=True, help="Do not use the network: local daemon, files and cached blobs only.")
@click.option("--with-files", is_flag=True, help="JSON: include every apk package's file list.")
def command(
    image: str,
    platform: str | None,
    as_json: bool,
    fmt: str | None,
    output: str | None,
    offline: bool,
    with_files: bool,
) -> None:
    """Report what IMAGE already contains, read from its layers without running it.

    Shows the OS, architecture, musl, the Python interpreter(s) with PEP 668
    status, and every installed Python distribution with its version, metadata
    form and owner (the apk package that installed it, or the installer).

    \b
    IMAGE is a reference (alpine:3.18, host:5000/ns/repo:tag, repo@sha256:...)
    or a prefixed source: registry:REF, docker:REF, docker-archive:PATH,
    oci-dir:PATH, oci-archive:PATH, dir:PATH (an unpacked root filesystem).

    \b
    --format requirements prints the primary interpreter's distributions as
    pip constraints, e.g.  mysqlclient==2.1.1  # apk py3-mysqlclient 2.1.1-r3

    \b
    Examples:
      muslin inspect python:3.11-alpine
      muslin inspect docker-archive:image.tar --json -o facts.json
      muslin inspect dir:./rootfs --format requirements > constraints.txt
    """
    if as_json and fmt not in (None, "json"):
        raise UsageError(f"--json and --format {fmt} exclude each other")
    chosen = "json" if as_json else (fmt or "text")
    if not image.strip():
        raise UsageError("IMAGE must not be empty")
    from muslin.image.open import open_image

    opened = open_image(image.strip(), platform, offline=offline)
    facts = inspect_opened(opened)
    if output is not None and output != "-":
        write_atomic(output, render(facts, chosen, with_files))
        return
    if chosen == "text" and output is None and sys.stdout.isatty():
        from rich.console import Console

        print_rich(facts, Console())
        return
    click.echo(render(facts, chosen, with_files), nl=False)
