"""Requirements from pyproject.toml: dependencies, extras, PEP 735 groups, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from muslin.errors import InputFileError, UsageError
from muslin.inputs.pyproject import load_toml, read_pyproject_requirements

PYPROJECT = """\
[project]
name = "My.App"
version = "1.0"
dependencies = [
    "django==5.1.5",
    'cryptography>=41; platform_machine == "x86_64"',
]

[project.optional-dependencies]
Postgres = ["psycopg[binary]>=3.1"]
cache = ["redis>=5"]
all = ["my-app[postgres,cache]; python_version >= '3.10'"]

[dependency-groups]
test = ["pytest>=8", {include-group = "lint"}]
lint = ["ruff"]
dev = [{include-group = "test"}, "ipython"]
"""


def write(tmp_path: Path, text: str, name: str = "pyproject.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def strs(result: object) -> list[str]:
    return [str(r.requirement) for r in result.requirements]  # type: ignore[attr-defined]


def test_project_dependencies_with_lines(tmp_path: Path) -> None:
    f = write(tmp_path, PYPROJECT)
    result = read_pyproject_requirements(f)
    assert strs(result) == ["django==5.1.5", 'cryptography>=41; platform_machine == "x86_64"']
    assert [r.line for r in result.requirements] == [5, 6]
    assert result.requirements[0].file == str(f)
    assert result.project_name == "my-app"
    assert result.known_extras == ("Postgres", "all", "cache")
    assert result.known_groups == ("dev", "lint", "test")
    assert result.file is not None and len(result.file.sha256) == 64


def test_extras_are_normalised_and_self_references_expanded(tmp_path: Path) -> None:
    f = write(tmp_path, PYPROJECT)
    assert strs(read_pyproject_requirements(f, extras=["POSTGRES"]))[2:] == ["psycopg[binary]>=3.1"]
    all_of_it = strs(read_pyproject_requirements(f, extras=["all"]))[2:]
    assert all_of_it == [
        'redis>=5; python_version >= "3.10"',
        'psycopg[binary]>=3.1; python_version >= "3.10"',
    ]
    every = strs(read_pyproject_requirements(f, all_extras=True))
    assert "psycopg[binary]>=3.1" in every and "redis>=5" in every
    assert not any(s.startswith("my-app") for s in every)


def test_unknown_extra_lists_the_known_ones(tmp_path: Path) -> None:
    f = write(tmp_path, PYPROJECT)
    with pytest.raises(UsageError) as info:
        read_pyproject_requirements(f, extras=["mysql"])
    assert info.value.exit_code == 2
    assert str(info.value) == (
        f"--extra mysql: {f} has no optional dependencies named 'mysql'; known: Postgres, all, cache"
    )


def test_groups_with_include_group(tmp_path: Path) -> None:
    f = write(tmp_path, PYPROJECT)
    dev = read_pyproject_requirements(f, groups=["dev"], include_project=False)
    assert strs(dev) == ["pytest>=8", "ruff", "ipython"]
    both = read_pyproject_requirements(f, groups=["test", "lint"])
    assert strs(both) == [
        "django==5.1.5",
        'cryptography>=41; platform_machine == "x86_64"',
        "pytest>=8",
        "ruff",
        "ruff",
    ]
    with pytest.raises(
        UsageError,
        match=r"--group docs: .* no dependency group named 'docs'; known: dev, lint, test",
    ):
        read_pyproject_requirements(f, groups=["docs"])


def test_group_cycle_is_an_error(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        '[dependency-groups]\na = ["x", {include-group = "b"}]\nb = [{include-group = "a"}]\n',
    )
    with pytest.raises(InputFileError) as info:
        read_pyproject_requirements(f, groups=["a"])
    assert str(info.value) == f"{f}:2: [dependency-groups] include a group in itself: a -> b -> a"


def test_include_of_unknown_group_and_bad_entry(tmp_path: Path) -> None:
    f = write(tmp_path, '[dependency-groups]\na = [{include-group = "zzz"}]\n')
    with pytest.raises(
        InputFileError, match=r":2: dependency-groups.a includes unknown group 'zzz'"
    ):
        read_pyproject_requirements(f, groups=["a"])
    g = write(tmp_path, "[dependency-groups]\n\nb = [{include = 'x'}]\n", "other.toml")
    with pytest.raises(InputFileError, match=r"other\.toml:3: dependency-groups.b: .* neither"):
        read_pyproject_requirements(g, groups=["b"])


def test_malformed_toml_reports_the_line(tmp_path: Path) -> None:
    f = write(tmp_path, '[project]\nname = "x"\ndependencies = [\n  "six"\n  "attrs",\n]\n')
    with pytest.raises(InputFileError) as info:
        read_pyproject_requirements(f)
    assert info.value.line == 5
    assert str(info.value).startswith(f"{f}:5: invalid TOML: ")
    assert "(column" in str(info.value)


def test_invalid_pep508_string_names_key_and_line(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        '[project]\nname = "x"\nversion = "1"\n\n[project.optional-dependencies]\nfast = [\n  "ujson>=>5",\n]\n',
    )
    assert strs(read_pyproject_requirements(f)) == []
    with pytest.raises(InputFileError) as info:
        read_pyproject_requirements(f, extras=["fast"])
    message = str(info.value)
    assert message.startswith(
        f"{f}:7: project.optional-dependencies.fast: invalid requirement 'ujson>=>5'"
    )


def test_wrong_types_and_dynamic_dependencies(tmp_path: Path) -> None:
    f = write(tmp_path, '[project]\nname = "x"\n\ndependencies = "six"\n')
    with pytest.raises(InputFileError, match=r":4: project.dependencies must be an array"):
        read_pyproject_requirements(f)
    g = write(tmp_path, '[project]\nname = "x"\ndynamic = ["dependencies"]\n', "dyn.toml")
    with pytest.raises(InputFileError, match=r"dyn\.toml:3: \[project\] dependencies are dynamic"):
        read_pyproject_requirements(g)
    # groups of a project with dynamic dependencies can still be read
    assert strs(read_pyproject_requirements(g, include_project=False)) == []


def test_no_project_table(tmp_path: Path) -> None:
    f = write(tmp_path, "[tool.other]\nx = 1\n")
    result = read_pyproject_requirements(f)
    assert result.requirements == [] and result.project_name is None
    with pytest.raises(UsageError, match=r"known: \(none\)"):
        read_pyproject_requirements(f, extras=["a"])


def test_unreadable_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read"):
        load_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'a = "x"\nb = "\xff"\n')
    with pytest.raises(InputFileError, match=r"bad\.toml:2: not valid UTF-8"):
        load_toml(bad)
