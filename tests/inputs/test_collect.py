"""collect_inputs: every input kind together, -r pyproject.toml, config discovery."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from muslin.errors import InputFileError, UsageError
from muslin.inputs.collect import collect_inputs
from muslin.inputs.config import CliIndexOptions, build_index_settings

PYPROJECT = """\
[project]
name = "app"
version = "1"
dependencies = ["cryptography==41.0.3"]

[project.optional-dependencies]
db = ["mysqlclient==2.1.1"]

[dependency-groups]
test = ["pytest"]

[[tool.uv.index]]
name = "musl"
url = "http://127.0.0.1:9/simple/"

[tool.uv.sources]
cryptography = { index = "pypi" }
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def reqs(inputs: object) -> list[str]:
    return [str(r.requirement) for r in inputs.requirements]  # type: ignore[attr-defined]


def test_dash_r_accepts_pyproject_and_reads_its_config(tmp_path: Path) -> None:
    project = write(tmp_path / "proj" / "pyproject.toml", PYPROJECT)
    r = write(
        tmp_path / "requirements.txt", "--extra-index-url https://extra.example/simple/\nsix\n"
    )
    c = write(tmp_path / "constraints.txt", "six<2\n")
    inputs = collect_inputs(
        requirement_files=[project, r],
        constraint_files=[c],
        extras=["db"],
        groups=["test"],
        requirement_strings=["attrs>=23"],
        cwd=tmp_path,
        env={},
    )
    assert reqs(inputs) == [
        "cryptography==41.0.3",
        "mysqlclient==2.1.1",
        "pytest",
        "six",
        "attrs>=23",
    ]
    assert [str(c.requirement) for c in inputs.constraints] == ["six<2"]
    assert inputs.requirement_strings[-1] == "attrs>=23"
    paths = [Path(f.path).resolve() for f in inputs.files]
    assert paths == [project.resolve(), r.resolve(), c.resolve()]
    for item in inputs.files:
        assert item.sha256 == hashlib.sha256(Path(item.path).read_bytes()).hexdigest()
    assert inputs.config is not None
    settings = build_index_settings(
        cli=CliIndexOptions(), config=inputs.config, req_options=inputs.requirement_files, env={}
    )
    assert [ix.name for ix in settings.indexes] == ["extra-1", "musl", "pypi"]
    assert {p.package: p.index for p in settings.pins} == {"cryptography": "pypi"}


def test_pyproject_argument_and_directory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    by_arg = collect_inputs(pyproject=tmp_path / "pyproject.toml")
    by_dir = collect_inputs(requirement_files=[tmp_path])
    assert reqs(by_arg) == reqs(by_dir) == ["cryptography==41.0.3"]


def test_any_toml_name_is_read_as_a_pyproject_but_a_pylock_is_refused(tmp_path: Path) -> None:
    renamed = write(tmp_path / "deps" / "app.toml", PYPROJECT)
    inputs = collect_inputs(requirement_files=[renamed], extras=["db"])
    assert reqs(inputs) == ["cryptography==41.0.3", "mysqlclient==2.1.1"]
    assert inputs.config is not None and [ix.name for ix in inputs.config.indexes] == ["musl"]
    lock = write(tmp_path / "pylock.toml", 'lock-version = "1.0"\n')
    with pytest.raises(UsageError, match="PEP 751 lock is muslin's output"):
        collect_inputs(requirement_files=[lock])
    with pytest.raises(UsageError, match="PEP 751"):
        collect_inputs(requirement_files=[write(tmp_path / "pylock.web.toml", "")])


def test_config_from_current_directory_without_pyproject_argument(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    r = write(tmp_path / "r.txt", "six\n")
    inputs = collect_inputs(requirement_files=[r], cwd=tmp_path, env={})
    assert reqs(inputs) == ["six"]  # the cwd pyproject gives config, not requirements
    assert inputs.config is not None
    assert [ix.name for ix in inputs.config.indexes] == ["musl"]


def test_muslin_yaml_dependencies(tmp_path: Path) -> None:
    write(
        tmp_path / "muslin.yaml",
        "index:\n  - name: musl\n    url: http://127.0.0.1:9/simple/\ndependencies:\n  - six==1.16.0\n",
    )
    alone = collect_inputs(cwd=tmp_path, env={})
    assert reqs(alone) == ["six==1.16.0"]
    with_strings = collect_inputs(requirement_strings=["attrs"], cwd=tmp_path, env={})
    assert reqs(with_strings) == ["attrs"]
    named = collect_inputs(
        requirement_files=["muslin.yaml"], requirement_strings=["attrs"], cwd=tmp_path, env={}
    )
    assert reqs(named) == ["attrs", "six==1.16.0"]
    assert named.config is not None and named.config.indexes[0].name == "musl"


def test_extras_need_a_pyproject(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--extra needs a pyproject\.toml"):
        collect_inputs(extras=["db"], requirement_strings=["six"], cwd=tmp_path)


def test_errors_propagate_with_file_and_line(tmp_path: Path) -> None:
    r = write(tmp_path / "r.txt", "six\n-e .\n")
    with pytest.raises(InputFileError, match=r"r\.txt:2: editable"):
        collect_inputs(requirement_files=[r], cwd=tmp_path)
    bad = write(tmp_path / "bad" / "pyproject.toml", "[project\n")
    with pytest.raises(InputFileError, match=r"pyproject\.toml:1: invalid TOML"):
        collect_inputs(requirement_files=[bad], cwd=tmp_path)
    with pytest.raises(UsageError, match=r"requirement 'x>>1'"):
        collect_inputs(requirement_strings=["x>>1"], cwd=tmp_path)
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(UsageError, match=r"directory without a pyproject\.toml"):
        collect_inputs(requirement_files=["emptydir"], cwd=tmp_path)


def test_hash_mode_and_pre(tmp_path: Path) -> None:
    r = write(tmp_path / "r.txt", f"--pre\nsix==1.16.0 --hash=sha256:{'c' * 64}\n")
    inputs = collect_inputs(requirement_files=[r], cwd=tmp_path, env={})
    assert inputs.require_hashes and inputs.pre
