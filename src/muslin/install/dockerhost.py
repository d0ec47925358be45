"""Connect to the Docker daemon the way the docker CLI would.

Order: ``DOCKER_HOST`` (handled by ``docker.from_env``), else the context named by
``DOCKER_CONTEXT`` or ``currentContext`` in ``$DOCKER_CONFIG/config.json``
(``~/.docker``), whose endpoint is read from ``contexts/meta/<sha256(name)>/meta.json``
(TLS material from ``contexts/tls/<sha256(name)>/docker/``).  A Podman socket
exposed through ``DOCKER_HOST`` works the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muslin.errors import DockerError

DEFAULT_TIMEOUT = 300


@dataclass(frozen=True)
class Endpoint:
    """A daemon address taken from a Docker context."""

    context: str
    host: str
    tls_dir: Path | None = None
    skip_tls_verify: bool = False


def docker_config_dir(env: Mapping[str, str]) -> Path:
    configured = env.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path(env.get("HOME", str(Path.home()))) / ".docker"


def context_endpoint(env: Mapping[str, str], config_dir: Path | None = None) -> Endpoint | None:
    """The endpoint of the current Docker context, or None (DOCKER_HOST set, or default context)."""
    if env.get("DOCKER_HOST"):
        return None
    cfg_dir = config_dir if config_dir is not None else docker_config_dir(env)
    name = env.get("DOCKER_CONTEXT")
    if not name:
        try:
            config = json.loads((cfg_dir / "config.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DockerError(f"cannot read {cfg_dir / 'config.json'}: {exc}") from None
        name = config.get("currentContext") if isinstance(config, dict) else None
    if not name or name == "default":
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_path = cfg_dir / "contexts" / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        docker_ep = meta["Endpoints"]["docker"]
        host = str(docker_ep["Host"])
    except FileNotFoundError:
        raise DockerError(f"Docker context {name!r} not found ({meta_path} is missing)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DockerError(f"Docker context {name!r}: unreadable {meta_path} ({exc})") from None
    tls_dir = cfg_dir / "contexts" / "tls" / digest / "docker"
    return Endpoint(
        context=name,
        host=host,
        tls_dir=tls_dir if tls_dir.is_dir() else None,
        skip_tls_verify=bool(docker_ep.get("SkipTLSVerify", False)),
    )


def _tls_config(endpoint: Endpoint) -> Any:
    from docker.tls import TLSConfig

    if endpoint.tls_dir is None:
        return TLSConfig(verify=not endpoint.skip_tls_verify) if endpoint.host.startswith("https") else None
    ca = endpoint.tls_dir / "ca.pem"
    cert, key = endpoint.tls_dir / "cert.pem", endpoint.tls_dir / "key.pem"
    return TLSConfig(
        client_cert=(str(cert), str(key)) if cert.is_file() and key.is_file() else None,
        ca_cert=str(ca) if ca.is_file() and not endpoint.skip_tls_verify else None,
        verify=not endpoint.skip_tls_verify,
    )


def connect(env: Mapping[str, str] | None = None, timeout: int = DEFAULT_TIMEOUT) -> Any:
    """A ``docker.DockerClient`` for the configured daemon, checked with a ping."""
    import docker
    from docker.errors import DockerException

    environ = dict(os.environ if env is None else env)
    endpoint = context_endpoint(environ)
    if endpoint is None:
        where = environ.get("DOCKER_HOST") or "the default socket"
    else:
        where = f"{endpoint.host} (context {endpoint.context})"
    try:
        if endpoint is None:
            client = docker.from_env(environment=environ, timeout=timeout)
        else:
            client = docker.DockerClient(base_url=endpoint.host, tls=_tls_config(endpoint), timeout=timeout)
        client.ping()
    except (DockerException, OSError) as exc:
        raise DockerError(f"cannot reach the Docker daemon at {where}: {_first_line(exc)}") from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


REMOVE_ATTEMPTS = 25
REMOVE_RETRY_WAIT = 0.2
"""Up to about 5 s for a container to be gone."""


def remove_container(api: Any, target: str) -> str | None:
    """Force-remove container ``target`` and wait until the daemon no longer knows it.

    Retried: the daemon may answer 409 while an exec in it is still starting, or
    report the container for a moment after accepting its removal.  Returns None
    once it is gone, else the daemon's last explanation.
    """
    import time

    from docker.errors import DockerException, NotFound

    last = "still present"
    for _ in range(REMOVE_ATTEMPTS):
        try:
            api.remove_container(target, force=True, v=True)
        except NotFound:
            return None
        except DockerException as exc:
            last = " ".join(str(getattr(exc, "explanation", None) or exc).split())
        try:
            api.inspect_container(target)
        except NotFound:
            return None
        except DockerException as exc:
            last = " ".join(str(getattr(exc, "explanation", None) or exc).split())
        time.sleep(REMOVE_RETRY_WAIT)
    return last
