"""``WWW-Authenticate`` challenges and the bearer-token / basic authorization they call for."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from muslin.errors import AuthenticationError, NetworkError
from muslin.image.reference import is_loopback_registry
from muslin.image.registry.credentials import Credentials

Send = Callable[[httpx.Request], httpx.Response]
"""Sends one request with the client's retry policy (never raises on HTTP status)."""


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: a lower-case scheme and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _read_token(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in ' \t,="':
        i += 1
    return text[start:i], i


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; backslash escapes honoured."""
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i


def parse_www_authenticate(value: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (RFC 7235), possibly holding several challenges."""
    challenges: list[Challenge] = []
    current: Challenge | None = None
    i = 0
    while i < len(value):
        i = _skip_space(value, i)
        if i < len(value) and value[i] == ",":
            i += 1
            continue
        token, i = _read_token(value, i)
        if not token:
            i += 1
            continue
        j = _skip_space(value, i)
        if j < len(value) and value[j] == "=" and current is not None:
            j = _skip_space(value, j + 1)
            if j < len(value) and value[j] == '"':
                param_value, i = _read_quoted(value, j)
            else:
                param_value, i = _read_token(value, j)
            current.params[token.lower()] = param_value
            continue
        current = Challenge(token.lower())
        challenges.append(current)
        i = j
    return challenges


def basic_authorization(credentials: Credentials) -> str:
    """The ``Authorization`` header value for HTTP basic auth."""
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _is_loopback_url(url: str) -> bool:
    return is_loopback_registry(urlsplit(url).netloc.rpartition("@")[2])


def fetch_bearer_token(
    send: Send,
    challenge: Challenge,
    scope: str,
    credentials: Credentials | None,
    host: str,
) -> str:
    """Ask the challenge's realm for a token granting ``scope``; anonymous when no credentials.

    Raises :class:`AuthenticationError` when the realm refuses, :class:`NetworkError`
    when it cannot be reached.  Credentials are only sent over HTTPS (or to loopback).
    """
    realm = challenge.realm
    if not realm or urlsplit(realm).scheme not in ("http", "https"):
        raise AuthenticationError(f"{host}: bearer challenge without a usable realm")
    if credentials is not None and urlsplit(realm).scheme != "https" and not _is_loopback_url(realm):
        raise AuthenticationError(
            f"{host}: refusing to send credentials to a plain-HTTP token realm ({urlsplit(realm).netloc})"
        )
    wanted_scope = challenge.scope or scope
    params: dict[str, str] = {}
    if challenge.service:
        params["service"] = challenge.service
    if wanted_scope:
        params["scope"] = wanted_scope
    if credentials is not None and credentials.identity_token:
        form = dict(params, grant_type="refresh_token", client_id="muslin",
                    refresh_token=credentials.identity_token)
        request = httpx.Request("POST", realm, data=form)
    else:
        headers = {}
        if credentials is not None:
            headers["Authorization"] = basic_authorization(credentials)
            params["account"] = credentials.username
        request = httpx.Request("GET", realm, params=params, headers=headers)
    response = send(request)
    try:
        response.read()
    finally:
        response.close()
    if response.status_code in (401, 403):
        who = "credentials" if credentials is not None else "anonymous token request"
        raise AuthenticationError(f"{host}: token service refused the {who} (HTTP {response.status_code})")
    if response.status_code != 200:
        raise NetworkError(f"{host}: token service answered HTTP {response.status_code}")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise NetworkError(f"{host}: token service answered something that is not JSON") from None
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise AuthenticationError(f"{host}: token service answered without a token")
    return "Bearer " + token
