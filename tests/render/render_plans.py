"""Hand-built plans for the Dockerfile renderer tests (one per image layout / index shape)."""

from __future__ import annotations

import hashlib

from muslin.plan.model import (
    Action,
    Artifact,
    ImageInfo,
    IndexRef,
    InputFile,
    Plan,
    PlanItem,
    TargetInfo,
    VenvDecision,
)

VERSION = "0.0.0+test"
"""Fixed muslin version so snapshots do not change with releases."""

DIGEST_318 = "sha256:" + hashlib.sha256(b"alpine:3.18").hexdigest()
DIGEST_320 = "sha256:" + hashlib.sha256(b"alpine:3.20").hexdigest()
DIGEST_PY = "sha256:" + hashlib.sha256(b"python:3.12-alpine").hexdigest()

PYPI = IndexRef("pypi", "https://pypi.org/simple/")
MUSL = IndexRef("musl", "https://musl-wheels.example.org/simple/")
PRIVATE = IndexRef("private", "https://pkgs.example.com/api/pypi/simple/", needs_credentials=True)

T311 = TargetInfo("3.11", "3.11.6", "1.2", "x86_64", "linux/amd64")
T312 = TargetInfo("3.12", "3.12.7", "1.2", "x86_64", "linux/amd64")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def install(name: str, version: str, index: IndexRef, tag: str = "cp311-cp311-musllinux_1_2_x86_64") -> PlanItem:
    filename = f"{name.replace('-', '_')}-{version}-{tag}.whl"
    base = index.url.rsplit("/simple/", 1)[0]
    return PlanItem(
        name=name,
        display_name=name,
        version=version,
        action=Action.INSTALL,
        source=index.name,
        artifact=Artifact(filename, f"{base}/files/{filename}", sha(filename), index.name, 1000),
        requested_by=("<user>",),
    )


def keep(name: str, version: str, owner: str) -> PlanItem:
    return PlanItem(name, name, version, Action.KEEP, owner, requested_by=("<user>",))


INPUTS = (InputFile("pyproject.toml", sha("pyproject")),)


def no_python() -> Plan:
    """alpine:3.18 from the built-in profile: python3 and pip come from apk; no venv (no PEP 668)."""
    image = ImageInfo("alpine:3.18", "alpine:3.18", None, "3.18", False, None, "python3", False, False, from_profile=True)
    return Plan(
        image=image,
        target=T311,
        items=(install("pyyaml", "6.0.2", PYPI), install("regex", "2024.9.11", PYPI)),
        indexes=(PYPI,),
        venv=VenvDecision(None, reason="Alpine 3.18 is not externally managed"),
        apk_packages=("python3~3.11", "py3-pip~23.1"),
        inputs=INPUTS,
        requirements=("pyyaml", "regex"),
        command="muslin dockerfile alpine:3.18 -r pyproject.toml -o Dockerfile",
        muslin_version=VERSION,
        warnings=("alpine:3.18 could not be fetched; planned for the built-in alpine:3.18 profile",),
    )


def apk_python() -> Plan:
    """An Alpine 3.18 image with apk's python3 + py3-pip and an apk-owned package that is kept."""
    image = ImageInfo(
        "registry.example.com/app/base:3.18", "registry.example.com/app/base:3.18", DIGEST_318, "3.18.3",
        True, "/usr", "/usr/bin/python3.11", True, False,
    )
    return Plan(
        image=image,
        target=T311,
        items=(
            keep("mysqlclient", "2.1.1", "apk py3-mysqlclient 2.1.1-r3"),
            install("orjson", "3.10.7", PYPI),
            install("pyyaml", "6.0.2", PYPI),
        ),
        indexes=(PYPI,),
        venv=VenvDecision(None),
        inputs=INPUTS,
        requirements=("mysqlclient==2.1.1", "orjson", "pyyaml"),
        command="muslin dockerfile registry.example.com/app/base:3.18 mysqlclient==2.1.1 orjson pyyaml",
        muslin_version=VERSION,
    )


def pep668() -> Plan:
    """alpine:3.20 with apk python3 3.12, EXTERNALLY-MANAGED: a venv with system site-packages."""
    image = ImageInfo("alpine:3.20", "alpine:3.20", DIGEST_320, "3.20.3", True, "/usr", "/usr/bin/python3.12", True, True)
    return Plan(
        image=image,
        target=T312,
        items=(
            keep("packaging", "24.0", "apk py3-packaging 24.0-r1"),
            install("pydantic-core", "2.23.4", PYPI, "cp312-cp312-musllinux_1_1_x86_64"),
            install("typing-extensions", "4.12.2", PYPI, "py3-none-any"),
        ),
        indexes=(PYPI,),
        venv=VenvDecision("/opt/venv", True, "the image is externally managed (PEP 668): install into a venv"),
        inputs=INPUTS,
        requirements=("pydantic-core", "packaging"),
        command="muslin dockerfile alpine:3.20 -r pyproject.toml",
        muslin_version=VERSION,
    )


def python_alpine() -> Plan:
    """Official python:3.12-alpine: Python in /usr/local, no apk packages, system install."""
    image = ImageInfo(
        "python:3.12-alpine", "python:3.12-alpine", DIGEST_PY, "3.20.3", True, "/usr/local",
        "/usr/local/bin/python3.12", True, False,
    )
    return Plan(
        image=image,
        target=T312,
        items=(install("orjson", "3.10.7", PYPI, "cp312-cp312-musllinux_1_2_x86_64"),),
        indexes=(PYPI,),
        venv=VenvDecision(None),
        requirements=("orjson",),
        command="muslin dockerfile python:3.12-alpine orjson",
        muslin_version=VERSION,
    )


def two_indexes() -> Plan:
    """A musl wheel index first, PyPI second, cryptography pinned to pypi."""
    image = ImageInfo("alpine:3.18", "alpine:3.18", DIGEST_318, "3.18.3", True, "/usr", "/usr/bin/python3.11", True, False)
    return Plan(
        image=image,
        target=T311,
        items=(
            install("cffi", "1.17.1", MUSL),
            install("cryptography", "41.0.3", PYPI, "cp37-abi3-musllinux_1_1_x86_64"),
            install("pycparser", "2.22", MUSL, "py3-none-any"),
        ),
        indexes=(MUSL, PYPI),
        venv=VenvDecision(None),
        requirements=("cryptography==41.0.3",),
        command=(
            "muslin dockerfile alpine:3.18 cryptography==41.0.3 --index musl=https://musl-wheels.example.org/simple/ "
            "--pin cryptography=pypi"
        ),
        muslin_version=VERSION,
    )


def private_index() -> Plan:
    """A private index needing credentials (BuildKit secret) beside PyPI."""
    image = ImageInfo("alpine:3.18", "alpine:3.18", DIGEST_318, "3.18.3", True, "/usr", "/usr/bin/python3.11", True, False)
    return Plan(
        image=image,
        target=T311,
        items=(install("acme-internal", "1.4.0", PRIVATE, "py3-none-any"), install("pyyaml", "6.0.2", PYPI)),
        indexes=(PRIVATE, PYPI),
        venv=VenvDecision("/opt/venv", True, "--venv /opt/venv"),
        requirements=("acme-internal", "pyyaml"),
        command="muslin dockerfile alpine:3.18 acme-internal pyyaml --index private=https://pkgs.example.com/api/pypi/simple/ --venv /opt/venv",
        muslin_version=VERSION,
    )


ALL = {
    "no_python": no_python,
    "apk_python": apk_python,
    "pep668": pep668,
    "python_alpine": python_alpine,
    "two_indexes": two_indexes,
    "private_index": private_index,
}
