"""The inspect renderers on hand-made facts: rich terminal output, requirements edge cases."""

from __future__ import annotations

import io

from rich.console import Console

from muslin.facts.model import Distribution, ImageConfig, ImageFacts, Owner, PythonInstall
from muslin.output.inspect import render, render_requirements, render_text

SITE = "usr/lib/python3.11/site-packages"


def _facts(*dists: Distribution, pythons: tuple[PythonInstall, ...] | None = None) -> ImageFacts:
    python = PythonInstall(
        version="3.11",
        full_version=None,
        full_version_source=None,
        prefix="usr",
        executables=(),
        stdlib="usr/lib/python3.11",
        site_packages=(SITE,),
        externally_managed=True,
        owner=Owner("apk", "python3", "3.11.6-r0"),
    )
    return ImageFacts(
        reference="x",
        source="dir",
        digest=None,
        config=ImageConfig(),
        os_release={},
        alpine_release=None,
        apk_repositories=(),
        apk_arch=None,
        apk_db_path=None,
        apk_packages=(),
        musl_version=None,
        musl_version_source=None,
        pythons=(python,) if pythons is None else pythons,
        distributions=dists,
    )


def _dist(name: str, version: str, owner: Owner, site: str = SITE) -> Distribution:
    return Distribution(name, name.lower(), version, "dist-info", f"{site}/{name}.dist-info", site, owner=owner)


def test_rich_output_keeps_brackets_literal() -> None:
    facts = _facts(_dist("weird[name]", "1.0", Owner("installer", "[bold]pip")))
    buffer = io.StringIO()
    from muslin.output.inspect import print_rich

    print_rich(facts, Console(file=buffer, force_terminal=True, width=160, color_system=None))
    out = buffer.getvalue()
    assert "weird[name]" in out and "[bold]pip" in out
    assert "PEP 668 externally managed: yes (EXTERNALLY-MANAGED)" in out
    assert "Distributions (1)" in out


def test_text_without_anything() -> None:
    text = render_text(_facts(pythons=()))
    assert "OS            unknown (no os-release)" in text
    assert "apk           no apk database" in text
    assert "musl          unknown" in text
    assert "Python        none found" in text
    assert text.endswith("Distributions: none\n")
    assert render_requirements(_facts(pythons=())) == "# muslin inspect x: no Python interpreter found\n"


def test_requirements_edge_cases() -> None:
    facts = _facts(
        _dist("b", "", Owner("unknown")),
        _dist("a", "2.0", Owner("unknown")),
        _dist("a", "1.0", Owner("unknown"), site=SITE),
        _dist("c", "1.0", Owner("installer", "pip"), site="elsewhere/site-packages"),
    )
    lines = render(facts, "requirements").splitlines()
    assert lines[0] == "# muslin inspect x: distributions of /usr/lib/python3.11 (Python 3.11)"
    assert lines[1:] == ["a==2.0  # owner unknown", "# b: version unknown  # owner unknown"]
