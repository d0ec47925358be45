"""Registry credentials from the environment, Docker's config.json and real credential helpers."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from muslin.image.registry.auth import basic_authorization, parse_www_authenticate
from muslin.image.registry.credentials import (
    DOCKER_HUB_KEY,
    Credentials,
    credential_provider,
    docker_config_path,
    load_credentials,
)

HELPER = """#!/bin/sh
# A docker-credential-* helper: reads the server URL on stdin, answers JSON.
read -r server
printf '%s\\n' "$server" >> "{log}"
case "$server" in
{cases}
  *) echo "credentials not found in native keychain" >&2; exit 1 ;;
esac
"""


def write_helper(bindir: Path, name: str, answers: dict[str, tuple[str, str]], log: Path) -> None:
    """A real executable ``docker-credential-<name>`` answering for the given server URLs."""
    cases = "".join(
        f"  '{server}') printf '%s' '{json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret})}' ;;\n"
        for server, (user, secret) in answers.items()
    )
    path = bindir / f"docker-credential-{name}"
    path.write_text(HELPER.format(log=log, cases=cases))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with its own DOCKER_CONFIG and a bin dir first on PATH."""
    (tmp_path / "docker").mkdir()
    (tmp_path / "bin").mkdir()
    return {
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
    }


def write_config(env: dict[str, str], config: dict[str, object]) -> None:
    Path(env["DOCKER_CONFIG"], "config.json").write_text(json.dumps(config))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_config_path_honours_docker_config(env: dict[str, str], tmp_path: Path) -> None:
    assert docker_config_path(env) == tmp_path / "docker" / "config.json"
    assert docker_config_path({"HOME": "/nonexistent"}).name == "config.json"


def test_no_config_means_anonymous(env: dict[str, str]) -> None:
    assert load_credentials("127.0.0.1:5000", env) is None


def test_auths_base64_auth(env: dict[str, str]) -> None:
    write_config(env, {"auths": {"127.0.0.1:5000": {"auth": b64("alice:pa:ss")}}})
    creds = load_credentials("127.0.0.1:5000", env)
    assert creds is not None
    assert (creds.username, creds.password, creds.source) == ("alice", "pa:ss", "config auths")
    assert load_credentials("127.0.0.1:5001", env) is None


def test_auths_username_password_and_url_keys(env: dict[str, str]) -> None:
    write_config(env, {"auths": {"https://reg.example:5000/v2/": {"username": "bob", "password": "pw"}}})
    creds = load_credentials("reg.example:5000", env)
    assert creds is not None and (creds.username, creds.password) == ("bob", "pw")


def test_auths_identity_token(env: dict[str, str]) -> None:
    write_config(env, {"auths": {"reg.example": {"auth": b64("carol:"), "identitytoken": "refresh-1"}}})
    creds = load_credentials("reg.example", env)
    assert creds is not None and creds.identity_token == "refresh-1"


def test_docker_hub_key(env: dict[str, str]) -> None:
    write_config(env, {"auths": {DOCKER_HUB_KEY: {"auth": b64("hubuser:hubpass")}}})
    for name in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        creds = load_credentials(name, env)
        assert creds is not None and creds.username == "hubuser"


def test_environment_variables_win(env: dict[str, str]) -> None:
    write_config(env, {"auths": {"127.0.0.1:5000": {"auth": b64("alice:x")}}})
    env.update(MUSLIN_REGISTRY_USERNAME="envuser", MUSLIN_REGISTRY_PASSWORD="envpass")
    creds = load_credentials("127.0.0.1:5000", env)
    assert creds is not None
    assert (creds.username, creds.password, creds.source) == ("envuser", "envpass", "environment")
    env["MUSLIN_REGISTRY_PASSWORD"] = ""
    creds = load_credentials("127.0.0.1:5000", env)
    assert creds is not None and creds.username == "alice"


