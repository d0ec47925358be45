"""Registry credentials: environment variables and Docker's ``config.json`` (with its helpers).

Lookup order for a registry host:

1. ``MUSLIN_REGISTRY_USERNAME`` / ``MUSLIN_REGISTRY_PASSWORD`` (both set);
2. ``credHelpers[host]`` -> ``docker-credential-<helper> get``;
3. ``credsStore`` -> ``docker-credential-<store> get``;
4. ``auths[host]``: base64 ``auth``, or ``username``/``password``, plus ``identitytoken``.

``$DOCKER_CONFIG/config.json`` is read (default ``~/.docker/config.json``).
Docker Hub's key is ``https://index.docker.io/v1/``.  Secrets never reach a
repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
ENV_USERNAME = "MUSLIN_REGISTRY_USERNAME"
ENV_PASSWORD = "MUSLIN_REGISTRY_PASSWORD"
HELPER_TIMEOUT = 30.0
_HELPER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Credentials:
    """A username and secret for one registry; the repr never shows them."""

    username: str = field(repr=False)
    password: str = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)
    """An OAuth2 refresh token (``identitytoken``), used at the bearer realm instead of basic auth."""
    source: str = "unknown"
    """Where they came from, e.g. ``environment``, ``config auths``, ``helper docker-credential-x``."""

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, secret=<redacted>)"

    __str__ = __repr__


CredentialProvider = Callable[[], "Credentials | None"]


def docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def config_keys(registry: str) -> list[str]:
    """The ``config.json`` keys that may hold credentials for ``registry``, best first."""
    host = registry.lower()
    if host in DOCKER_HUB_HOSTS:
        return [DOCKER_HUB_KEY, "index.docker.io", "docker.io", "registry-1.docker.io"]
    return [registry, f"https://{registry}", f"http://{registry}"]


def _key_host(key: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000`` (lower-cased)."""
    text = key.strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text.split("/", 1)[0]


def _matching_key(mapping: Mapping[str, Any], registry: str) -> str | None:
    """The key of ``mapping`` naming ``registry`` (exact candidates first, then by host)."""
    for key in config_keys(registry):
        if key in mapping:
            return key
    wanted = {_key_host(k) for k in config_keys(registry)}
    for key in mapping:
        if _key_host(key) in wanted:
            return key
    return None


def _from_auth_entry(entry: Any) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            username, password = decoded.split(":", 1)
    token = entry.get("identitytoken")
    token = token if isinstance(token, str) and token else None
    if not (isinstance(username, str) and isinstance(password, str)):
        return None
    if not (username and password) and token is None:
        return None
    return Credentials(username, password, token, source="config auths")


def run_helper(helper: str, server_url: str, env: Mapping[str, str] | None = None) -> Credentials | None:
    """``docker-credential-<helper> get`` for ``server_url``; None if absent or it has nothing."""
    if not _HELPER_NAME.match(helper):
        return None
    program = f"docker-credential-{helper}"
    env = os.environ if env is None else env
    executable = shutil.which(program, path=env.get("PATH"))
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, "get"],
            input=server_url.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    username, secret = data.get("Username"), data.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    if username == "<token>":
        return Credentials("", "", secret, source=f"helper {program}")
    return Credentials(username, secret, None, source=f"helper {program}")


def _from_helper(helper: str, registry: str, env: Mapping[str, str]) -> Credentials | None:
    for key in config_keys(registry)[:2]:
        found = run_helper(helper, key, env)
        if found is not None:
            return found
    return None


def load_credentials(registry: str, env: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials for ``registry`` (``docker.io``, ``host:5000``), or None (anonymous)."""
    env = os.environ if env is None else env
    username, password = env.get(ENV_USERNAME), env.get(ENV_PASSWORD)
    if username and password:
        return Credentials(username, password, source="environment")
    path = docker_config_path(env)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        key = _matching_key(helpers, registry)
        if key is not None and isinstance(helpers[key], str):
            return _from_helper(helpers[key], registry, env)
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        found = _from_helper(store, registry, env)
        if found is not None:
            return found
    auths = config.get("auths")
    if isinstance(auths, dict):
        key = _matching_key(auths, registry)
        if key is not None:
            return _from_auth_entry(auths[key])
    return None


def credential_provider(registry: str, env: Mapping[str, str] | None = None) -> CredentialProvider:
    """A memoised, lazy lookup: helpers only run when a registry actually asks for credentials."""
    cache: list[Credentials | None] = []

    def provide() -> Credentials | None:
        if not cache:
            cache.append(load_credentials(registry, env))
        return cache[0]

    return provide
