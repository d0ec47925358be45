"""Index configuration: uv/muslin tables, muslin.yaml, environment, command line, and their merge."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.markers import Marker

from muslin.errors import InputFileError, UsageError
from muslin.index.config import PYPI_URL, IndexConfig, IndexPin, IndexSettings, IndexStrategy
from muslin.inputs.config import (
    CliIndexOptions,
    build_index_settings,
    find_project_config,
    load_muslin_yaml,
    load_project_config,
    load_pyproject_config,
)
from muslin.inputs.requirements import parse_requirements_file

MUSL = "http://127.0.0.1:8080/simple/"
OTHER = "https://other.example/simple/"

UV_PYPROJECT = f"""\
[project]
name = "app"
version = "1"
dependencies = ["cryptography==41.0.3", "mysqlclient==2.1.1"]

[[tool.uv.index]]
name = "musl"
url = "{MUSL}"

[[tool.uv.index]]
name = "internal"
url = "https://internal.example/simple/"
explicit = true

[tool.uv.sources]
cryptography = {{ index = "pypi" }}
Internal_Lib = [
    {{ index = "internal", marker = "sys_platform == 'linux'" }},
    {{ index = "musl", marker = "sys_platform != 'linux'" }},
]
localpkg = {{ path = "../localpkg" }}