def test_cred_helper_real_process(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    write_helper(Path(env["PATH"].split(os.pathsep)[0]), "mustest", {"127.0.0.1:5000": ("helperuser", "helpersecret")}, log)
    write_config(env, {"credHelpers": {"127.0.0.1:5000": "mustest"}, "auths": {"127.0.0.1:5000": {"auth": b64("no:no")}}})
    creds = load_credentials("127.0.0.1:5000", env)
    assert creds is not None
    assert (creds.username, creds.password) == ("helperuser", "helpersecret")
    assert creds.source == "helper docker-credential-mustest"
    assert log.read_text().splitlines() == ["127.0.0.1:5000"]


def test_cred_helper_docker_hub_gets_index_url(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    write_helper(Path(env["PATH"].split(os.pathsep)[0]), "hub", {DOCKER_HUB_KEY: ("<token>", "identity-xyz")}, log)
    write_config(env, {"credHelpers": {"docker.io": "hub"}})
    creds = load_credentials("docker.io", env)
    assert creds is not None and creds.identity_token == "identity-xyz"
    assert log.read_text().splitlines() == [DOCKER_HUB_KEY]


def test_creds_store_then_auths_fallback(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    write_helper(Path(env["PATH"].split(os.pathsep)[0]), "store", {"a.example": ("storeuser", "storepw")}, log)
    write_config(env, {"credsStore": "store", "auths": {"b.example": {"auth": b64("fileuser:filepw")}}})
    a = load_credentials("a.example", env)
    b = load_credentials("b.example", env)
    assert a is not None and a.username == "storeuser"
    assert b is not None and b.username == "fileuser"  # helper said "not found"
    assert "b.example" in log.read_text()


def test_missing_helper_and_bad_helper_name(env: dict[str, str]) -> None:
    write_config(env, {"credHelpers": {"a.example": "absent", "b.example": "../../bin/sh"}})
    assert load_credentials("a.example", env) is None
    assert load_credentials("b.example", env) is None


def test_malformed_config_is_anonymous(env: dict[str, str]) -> None:
    Path(env["DOCKER_CONFIG"], "config.json").write_text("{not json")
    assert load_credentials("a.example", env) is None
    write_config(env, {"auths": {"a.example": {"auth": "%%%"}}})
    assert load_credentials("a.example", env) is None


def test_provider_is_lazy_and_memoised(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    write_helper(Path(env["PATH"].split(os.pathsep)[0]), "count", {"a.example": ("u", "p")}, log)
    write_config(env, {"credsStore": "count"})
    provide = credential_provider("a.example", env)
    assert not log.exists()  # nothing runs until a registry asks
    first, second = provide(), provide()
    assert first is second and first is not None
    assert log.read_text().splitlines() == ["a.example"]


def test_secrets_never_in_repr() -> None:
    creds = Credentials("alice", "hunter2-secret", "refresh-secret", source="config auths")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "hunter2" not in text and "refresh-secret" not in text and "alice" not in text
    assert "config auths" in repr(creds)
    assert basic_authorization(creds) == "Basic " + b64("alice:hunter2-secret")


def test_parse_www_authenticate() -> None:
    value = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:library/alpine:pull,push", Basic realm="a \\"quoted\\" realm"'
    )
    bearer, basic = parse_www_authenticate(value)
    assert bearer.scheme == "bearer"
    assert bearer.realm == "https://auth.example/token"
    assert bearer.service == "registry.example"
    assert bearer.scope == "repository:library/alpine:pull,push"
    assert basic.scheme == "basic" and basic.realm == 'a "quoted" realm'
    (only,) = parse_www_authenticate('Bearer realm=https://x/token, error="insufficient_scope"')
    assert only.realm == "https://x/token" and only.params["error"] == "insufficient_scope"
    assert parse_www_authenticate("") == []


def test_credentials_never_sent_to_plain_http_realm() -> None:
    """A bearer realm on plain HTTP (not loopback) never receives credentials."""
    import httpx

    from muslin.errors import AuthenticationError
    from muslin.image.registry.auth import Challenge, fetch_bearer_token

    sent: list[httpx.Request] = []

    def send(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise AssertionError("no request may be sent")

    challenge = Challenge("bearer", {"realm": "http://auth.example.invalid/token", "service": "s"})
    creds = Credentials("alice", "pw", source="test")
    with pytest.raises(AuthenticationError, match="plain-HTTP token realm"):
        fetch_bearer_token(send, challenge, "repository:x:pull", creds, "reg.example")
    assert sent == []
