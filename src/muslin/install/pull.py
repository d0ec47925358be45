"""Make sure the base image is in the daemon: pull it when missing (progress bar on a TTY)."""

from __future__ import annotations

from typing import Any

from muslin.errors import DockerError, ImageNotFoundError
from muslin.install.console import InstallConsole
from muslin.install.runner import docker_message


def local_image(client: Any, reference: str) -> dict[str, Any] | None:
    """``docker image inspect`` of ``reference``, or None when the daemon does not have it."""
    from docker.errors import DockerException, ImageNotFound

    try:
        attrs: dict[str, Any] = client.api.inspect_image(reference)
    except ImageNotFound:
        return None
    except DockerException as exc:
        raise DockerError(f"cannot inspect image {reference}: {docker_message(exc)}") from None
    return attrs


def ensure_image(client: Any, reference: str, platform: str | None, console: InstallConsole) -> dict[str, Any]:
    """The image's inspect data, pulling ``reference`` first when the daemon lacks it."""
    attrs = local_image(client, reference)
    if attrs is not None:
        return attrs
    console.step(f"pulling {reference}" + (f" ({platform})" if platform else ""))
    _pull(client, reference, platform, console)
    attrs = local_image(client, reference)
    if attrs is None:
        raise ImageNotFoundError(f"image {reference} is not in the daemon after pulling it")
    return attrs


def _pull(client: Any, reference: str, platform: str | None, console: InstallConsole) -> None:
    from docker.errors import DockerException
    from docker.utils import parse_repository_tag

    repository, tag = parse_repository_tag(reference)
    try:
        events = client.api.pull(repository, tag=tag or "latest", stream=True, decode=True, platform=platform)
        if console.interactive:
            _show_progress(events, console, reference)
        else:
            for event in events:
                _check(event, reference)
    except DockerException as exc:
        message = docker_message(exc)
        if "not found" in message or "manifest unknown" in message:
            raise ImageNotFoundError(f"cannot pull {reference}: {message}") from None
        raise DockerError(f"cannot pull {reference}: {message}") from None


def _check(event: dict[str, Any], reference: str) -> None:
    if "error" in event:
        message = " ".join(str(event.get("error")).split())
        raise DockerError(f"cannot pull {reference}: {message}")


def _show_progress(events: Any, console: InstallConsole, reference: str) -> None:
    """One bar per layer, fed by the pull stream's ``progressDetail``."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    tasks: dict[str, Any] = {}
    totals: dict[str, float] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=Console(file=console.err),
        transient=True,
    ) as bar:
        for event in events:
            _check(event, reference)
            layer = event.get("id")
            status = str(event.get("status", ""))
            if not layer or status.startswith(("Pulling from", "Digest", "Status")):
                continue
            detail = event.get("progressDetail") or {}
            if layer not in tasks:
                tasks[layer] = bar.add_task(f"{layer} {status}", total=None)
            task = tasks[layer]
            if status in ("Downloading", "Extracting") and detail.get("total"):
                totals[layer] = float(detail["total"])
                bar.update(
                    task,
                    description=f"{layer} {status.lower()}",
                    total=totals[layer],
                    completed=float(detail.get("current", 0)),
                )
            elif status in ("Pull complete", "Already exists", "Download complete"):
                total = totals.get(layer, 1.0)
                bar.update(task, description=f"{layer} {status.lower()}", total=total, completed=total)
            else:
                bar.update(task, description=f"{layer} {status.lower()}")
