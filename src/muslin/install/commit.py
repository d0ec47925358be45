"""Commit the install container as the new image: the base image's config, muslin's labels."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from muslin import __version__
from muslin.errors import DockerError, UsageError
from muslin.install.runner import docker_message
from muslin.install.steps import CONTAINER_LABEL
from muslin.plan.model import Plan

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Docker's PATH for images that set none."""

IMAGE_ROLE = "image"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?/)"
_REPOSITORY = re.compile(rf"^{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def parse_tag(reference: str) -> tuple[str, str]:
    """``repo[:tag]`` -> (repository, tag); ``latest`` when no tag; UsageError when malformed."""
    ref = reference.strip()
    repository, tag = ref, "latest"
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        repository, tag = ref[:colon], ref[colon + 1 :]
    if "@" in ref or not _REPOSITORY.match(repository) or not _TAG.match(tag):
        raise UsageError(f"--tag expects an image reference like myapp:py, got {reference!r}")
    return repository, tag


def base_digest(plan: Plan, base: dict[str, Any]) -> str:
    """The plan's digest of the base image, else the daemon's repo digest, else its image ID."""
    if plan.image.digest:
        return plan.image.digest
    for repo_digest in base.get("RepoDigests") or ():
        if "@" in repo_digest:
            return str(repo_digest.split("@", 1)[1])
    return str(base.get("Id", ""))


def image_labels(plan: Plan, base: dict[str, Any]) -> dict[str, str]:
    return {
        "org.muslin.version": __version__,
        "org.muslin.plan-hash": plan.plan_hash(),
        "org.muslin.base-digest": base_digest(plan, base),
    }


def commit_config(base: dict[str, Any], labels: dict[str, str], venv: str | None) -> dict[str, Any]:
    """The new image's config: the base image's, plus ``labels`` and a venv's environment.

    The container ran an idle command as its entrypoint; the daemon fills empty
    fields of the commit config from the container, so an unset entrypoint is sent
    as ``[]`` and the install container's role label is overwritten.
    """
    conf = dict(base.get("Config") or {})
    if not conf.get("Entrypoint"):
        conf["Entrypoint"] = []
    merged = dict(conf.get("Labels") or {})
    merged.update(labels)
    merged[CONTAINER_LABEL] = IMAGE_ROLE
    conf["Labels"] = merged
    if venv:
        env = [e for e in (conf.get("Env") or []) if not e.startswith(("PATH=", "VIRTUAL_ENV="))]
        path = next((e[5:] for e in (conf.get("Env") or []) if e.startswith("PATH=")), DEFAULT_PATH)
        venv_bin = venv.rstrip("/") + "/bin"
        if venv_bin not in path.split(":"):
            path = f"{venv_bin}:{path}"
        conf["Env"] = [*env, f"VIRTUAL_ENV={venv}", f"PATH={path}"]
    return conf


@dataclass(frozen=True)
class CommitResult:
    image_id: str
    reference: str
    size: int
    base_size: int

    @property
    def size_delta(self) -> int:
        return self.size - self.base_size


def commit(client: Any, container_id: str, reference: str, conf: dict[str, Any], base: dict[str, Any]) -> CommitResult:
    """Commit ``container_id`` as ``reference`` with ``conf``; report the new image's size.

    Not paused: nothing runs in the container any more but its idle command.
    """
    from docker.errors import DockerException

    repository, tag = parse_tag(reference)
    try:
        response = client.api.commit(container_id, repository=repository, tag=tag, conf=conf, pause=False)
        image_id = str(response["Id"])
        attrs = client.api.inspect_image(image_id)
    except DockerException as exc:
        raise DockerError(f"committing the image failed: {docker_message(exc)}") from None
    return CommitResult(
        image_id=image_id,
        reference=f"{repository}:{tag}",
        size=int(attrs.get("Size") or 0),
        base_size=int(base.get("Size") or 0),
    )


def human_size(size: int) -> str:
    """``12.3 MB`` (decimal units, as docker prints sizes); signed for deltas."""
    sign = "-" if size < 0 else ""
    value = float(abs(size))
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{sign}{value:.0f} {unit}" if unit == "B" else f"{sign}{value:.1f} {unit}"
        value /= 1000
    return f"{sign}{value:.1f} GB"