[tool.uv]
index-strategy = "unsafe-best-match"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def settings(
    *,
    cli: CliIndexOptions | None = None,
    config: object = None,
    req: list[Path] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> IndexSettings:
    return build_index_settings(
        cli=cli or CliIndexOptions(),
        config=config,  # type: ignore[arg-type]
        req_options=[parse_requirements_file(p, env={}) for p in req or []],
        env=env or {},
        cwd=cwd,
    )


def names(s: IndexSettings) -> list[str]:
    return [ix.name for ix in s.indexes]


def test_default_is_pypi_last() -> None:
    s = settings()
    assert s.indexes == (IndexConfig("pypi", PYPI_URL, default=True),)
    assert s.strategy is IndexStrategy.FIRST_INDEX
    assert s.pins == ()


def test_uv_indexes_sources_with_markers_and_strategy(tmp_path: Path) -> None:
    f = write(tmp_path / "pyproject.toml", UV_PYPROJECT)
    config = load_pyproject_config(f)
    assert any("localpkg" in w and "only index sources" in w for w in config.warnings)
    s = settings(config=config)
    assert names(s) == ["musl", "internal", "pypi"]
    assert s.index("internal") == IndexConfig(
        "internal", "https://internal.example/simple/", explicit=True
    )
    assert s.index("pypi") == IndexConfig("pypi", PYPI_URL, default=True)
    assert s.strategy is IndexStrategy.UNSAFE_BEST_MATCH
    assert s.pins == (
        IndexPin("cryptography", "pypi"),
        IndexPin("internal-lib", "internal", Marker("sys_platform == 'linux'")),
        IndexPin("internal-lib", "musl", Marker("sys_platform != 'linux'")),
    )


def test_tool_muslin_over_tool_uv_with_accept_linux_tags(tmp_path: Path) -> None:
    f = write(
        tmp_path / "pyproject.toml",
        UV_PYPROJECT
        + """
[[tool.muslin.index]]
name = "alpine-wheels"
url = "https://alpine-wheels.example/index/"
accept-linux-tags = true

[[tool.muslin.index]]
name = "musl"
accept-linux-tags = true

[tool.muslin.sources]
cryptography = { index = "musl" }
numpy = { index = "alpine-wheels" }

[tool.muslin]
index-strategy = "first-index"
""",
    )
    s = settings(config=load_pyproject_config(f))
    assert names(s) == ["alpine-wheels", "musl", "internal", "pypi"]
    assert s.index("alpine-wheels") is not None and s.index("alpine-wheels").accept_linux_tags  # type: ignore[union-attr]
    musl = s.index("musl")
    assert musl is not None and musl.accept_linux_tags and musl.url == MUSL
    assert IndexPin("cryptography", "musl") in s.pins
    assert IndexPin("cryptography", "pypi") not in s.pins
    assert IndexPin("numpy", "alpine-wheels") in s.pins
    assert s.strategy is IndexStrategy.FIRST_INDEX


def test_tool_muslin_is_strict(tmp_path: Path) -> None:
    f = write(tmp_path / "pyproject.toml", "[tool.muslin]\n\nindexes = []\n")
    with pytest.raises(
        InputFileError, match=r"pyproject\.toml:3: \[tool\.muslin\] has unknown key 'indexes'"
    ):
        load_pyproject_config(f)
    g = write(
        tmp_path / "b" / "pyproject.toml", '[tool.muslin.sources]\nfoo = { git = "https://x/y" }\n'
    )
    with pytest.raises(InputFileError, match=r"only index sources are supported \(git given\)"):
        load_pyproject_config(g)
    h = write(
        tmp_path / "c" / "pyproject.toml",
        '[[tool.muslin.index]]\nname = "ghost"\nexplicit = true\n',
    )
    with pytest.raises(UsageError, match=r"index 'ghost' has no url"):
        load_project_config(pyproject=h)


def test_invalid_marker_in_sources_has_line(tmp_path: Path) -> None:
    f = write(
        tmp_path / "pyproject.toml",
        '[[tool.uv.index]]\nname = "a"\nurl = "https://a.example/simple/"\n\n'
        '[tool.uv.sources]\nx = { index = "a", marker = "python_version >>> \'3\'" }\n',
    )
    with pytest.raises(
        InputFileError, match=r"pyproject\.toml:6: tool\.uv\.sources\.x: invalid marker"
    ):
        load_pyproject_config(f)


def test_duplicate_index_names_in_config(tmp_path: Path) -> None:
    f = write(
        tmp_path / "pyproject.toml",
        '[[tool.uv.index]]\nname = "a"\nurl = "https://a.example/"\n'
        '[[tool.uv.index]]\nname = "a"\nurl = "https://b.example/"\n',
    )
    with pytest.raises(InputFileError, match="duplicate index name 'a'"):
        load_pyproject_config(f)


def test_muslin_yaml(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    f = write(
        tmp_path / "muslin.yaml",
        f"""\
index:
  - name: musl
    url: {MUSL}
    accept-linux-tags: true
  - name: private
    url: https://user:token@private.example/simple/
    explicit: true
sources:
  cryptography:
    index: pypi
  secret-lib:
    - index: private
      marker: platform_machine == 'x86_64'
index-strategy: unsafe-best-match
find-links:
  - wheels
dependencies:
  - cryptography==41.0.3
  - secret-lib>=1
""",
    )
    config = load_muslin_yaml(f)
    assert [str(d.requirement) for d in config.dependencies] == [
        "cryptography==41.0.3",
        "secret-lib>=1",
    ]
    assert [d.line for d in config.dependencies] == [18, 19]
    s = settings(config=config)
    assert names(s) == ["musl", "private", "find-links-1", "pypi"]
    assert s.index("musl").accept_linux_tags  # type: ignore[union-attr]
    assert s.index("find-links-1") == IndexConfig(
        "find-links-1", str(wheels.resolve()), kind="find-links"
    )
    assert IndexPin("secret-lib", "private", Marker("platform_machine == 'x86_64'")) in s.pins
    assert s.strategy is IndexStrategy.UNSAFE_BEST_MATCH
    assert "token" not in repr(s.index("private"))


def test_muslin_yaml_errors(tmp_path: Path) -> None:
    f = write(tmp_path / "muslin.yaml", "index:\n  - name: a\n    url: [unclosed\n")
    with pytest.raises(InputFileError) as info:
        load_muslin_yaml(f)
    assert info.value.line is not None and "invalid YAML" in str(info.value)
    g = write(tmp_path / "x" / "muslin.yaml", "index: []\nsourcez: {}\n")
    with pytest.raises(InputFileError, match=r"muslin\.yaml:2: unknown key 'sourcez'"):
        load_muslin_yaml(g)
    h = write(tmp_path / "y" / "muslin.yaml", "dependencies:\n  - ok\n  - bad>>1\n")
    with pytest.raises(InputFileError, match=r"muslin\.yaml:3: invalid requirement 'bad>>1'"):
        load_muslin_yaml(h)


def test_find_project_config_merges_yaml_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", UV_PYPROJECT)
    write(
        tmp_path / "muslin.yaml",
        "index:\n  - name: musl\n    accept-linux-tags: true\nsources:\n  cryptography: {index: musl}\n",
    )
    config = find_project_config(tmp_path)
    assert config is not None
    s = settings(config=config)
    assert names(s) == ["musl", "internal", "pypi"]
    assert s.index("musl") == IndexConfig("musl", MUSL, accept_linux_tags=True)
    assert IndexPin("cryptography", "musl") in s.pins
    assert len(config.files) == 2
    assert find_project_config(tmp_path / "nothing-here") is None


def test_environment_variables() -> None:
    env = {
        "PIP_INDEX_URL": "https://mirror.example/simple/",
        "PIP_EXTRA_INDEX_URL": "https://e1.example/simple/ https://e2.example/simple/",
        "UV_INDEX": f"musl={MUSL} https://e1.example/simple/",
    }
    s = settings(env=env)
    assert names(s) == ["musl", "extra-1", "extra-2", "pypi"]
    assert s.index("extra-1").url == "https://e1.example/simple/"  # type: ignore[union-attr]
    assert s.index("pypi") == IndexConfig("pypi", "https://mirror.example/simple/", default=True)
    s2 = settings(env={**env, "UV_DEFAULT_INDEX": "https://uvdefault.example/simple/"})
    assert s2.index("pypi").url == "https://uvdefault.example/simple/"  # type: ignore[union-attr]
    s3 = settings(env={"UV_INDEX_STRATEGY": "unsafe-best-match"})
    assert s3.strategy is IndexStrategy.UNSAFE_BEST_MATCH


def test_command_line_layer(tmp_path: Path) -> None:
    links = tmp_path / "dist"
    links.mkdir()
    cli = CliIndexOptions(
        indexes=(f"musl={MUSL}", "other=https://other.example/simple/"),
        default_index="https://mirror.example/simple/",
        find_links=("dist",),
        pins=("Cryptography=pypi", "numpy=musl"),
        index_strategy="unsafe-best-match",
        accept_linux_tags=("musl",),
        only_binary=(":all:",),
    )
    s = settings(cli=cli, cwd=tmp_path)
    assert names(s) == ["musl", "other", "find-links-1", "pypi"]
    assert s.index("musl") == IndexConfig("musl", MUSL, accept_linux_tags=True)
    assert s.index("pypi") == IndexConfig("pypi", "https://mirror.example/simple/", default=True)
    assert s.pins == (IndexPin("cryptography", "pypi"), IndexPin("numpy", "musl"))
    assert s.strategy is IndexStrategy.UNSAFE_BEST_MATCH
    assert s.only_binary == {":all:"}


def test_precedence_command_line_wins_over_config_and_environment(tmp_path: Path) -> None:
    config = load_pyproject_config(write(tmp_path / "pyproject.toml", UV_PYPROJECT))
    cli = CliIndexOptions(
        indexes=(f"musl={OTHER}",),
        pins=("cryptography=musl",),
        index_strategy="first-index",
    )
    env = {
        "UV_INDEX": "musl=https://env.example/simple/",
        "PIP_INDEX_URL": "https://envmirror.example/",
    }
    s = settings(cli=cli, config=config, env=env)
    assert s.index("musl") == IndexConfig("musl", OTHER)
    assert names(s) == ["musl", "internal", "pypi"]
    assert s.index("pypi").url == "https://envmirror.example/"  # type: ignore[union-attr]
    assert s.strategy is IndexStrategy.FIRST_INDEX
    crypto = [p for p in s.pins if p.package == "cryptography"]
    assert crypto == [IndexPin("cryptography", "musl")]
    # config still wins over the environment
    s2 = settings(config=config, env=env)
    assert s2.index("musl").url == MUSL  # type: ignore[union-attr]


def test_requirements_file_options_and_generated_names(tmp_path: Path) -> None:
    req = write(
        tmp_path / "requirements.txt",
        f"--index-url https://reqmirror.example/simple/\n"
        f"--extra-index-url {MUSL.rstrip('/')}\n"
        "--extra-index-url https://new.example/simple/\n"
        "six\n",
    )
    config = load_pyproject_config(write(tmp_path / "pyproject.toml", UV_PYPROJECT))
    s = settings(config=config, req=[req], env={"PIP_INDEX_URL": "https://envmirror.example/"})
    # the musl URL matched the configured 'musl' index; the new one got a generated name
    assert names(s) == ["musl", "extra-1", "internal", "pypi"]
    assert s.index("extra-1").url == "https://new.example/simple/"  # type: ignore[union-attr]
    assert s.index("pypi").url == "https://reqmirror.example/simple/"  # type: ignore[union-attr]
    # the command line's default still beats the requirements file's
    s2 = settings(cli=CliIndexOptions(default_index="https://cli.example/simple/"), req=[req])
    assert s2.index("pypi").url == "https://cli.example/simple/"  # type: ignore[union-attr]


def test_no_index_keeps_find_links_only(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    req = write(tmp_path / "r.txt", "--no-index\n--find-links wheels\nsix\n")
    s = settings(req=[req], cli=CliIndexOptions(indexes=(f"musl={MUSL}",)))
    assert names(s) == ["find-links-1"]
    assert s.indexes[0].kind == "find-links"


def test_overridden_default_stays_available_for_pins(tmp_path: Path) -> None:
    f = write(
        tmp_path / "pyproject.toml",
        '[[tool.uv.index]]\nname = "corp"\nurl = "https://corp.example/simple/"\ndefault = true\n'
        '[tool.uv.sources]\nsecret = { index = "corp" }\n',
    )
    config = load_pyproject_config(f)
    assert names(settings(config=config)) == ["corp"]
    s = settings(config=config, cli=CliIndexOptions(default_index="https://cli.example/simple/"))
    assert names(s) == ["corp", "pypi"]
    assert s.index("corp") == IndexConfig("corp", "https://corp.example/simple/", explicit=True)
    assert s.index("pypi").default  # type: ignore[union-attr]


def test_unknown_index_in_pin() -> None:
    cli = CliIndexOptions(indexes=(f"musl={MUSL}",), pins=("cryptography=pypj",))
    with pytest.raises(UsageError) as info:
        settings(cli=cli)
    assert info.value.exit_code == 2
    assert str(info.value) == "--pin cryptography=pypj: no index named 'pypj'; known: musl, pypi"


def test_unknown_index_in_config_pin_names_file_and_line(tmp_path: Path) -> None:
    f = write(
        tmp_path / "pyproject.toml", '[tool.uv.sources]\n\ncryptography = { index = "musl" }\n'
    )
    with pytest.raises(UsageError) as info:
        settings(config=load_pyproject_config(f))
    assert str(info.value) == (
        f"{f}:3: [tool.uv.sources] cryptography: no index named 'musl'; known: pypi"
    )


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        (CliIndexOptions(indexes=("a=https://a/", "a=https://b/")), "index 'a' is given twice"),
        (CliIndexOptions(indexes=("musl=example.org/simple",)), "has no scheme"),
        (CliIndexOptions(indexes=("ftp://example.org/simple",)), "unsupported URL scheme"),
        (CliIndexOptions(indexes=("musl=",)), "missing URL"),
        (CliIndexOptions(pins=("cryptography",)), "expected PACKAGE=INDEX"),
        (CliIndexOptions(pins=("a=pypi", "A=pypi")), "pinned twice"),
        (CliIndexOptions(index_strategy="best"), "unknown index strategy 'best'"),
        (
            CliIndexOptions(accept_linux_tags=("nope",)),
            "--accept-linux-tags nope: no index named 'nope'",
        ),
        (CliIndexOptions(find_links=("no/such/dir",)), "does not exist"),
    ],
)
def test_command_line_errors(cli: CliIndexOptions, message: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=message):
        settings(cli=cli, cwd=tmp_path)


def test_credentials_never_in_error_messages(tmp_path: Path) -> None:
    for bad in ("musl=user:hunter2@example.org/simple", "musl=ftp://user:hunter2@example.org/"):
        with pytest.raises(UsageError) as info:
            settings(cli=CliIndexOptions(indexes=(bad,)), cwd=tmp_path)
        assert "hunter2" not in str(info.value)
    with pytest.raises(UsageError) as info:
        settings(env={"PIP_INDEX_URL": "user:hunter2@example.org/simple"}, cwd=tmp_path)
    assert "hunter2" not in str(info.value)


def test_local_directory_as_index(tmp_path: Path) -> None:
    (tmp_path / "simple").mkdir()
    s = settings(cli=CliIndexOptions(indexes=("local=simple",)), cwd=tmp_path)
    assert s.index("local").url == str((tmp_path / "simple").resolve())  # type: ignore[union-attr]


def test_unnamed_index_matching_a_named_one_keeps_its_credentials(tmp_path: Path) -> None:
    config = load_pyproject_config(write(tmp_path / "pyproject.toml", UV_PYPROJECT))
    env = {"PIP_EXTRA_INDEX_URL": "http://ci:t0ken@127.0.0.1:8080/simple"}
    s = settings(config=config, env=env)
    assert names(s) == ["musl", "internal", "pypi"]
    musl = s.index("musl")
    assert musl is not None and musl.has_credentials and musl.redacted_url == MUSL.rstrip("/")
