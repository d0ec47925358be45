"""Gather everything the user asked for into one :class:`ProjectInputs`.

``-r`` takes a requirements file, a ``pyproject.toml`` (any ``*.toml`` name but a
PEP 751 ``pylock`` one, or a directory holding a ``pyproject.toml``) or a ``muslin.yaml``.  Index configuration is read
from the first given pyproject's directory (``pyproject.toml`` and
``muslin.yaml``), else from the current directory; a ``muslin.yaml``'s
``dependencies`` count as requirements when it is given with ``-r``, or when
nothing else names any requirement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from muslin.errors import UsageError
from muslin.index.config import redact_urls_in
from muslin.inputs.config import (
    MUSLIN_YAML_NAMES,
    IndexFileConfig,
    find_muslin_yaml,
    load_muslin_yaml,
    load_project_config,
    merge_configs,
)
from muslin.inputs.pyproject import PyprojectRequirements, read_pyproject_requirements
from muslin.inputs.requirements import (
    Fetcher,
    ParsedRequirement,
    RequirementsFile,
    is_remote,
    parse_requirement_string,
    parse_requirements_file,
)
from muslin.plan.model import InputFile


@dataclass
class ProjectInputs:
    """The requirements, constraints and file-level options of one ``muslin plan`` run."""

    requirements: list[ParsedRequirement] = field(default_factory=list)
    constraints: list[ParsedRequirement] = field(default_factory=list)
    files: list[InputFile] = field(default_factory=list)
    """Every input file read (requirements, pyproject, muslin.yaml, nested files), with sha256."""
    requirement_files: list[RequirementsFile] = field(default_factory=list)
    """Parsed requirements/constraints files: pass as ``req_options`` to ``build_index_settings``."""
    config: IndexFileConfig | None = None
    """Project index configuration (pyproject ``[tool.uv]``/``[tool.muslin]``, muslin.yaml)."""
    pyprojects: list[PyprojectRequirements] = field(default_factory=list)
    pre: bool = False
    """``--pre`` seen in a requirements file."""
    warnings: list[str] = field(default_factory=list)

    @property
    def requirement_strings(self) -> tuple[str, ...]:
        """The top-level requirements as strings (for ``Plan.requirements``), credentials removed."""
        return tuple(redact_urls_in(str(r.requirement)) for r in self.requirements)

    @property
    def require_hashes(self) -> bool:
        """True when any requirement carries ``--hash`` (pip's hash-checking mode)."""
        return any(r.hashes for r in (*self.requirements, *self.constraints))


def _is_pyproject(path: Path) -> bool:
    """``pyproject.toml``, any other ``*.toml`` (a renamed copy), or a directory holding one."""
    if path.suffix == ".toml" and not path.is_dir():
        return True
    return path.is_dir() and (path / "pyproject.toml").is_file()


def _is_pylock(path: Path) -> bool:
    """PEP 751 lock names: ``pylock.toml`` and ``pylock.NAME.toml``."""
    return path.suffix == ".toml" and (path.name == "pylock.toml" or path.name.startswith("pylock."))


def collect_inputs(
    *,
    requirement_files: Sequence[str | os.PathLike[str]] = (),
    constraint_files: Sequence[str | os.PathLike[str]] = (),
    pyproject: str | os.PathLike[str] | None = None,
    extras: Sequence[str] = (),
    all_extras: bool = False,
    groups: Sequence[str] = (),
    requirement_strings: Sequence[str] = (),
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    fetch: Fetcher | None = None,
) -> ProjectInputs:
    """Read every input; errors are :class:`~muslin.errors.UsageError`/``InputFileError``.

    ``fetch`` reads ``http(s)://`` requirements files (given with ``-r``/``-c`` or included).
    """
    here = Path(cwd) if cwd is not None else Path.cwd()
    environ = os.environ if env is None else env
    out = ProjectInputs()

    def located(value: str | os.PathLike[str]) -> Path:
        path = Path(value)
        return path if path.is_absolute() or cwd is None else here / path

    pyproject_paths: list[Path] = [located(pyproject)] if pyproject is not None else []
    yaml_paths: list[Path] = []
    req_paths: list[Path] = []
    remote_reqs: list[str] = []
    for value in requirement_files:
        if is_remote(value):
            remote_reqs.append(str(value))
            continue
        path = located(value)
        if _is_pylock(path):
            raise UsageError(
                f"-r {value}: a PEP 751 lock is muslin's output (-o pylock.toml), not a requirements "
                "input; pass the pyproject.toml or requirements file it was made from"
            )
        if _is_pyproject(path):
            pyproject_paths.append(path if not path.is_dir() else path / "pyproject.toml")
        elif path.name in MUSLIN_YAML_NAMES:
            yaml_paths.append(path)
        elif path.is_dir():
            raise UsageError(f"-r {value}: a directory without a pyproject.toml")
        else:
            req_paths.append(path)

    if (extras or all_extras or groups) and not pyproject_paths:
        option = "--extra" if extras else "--all-extras" if all_extras else "--group"
        raise UsageError(f"{option} needs a pyproject.toml: pass -r pyproject.toml")

    for path in pyproject_paths:
        project = read_pyproject_requirements(
            path, extras=extras, all_extras=all_extras, groups=groups
        )
        out.pyprojects.append(project)
        out.requirements.extend(project.requirements)
        if project.file is not None:
            _add_file(out, project.file)

    wheres: list[str | Path] = [*req_paths, *remote_reqs]
    for where in wheres:
        parsed = parse_requirements_file(where, env=environ, fetch=fetch)
        _absorb(out, parsed)
    for value in constraint_files:
        where_c: str | Path = str(value) if is_remote(value) else located(value)
        parsed = parse_requirements_file(where_c, constraint=True, env=environ, fetch=fetch)
        _absorb(out, parsed)

    for text in requirement_strings:
        out.requirements.append(parse_requirement_string(text))

    # project index configuration
    config_dir = pyproject_paths[0].parent if pyproject_paths else here
    first_doc = out.pyprojects[0].document if out.pyprojects else None
    auto_yaml = find_muslin_yaml(config_dir)
    explicit_yaml = [
        p for p in yaml_paths if auto_yaml is None or p.resolve() != auto_yaml.resolve()
    ]
    cwd_pyproject = here / "pyproject.toml"
    config = load_project_config(
        pyproject=None if first_doc is not None or not cwd_pyproject.is_file() else cwd_pyproject,
        pyproject_doc=first_doc,
        muslin_yaml=auto_yaml,
    )
    for path in yaml_paths:
        if path not in explicit_yaml:
            continue
        extra_config = load_muslin_yaml(path)
        config = extra_config if config is None else merge_configs(extra_config, config)
    named_yaml = {p.resolve() for p in yaml_paths}
    nothing_else = not (out.requirements or req_paths or remote_reqs or pyproject_paths)
    if config is not None:
        for dep in config.dependencies:
            from_named = dep.file is not None and Path(dep.file).resolve() in named_yaml
            if from_named or nothing_else:
                out.requirements.append(dep)
        for item in config.files:
            _add_file(out, item)
        out.warnings.extend(config.warnings)
    out.config = config
    return out


def _absorb(out: ProjectInputs, parsed: RequirementsFile) -> None:
    out.requirement_files.append(parsed)
    out.requirements.extend(parsed.requirements)
    out.constraints.extend(parsed.constraints)
    out.pre = out.pre or parsed.pre
    out.warnings.extend(parsed.warnings)
    for item in parsed.files:
        _add_file(out, item)


def _add_file(out: ProjectInputs, item: InputFile) -> None:
    if all(Path(f.path).resolve() != Path(item.path).resolve() for f in out.files):
        out.files.append(item)
