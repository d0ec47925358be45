"""The apk packages a plan adds first: ``python3~X.Y py3-pip~A.B`` from the release table."""

from __future__ import annotations

import dataclasses
import re

import pytest

from muslin.facts.model import Owner, PythonInstall
from muslin.plan.planner import _apk_packages
from muslin.target import build_target, load_releases, profile_facts

RELEASES = sorted(load_releases())


@pytest.mark.parametrize("release", RELEASES)
def test_every_release_pins_python3_and_its_py3_pip(release: str) -> None:
    row = load_releases()[release]
    facts = profile_facts(release, "x86_64")
    target = build_target(facts)
    packages = _apk_packages(facts, target)
    py_major, py_minor = row.python_version
    pip_major, pip_minor = row.py3_pip_version
    assert packages == (f"python3~{py_major}.{py_minor}", f"py3-pip~{pip_major}.{pip_minor}")
    # the pin is a prefix of the apk version it stands for (what apk's `~` matches)
    pin = packages[1].split("~")[1]
    assert re.match(re.escape(pin) + r"[.-]", row.py3_pip_apk), row.py3_pip_apk


def test_known_pins() -> None:
    def pins(release: str) -> tuple[str, ...]:
        facts = profile_facts(release, "aarch64")
        return _apk_packages(facts, build_target(facts))

    assert pins("3.18") == ("python3~3.11", "py3-pip~23.1")
    assert pins("3.20") == ("python3~3.12", "py3-pip~24.0")


def _with_python(prefix: str) -> PythonInstall:
    return PythonInstall(
        version="3.11", full_version="3.11.6", full_version_source="apk python3", prefix=prefix,
        executables=(f"{prefix}/bin/python3.11",), stdlib=f"{prefix}/lib/python3.11",
        site_packages=(f"{prefix}/lib/python3.11/site-packages",), externally_managed=False,
        owner=Owner("apk", "python3", "3.11.6-r0") if prefix == "usr" else Owner("unknown"),
    )


@pytest.mark.parametrize("prefix", ["usr", "usr/local"])
def test_nothing_added_when_the_image_has_python(prefix: str) -> None:
    # apk's python3, or the official python:*-alpine layout in /usr/local: no apk python3/py3-*
    facts = dataclasses.replace(profile_facts("3.18", "x86_64"), pythons=(_with_python(prefix),))
    assert _apk_packages(facts, build_target(facts)) == ()


def test_nothing_added_for_a_python_the_release_does_not_ship() -> None:
    facts = profile_facts("3.18", "x86_64")
    target = build_target(facts, python="3.12")
    assert not target.python_from_apk
    assert _apk_packages(facts, target) == ()
