"""``muslin install IMAGE [REQUIREMENT]... --tag REPO:TAG``: plan, perform in a container, commit.

Every input, index, target and venv option of ``muslin plan`` applies.  Docker
failures (daemon unreachable, a step in the container or the verification
failing) exit with 10 and one error line; nothing is committed then, and the
install container is always removed.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import Any

import click

from muslin.cli.options import plan_options, request_from_options, split_plan_options
from muslin.errors import UsageError
from muslin.install.commit import parse_tag
from muslin.install.console import InstallConsole
from muslin.install.container import InstallOptions, install_plan
from muslin.install.dryrun import describe_install
from muslin.install.fetch import DEFAULT_JOBS
from muslin.install.prestart import Prestart
from muslin.install.signals import sigterm_as_interrupt
from muslin.install.steps import INSTALLERS
from muslin.plan.planner import PlanRequest, make_plan


def _index_urls(request: PlanRequest) -> list[str]:
    urls = [url for _name, url in request.indexes]
    if request.default_index:
        urls.append(request.default_index)
    urls.extend(request.find_links)
    return urls


@click.command(name="install")
@click.argument("image")
@plan_options
@click.option("-t", "--tag", metavar="REPO:TAG", help="Name of the committed image (required unless --dry-run).")
@click.option(
    "--network",
    metavar="MODE",
    help="Docker network for the install container (default: none; e.g. bridge, host).",
)
@click.option("--jobs", type=click.IntRange(1, 64), default=DEFAULT_JOBS, show_default=True, help="Parallel downloads.")
@click.option(
    "--installer",
    type=click.Choice(INSTALLERS),
    default="auto",
    show_default=True,
    help="How wheels are installed in the container: auto (the image's pip when it has one), "
    "pip, or installer (the installer library, copied in).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan's install steps; run and download nothing.")
def command(
    image: str, tag: str | None, network: str | None, jobs: int, installer: str, dry_run: bool, **kwargs: Any
) -> None:
    """Perform the plan for IMAGE in a container and commit the result as a new image.

    \b
    Wheels are downloaded on this host (sha256 verified) and copied into a
    container started from IMAGE without network; they are installed with the
    image's own Python (pip, or the installer library when the image has no pip),
    verified (requirements check, import of every installed module) and the
    container is committed as --tag with labels org.muslin.version,
    org.muslin.plan-hash and org.muslin.base-digest.

    \b
    DOCKER_HOST and Docker contexts (DOCKER_CONTEXT, docker context use) are honoured.
    MUSLIN_TIMINGS=1 shows the time elapsed at each step.
    Exit codes: as for muslin plan, and 10 for a Docker failure.
    """
    started = time.perf_counter() if os.environ.get("MUSLIN_TIMINGS") else None
    if not tag and not dry_run:
        raise UsageError("muslin install needs --tag REPO:TAG (the name of the committed image)")
    if tag:
        parse_tag(tag)
    plan_kwargs, _own = split_plan_options(kwargs)
    request = request_from_options(image, **plan_kwargs)
    extra = ["--tag", tag] if tag else []
    if installer != "auto":
        extra += ["--installer", installer]
    request = replace(request, command_name="install", extra_args=tuple(extra))
    with sigterm_as_interrupt():
        prestart = None if dry_run else _prestart(image, network, request.platform, installer)
        try:
            _plan_and_install(request, tag, network, jobs, installer, dry_run, prestart, InstallConsole(started=started))
        finally:
            if prestart is not None:
                prestart.discard()
    sys.stdout.flush()


def _prestart(image: str, network: str | None, platform: str | None, installer: str) -> Prestart | None:
    """Start the container while planning, for an image the daemon may hold (see :mod:`muslin.install.prestart`)."""
    reference = image.strip()
    scheme, sep, rest = reference.partition(":")
    if sep and scheme in ("docker", "registry"):
        reference = rest
    elif sep and scheme in ("docker-archive", "oci-dir", "oci-archive", "dir"):
        return None
    return Prestart(reference, network, platform, warm_pip=installer != "installer").start()


def _plan_and_install(
    request: PlanRequest,
    tag: str | None,
    network: str | None,
    jobs: int,
    installer: str,
    dry_run: bool,
    prestart: Prestart | None,
    console: InstallConsole,
) -> None:
    outcome = make_plan(
        request, view=prestart.rootfs_view if prestart is not None else None, preload_http=not dry_run
    )
    if console.started is not None:
        console.step("plan made")
    for note in outcome.notes:
        click.echo(f"muslin: {note}", err=True)
    for warning in outcome.plan.warnings:
        click.echo(f"muslin: warning: {warning}", err=True)
    options = InstallOptions(tag=tag or "", network=network, jobs=jobs, offline=request.offline, installer=installer)
    if dry_run:
        for line in describe_install(outcome.plan, options):
            click.echo(line)
        return
    from muslin.install.fetch import client_for

    urls = [*_index_urls(request), *outcome.direct_urls]
    http = client_for(outcome.plan, offline=request.offline, urls=urls)
    try:
        install_plan(outcome.plan, options, http=http, console=console, prestart=prestart)
    finally:
        http.close()
