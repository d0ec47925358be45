"""Index configuration from every layer, merged into one :class:`IndexSettings`.

Layers, highest precedence first: the command line, requirements-file options
(``-i``, ``--extra-index-url``, ``-f``, ``--no-index``), project configuration
(``muslin.yaml`` over ``[tool.muslin]`` over ``[tool.uv]`` in ``pyproject.toml``),
environment variables, and finally PyPI as the default index.

* An index defined with the same name in a higher layer replaces the lower one.
* Indexes are consulted in layer order (command line first); the one default
  index (the highest layer's) comes last.  An unnamed default index is called
  ``pypi`` (it takes PyPI's place); a default index overridden by a higher layer
  stays available, as an explicit index, to packages pinned to it.
* A pin for a package in a higher layer replaces all lower pins of that package.
* Unnamed extra indexes (``--extra-index-url``, ``PIP_EXTRA_INDEX_URL``) take the
  name of a named index with the same URL, else ``extra-1``, ``extra-2`` ...;
  find-links locations are named ``find-links-1`` ...
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from muslin.errors import InputFileError, UsageError
from muslin.index.config import (
    PYPI_NAME,
    PYPI_URL,
    IndexConfig,
    IndexPin,
    IndexSettings,
    IndexStrategy,
    redact_url,
)
from muslin.inputs.pyproject import TomlDocument, load_toml
from muslin.inputs.requirements import (
    ParsedRequirement,
    RequirementsFile,
    apply_binary_option,
    parse_requirement_string,
)
from muslin.inputs.textfile import read_input_text
from muslin.plan.model import InputFile

MUSLIN_YAML_NAMES = ("muslin.yaml", "muslin.yml")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_URL_SCHEMES = ("http", "https", "file")
_UV_INDEX_KEYS = {"name", "url", "explicit", "default", "format"}
_UV_IGNORED_INDEX_KEYS = {"authenticate", "ignore-error-codes", "cache-control", "publish-url"}
_MUSLIN_INDEX_KEYS = {"name", "url", "explicit", "default", "format", "accept-linux-tags"}
_MUSLIN_KEYS = {"index", "sources", "index-strategy", "find-links", "dependencies"}
_FORMATS = {"simple": "simple", "flat": "find-links", "find-links": "find-links"}


@dataclass(frozen=True)
class CliIndexOptions:
    """The command-line layer, values exactly as the user typed them."""

    indexes: tuple[str, ...] = ()
    """``--index NAME=URL`` (or a bare URL), in order."""
    default_index: str | None = None
    """``--default-index URL`` (or ``NAME=URL``)."""
    find_links: tuple[str, ...] = ()
    pins: tuple[str, ...] = ()
    """``--pin PACKAGE=INDEX``."""
    index_strategy: str | None = None
    accept_linux_tags: tuple[str, ...] = ()
    """Index names."""
    no_index: bool = False
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourcedPin:
    """An index pin and where it was written (for error messages)."""

    pin: IndexPin
    where: str


@dataclass
class IndexFileConfig:
    """Index configuration read from ``pyproject.toml`` and/or ``muslin.yaml``.

    Index entries with an empty ``name`` are unnamed (``index-url`` style);
    ``overlays`` are ``[[tool.muslin.index]]`` entries without a URL that
    change options of an index defined elsewhere in the project configuration.
    """

    source: str
    indexes: list[IndexConfig] = field(default_factory=list)
    pins: list[SourcedPin] = field(default_factory=list)
    strategy: IndexStrategy | None = None
    no_index: bool = False
    dependencies: list[ParsedRequirement] = field(default_factory=list)
    """``dependencies:`` of a muslin.yaml."""
    files: list[InputFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    overlays: dict[str, dict[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# reading project configuration


def load_pyproject_config(
    path: str | os.PathLike[str], doc: TomlDocument | None = None
) -> IndexFileConfig:
    """``[tool.muslin]`` over ``[tool.uv]`` of one pyproject.toml."""
    doc = doc or load_toml(path)
    base = Path(doc.path).resolve().parent
    tool = doc.data.get("tool", {})
    if not isinstance(tool, dict):
        raise doc.error("tool", "[tool] must be a table", key=True)
    uv = tool.get("uv", {})
    muslin = tool.get("muslin", {})
    for key, value in (("tool.uv", uv), ("tool.muslin", muslin)):
        if not isinstance(value, dict):
            raise doc.error(key, f"[{key}] must be a table", key=True)
    low = _read_tables(doc, uv, "tool.uv", base, strict=False)
    allowed = _MUSLIN_KEYS - {"dependencies"}
    unknown = sorted(set(muslin) - allowed)
    if unknown:
        raise doc.error(
            unknown[0],
            f"[tool.muslin] has unknown key {unknown[0]!r}; known: {', '.join(sorted(allowed))}",
            key=True,
        )
    high = _read_tables(doc, muslin, "tool.muslin", base, strict=True)
    merged = merge_configs(high, low)
    merged.source = doc.path
    merged.files = [InputFile(doc.path, doc.sha256)]
    return merged


def load_muslin_yaml(path: str | os.PathLike[str]) -> IndexFileConfig:
    """A ``muslin.yaml``: ``index``, ``sources``, ``index-strategy``, ``find-links``, ``dependencies``."""
    import yaml  # only projects with a muslin.yaml pay for it

    shown = os.fspath(path)
    raw, text = read_input_text(path, "utf-8-sig")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputFileError(shown, line, f"invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputFileError(shown, 1, "muslin.yaml must be a mapping (index:, sources:, ...)")
    doc = TomlDocument(shown, data, text, hashlib.sha256(raw).hexdigest())
    unknown = sorted(str(k) for k in set(data) - _MUSLIN_KEYS)
    if unknown:
        raise doc.error(
            unknown[0],
            f"unknown key {unknown[0]!r}; known: {', '.join(sorted(_MUSLIN_KEYS))}",
            key=True,
        )
    config = _read_tables(doc, data, "muslin.yaml", Path(shown).resolve().parent, strict=True)
    deps = data.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise doc.error(
            "dependencies", "dependencies must be a list of requirement strings", key=True
        )
    config.dependencies = [
        parse_requirement_string(d, file=shown, line=doc.find_line(d) or doc.find_line(d.strip()))
        for d in deps
    ]
    config.source = shown
    config.files = [InputFile(shown, doc.sha256)]
    return config


def load_project_config(
    *,
    pyproject: str | os.PathLike[str] | None = None,
    muslin_yaml: str | os.PathLike[str] | None = None,
    pyproject_doc: TomlDocument | None = None,
) -> IndexFileConfig | None:
    """``muslin.yaml`` over ``pyproject.toml`` (either may be absent)."""
    configs: list[IndexFileConfig] = []
    if muslin_yaml is not None:
        configs.append(load_muslin_yaml(muslin_yaml))
    if pyproject is not None or pyproject_doc is not None:
        configs.append(load_pyproject_config(pyproject or "pyproject.toml", pyproject_doc))
    if not configs:
        return None
    merged = configs[0] if len(configs) == 1 else merge_configs(configs[0], configs[1])
    _check_overlays(merged)
    return merged


def find_muslin_yaml(directory: str | os.PathLike[str]) -> Path | None:
    """``muslin.yaml`` (or ``muslin.yml``) in ``directory``."""
    for name in MUSLIN_YAML_NAMES:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    return None


def find_project_config(directory: str | os.PathLike[str]) -> IndexFileConfig | None:
    """The project configuration found in ``directory`` (muslin.yaml, pyproject.toml)."""
    pyproject = Path(directory) / "pyproject.toml"
    return load_project_config(
        pyproject=pyproject if pyproject.is_file() else None,
        muslin_yaml=find_muslin_yaml(directory),
    )


def merge_configs(high: IndexFileConfig, low: IndexFileConfig) -> IndexFileConfig:
    """``high`` over ``low``: same-named indexes and same-package pins of ``high`` win."""
    high_names = {ix.name for ix in high.indexes if ix.name}
    indexes = [
        *high.indexes,
        *(ix for ix in low.indexes if not ix.name or ix.name not in high_names),
    ]
    overlays: dict[str, dict[str, Any]] = dict(low.overlays)
    for name, changes in high.overlays.items():
        position = next((i for i, ix in enumerate(indexes) if ix.name == name), None)
        if position is None:
            overlays[name] = changes
        else:
            indexes[position] = replace(indexes[position], **changes)
    high_pkgs = {p.pin.package for p in high.pins}
    return IndexFileConfig(
        source=high.source,
        indexes=indexes,
        pins=[*high.pins, *(p for p in low.pins if p.pin.package not in high_pkgs)],
        strategy=high.strategy or low.strategy,
        no_index=high.no_index or low.no_index,
        dependencies=[*high.dependencies, *low.dependencies],
        files=[*high.files, *low.files],
        warnings=[*high.warnings, *low.warnings],
        overlays=overlays,
    )


def _check_overlays(config: IndexFileConfig) -> None:
    for name in config.overlays:
        raise UsageError(
            f"{config.source}: index {name!r} has no url and no other index of that name is "
            "defined in the project configuration"
        )


def _read_tables(
    doc: TomlDocument, table: Mapping[str, Any], label: str, base: Path, *, strict: bool
) -> IndexFileConfig:
    """Read the index/sources/strategy keys of ``[tool.uv]``, ``[tool.muslin]`` or muslin.yaml."""
    config = IndexFileConfig(source=f"{doc.path} [{label}]")
    entries = table.get("index", [])
    if not isinstance(entries, list):
        raise doc.error("index", f"{label}.index must be an array of tables", key=True)
    seen: set[str] = set()
    for entry in entries:
        parsed, overlay = _read_index_entry(doc, entry, label, base, strict=strict)
        if parsed is None:
            assert overlay is not None
            name, changes = overlay
            if name in seen or name in config.overlays:
                raise doc.error(name, f"{label}.index: duplicate index name {name!r}")
            config.overlays[name] = changes
            continue
        if parsed.name:
            if parsed.name in seen or parsed.name in config.overlays:
                raise doc.error(parsed.name, f"{label}.index: duplicate index name {parsed.name!r}")
            seen.add(parsed.name)
        config.indexes.append(parsed)
    if not strict:
        # uv's older top-level options
        url = table.get("index-url")
        if isinstance(url, str):
            config.indexes.append(
                IndexConfig(
                    "", _check_url(url, f"{doc.path}: {label}.index-url", base), default=True
                )
            )
        extra = table.get("extra-index-url", [])
        if isinstance(extra, list):
            for item in extra:
                if isinstance(item, str):
                    where = f"{doc.path}: {label}.extra-index-url"
                    config.indexes.append(IndexConfig("", _check_url(item, where, base)))
        if table.get("no-index") is True:
            config.no_index = True
    links = table.get("find-links", [])
    if isinstance(links, str):
        links = [links]
    if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
        raise doc.error(
            "find-links", f"{label}.find-links must be a list of URLs or paths", key=True
        )
    for link in links:
        config.indexes.append(_find_links_entry(link, f"{doc.path}: {label}.find-links", base))
    strategy = table.get("index-strategy")
    if strategy is not None:
        config.strategy = _parse_strategy(strategy, f"{doc.path}: {label}.index-strategy")
    sources = table.get("sources", {})
    if not isinstance(sources, dict):
        raise doc.error("sources", f"{label}.sources must be a table", key=True)
    for package, spec in sources.items():
        _read_source(doc, config, label, str(package), spec, strict=strict)
    return config


def _read_index_entry(
    doc: TomlDocument, entry: Any, label: str, base: Path, *, strict: bool
) -> tuple[IndexConfig | None, tuple[str, dict[str, Any]] | None]:
    if not isinstance(entry, dict):
        raise doc.error("index", f"{label}.index entries must be tables, got {entry!r}", key=True)
    name = entry.get("name", "")
    if not isinstance(name, str) or (name and not _NAME_RE.match(name)):
        raise doc.error(str(name), f"{label}.index: invalid index name {name!r}")
    where = f"{label}.index {name!r}" if name else f"{label}.index"
    allowed = _MUSLIN_INDEX_KEYS if strict else _UV_INDEX_KEYS | _UV_IGNORED_INDEX_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown and strict:
        raise doc.error(
            unknown[0],
            f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(allowed))}",
            key=True,
        )
    flags: dict[str, Any] = {}
    for key, attr in (
        ("explicit", "explicit"),
        ("default", "default"),
        ("accept-linux-tags", "accept_linux_tags"),
    ):
        if key in entry:
            if key not in allowed:
                continue
            if not isinstance(entry[key], bool):
                raise doc.error(key, f"{where}: {key} must be true or false", key=True)
            flags[attr] = entry[key]
    if "format" in entry:
        fmt = entry["format"]
        if fmt not in _FORMATS:
            raise doc.error(
                "format", f"{where}: format must be 'simple' or 'flat', got {fmt!r}", key=True
            )
        flags["kind"] = _FORMATS[fmt]
    url = entry.get("url")
    if url is None:
        if strict and name:
            return None, (name, flags)
        raise doc.error(name or "index", f"{where}: missing url", key=not name)
    if not isinstance(url, str):
        raise doc.error("url", f"{where}: url must be a string", key=True)
    if flags.get("explicit") and not name:
        raise doc.error("explicit", f"{where}: an explicit index needs a name", key=True)
    checked = _check_url(url, f"{doc.path}: {where}", base)
    return IndexConfig(name, checked, **flags), None


def _read_source(
    doc: TomlDocument, config: IndexFileConfig, label: str, package: str, spec: Any, *, strict: bool
) -> None:
    where_key = f"{label}.sources.{package}"
    entries = spec if isinstance(spec, list) else [spec]
    pins: list[SourcedPin] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise doc.error(
                package, f'{where_key}: expected {{ index = "NAME" }}, got {entry!r}', key=True
            )
        if "index" not in entry:
            kinds = ", ".join(sorted(k for k in entry if k != "marker")) or "nothing"
            message = (
                f"{where_key}: only index sources are supported ({kinds} given); "
                "muslin installs wheels from indexes"
            )
            if strict:
                raise doc.error(package, message, key=True)
            config.warnings.append(f"{doc.path}: {message}; ignored")
            continue
        index = entry["index"]
        if not isinstance(index, str):
            raise doc.error(package, f"{where_key}: index must be a string", key=True)
        marker: Marker | None = None
        raw_marker = entry.get("marker")
        if raw_marker is not None:
            try:
                marker = Marker(str(raw_marker))
            except InvalidMarker as exc:
                line = doc.find_line(str(raw_marker))
                raise InputFileError(
                    doc.path, line, f"{where_key}: invalid marker: {exc}"
                ) from None
        line = doc.find_key_line(package)
        place = f"{doc.path}:{line}" if line else doc.path
        where = f"{place}: [{label}.sources] {package}"
        pins.append(SourcedPin(IndexPin(canonicalize_name(package), index, marker), where))
    config.pins.extend(pins)


# ---------------------------------------------------------------------------
# small parsers shared by the layers


def _parse_strategy(value: Any, where: str) -> IndexStrategy:
    for strategy in IndexStrategy:
        if value == strategy.value:
            return strategy
    known = ", ".join(s.value for s in IndexStrategy)
    raise UsageError(f"{where}: unknown index strategy {value!r}; use one of: {known}")


def _safe(url: str) -> str:
    """``url`` without credentials, also when it has no scheme."""
    if "://" in url:
        return re.sub(r"://[^/@\s]*@", "://", redact_url(url))
    return re.sub(r"^((?:[A-Za-z0-9._-]+=)?)[^/@=]*@", r"\1", url)


def _check_url(url: str, where: str, base: Path) -> str:
    """An http(s)/file URL as given, or an existing directory made absolute."""
    url = url.strip()
    if not url:
        raise UsageError(f"{where}: empty URL")
    scheme = urlsplit(url).scheme.lower()
    if scheme in _URL_SCHEMES:
        if scheme != "file" and not urlsplit(url).hostname:
            raise UsageError(f"{where}: URL {_safe(url)!r} has no host")
        return url
    if "://" in url:
        raise UsageError(
            f"{where}: unsupported URL scheme in {_safe(url)!r}; use http://, https:// or file://"
        )
    candidate = (base / os.path.expanduser(url)).resolve()
    if candidate.is_dir():
        return os.fspath(candidate)
    raise UsageError(
        f"{where}: {_safe(url)!r} has no scheme (http:// or https://) and is not an existing directory"
    )


def _find_links_entry(location: str, where: str, base: Path) -> IndexConfig:
    location = location.strip()
    if "://" in location:
        return IndexConfig("", _check_url(location, where, base), kind="find-links")
    candidate = (base / os.path.expanduser(location)).resolve()
    if not candidate.exists():
        raise UsageError(f"{where}: find-links location {location!r} does not exist")
    return IndexConfig("", os.fspath(candidate), kind="find-links")


def _split_named(value: str, option: str) -> tuple[str, str]:
    """``NAME=URL`` -> (NAME, URL); a bare URL -> ("", URL)."""
    name, sep, rest = value.partition("=")
    if sep and _NAME_RE.match(name) and rest:
        return name, rest
    if sep and not rest:
        raise UsageError(f"{option} {_safe(value)}: missing URL after '='")
    return "", value


def _norm_url(url: str) -> str:
    """Comparable form: no credentials, lower-case scheme and host, no trailing slash."""
    parts = urlsplit(redact_url(url))
    if not parts.scheme:
        return url.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


# ---------------------------------------------------------------------------
# layers


@dataclass
class _Layer:
    label: str
    indexes: list[IndexConfig] = field(default_factory=list)
    pins: list[SourcedPin] = field(default_factory=list)
    strategy: IndexStrategy | None = None
    no_index: bool = False


def _cli_layer(cli: CliIndexOptions, cwd: Path) -> _Layer:
    layer = _Layer("command line")
    names: set[str] = set()
    for value in cli.indexes:
        name, url = _split_named(value, "--index")
        if name:
            if name in names:
                raise UsageError(f"--index {name}=...: index {name!r} is given twice")
            names.add(name)
        layer.indexes.append(IndexConfig(name, _check_url(url, f"--index {_safe(value)}", cwd)))
    for location in cli.find_links:
        layer.indexes.append(_find_links_entry(location, f"--find-links {_safe(location)}", cwd))
    if cli.default_index:
        name, url = _split_named(cli.default_index, "--default-index")
        if name and name in names:
            raise UsageError(f"--default-index {name}=...: index {name!r} is given twice")
        where = f"--default-index {_safe(cli.default_index)}"
        layer.indexes.append(IndexConfig(name, _check_url(url, where, cwd), default=True))
    for value in cli.pins:
        package, sep, index = value.partition("=")
        package, index = package.strip(), index.strip()
        if not sep or not package or not index or not _NAME_RE.match(package):
            raise UsageError(f"--pin {value}: expected PACKAGE=INDEX")
        pin = IndexPin(canonicalize_name(package), index)
        if any(p.pin.package == pin.package for p in layer.pins):
            raise UsageError(f"--pin {value}: {package} is pinned twice")
        layer.pins.append(SourcedPin(pin, f"--pin {value}"))
    if cli.index_strategy is not None:
        layer.strategy = _parse_strategy(cli.index_strategy, "--index-strategy")
    layer.no_index = cli.no_index
    return layer


def _requirements_layer(files: Sequence[RequirementsFile]) -> _Layer:
    layer = _Layer("requirements files")
    default: str | None = None
    for req in files:
        base = Path(req.path).resolve().parent
        if req.index_url:
            default = _check_url(req.index_url, f"{req.path}: --index-url", base)
        for url in req.extra_index_urls:
            layer.indexes.append(
                IndexConfig("", _check_url(url, f"{req.path}: --extra-index-url", base))
            )
        for location in req.find_links:
            layer.indexes.append(_find_links_entry(location, f"{req.path}: --find-links", base))
        layer.no_index = layer.no_index or req.no_index
    if default is not None:
        layer.indexes.append(IndexConfig("", default, default=True))
    return layer


def _config_layer(config: IndexFileConfig) -> _Layer:
    return _Layer(
        config.source,
        indexes=list(config.indexes),
        pins=list(config.pins),
        strategy=config.strategy,
        no_index=config.no_index,
    )


def _env_layer(env: Mapping[str, str], cwd: Path) -> _Layer:
    layer = _Layer("environment")
    for var in ("UV_INDEX",):
        for item in env.get(var, "").split():
            name, url = _split_named(item, var)
            layer.indexes.append(IndexConfig(name, _check_url(url, f"{var} {_safe(item)}", cwd)))
    for var in ("UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        for url in env.get(var, "").split():
            layer.indexes.append(IndexConfig("", _check_url(url, f"{var} {_safe(url)}", cwd)))
    for var, separator in (("UV_FIND_LINKS", ","), ("PIP_FIND_LINKS", None)):
        for location in env.get(var, "").split(separator):
            if location.strip():
                layer.indexes.append(_find_links_entry(location, f"{var} {_safe(location)}", cwd))
    for var in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        value = env.get(var, "").strip()
        if value:
            layer.indexes.append(
                IndexConfig("", _check_url(value, f"{var} {_safe(value)}", cwd), default=True)
            )
            break
    strategy = env.get("UV_INDEX_STRATEGY", "").strip()
    if strategy:
        layer.strategy = _parse_strategy(strategy, "UV_INDEX_STRATEGY")
    return layer


# ---------------------------------------------------------------------------
# the merge


def build_index_settings(
    *,
    cli: CliIndexOptions,
    config: IndexFileConfig | None,
    req_options: Sequence[RequirementsFile],
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> IndexSettings:
    """Merge every layer (command line > requirements files > config > environment > PyPI)."""
    here = cwd or Path.cwd()
    layers = [_cli_layer(cli, here), _requirements_layer(req_options)]
    if config is not None:
        layers.append(_config_layer(config))
    layers.append(_env_layer(env, here))

    entries = [ix for layer in layers for ix in layer.indexes]
    named: dict[str, IndexConfig] = {}
    name_by_url: dict[str, str] = {}
    for ix in entries:
        if ix.name and ix.name not in named:
            named[ix.name] = ix
            name_by_url.setdefault(_norm_url(ix.url), ix.name)
    chosen_default = next((ix for ix in entries if ix.default), None)
    no_index = any(layer.no_index for layer in layers)

    result: dict[str, IndexConfig] = {}
    demoted: dict[str, IndexConfig] = {}
    counters = {"simple": 0, "find-links": 0}
    for ix in entries:
        if ix.default and ix is not chosen_default:
            if ix.name and ix.name not in result:
                demoted.setdefault(ix.name, replace(ix, default=False, explicit=True))
            continue
        name = ix.name or name_by_url.get(_norm_url(ix.url), "")
        if ix.name:
            chosen = named[ix.name]
            if chosen.default and chosen is not chosen_default:
                chosen = replace(chosen, default=False, explicit=True)
            chosen = replace(chosen, default=ix.default)
        elif name in named:
            chosen = replace(named[name], default=ix.default or named[name].default)
            if ix.has_credentials and not chosen.has_credentials:
                chosen = replace(chosen, url=ix.url)
        elif name:  # same URL as an unnamed index already placed
            if ix.default:
                result[name] = replace(result[name], default=True)
            continue
        else:
            name = _generate_name(ix, named, result, counters)
            chosen = replace(ix, name=name)
            name_by_url[_norm_url(ix.url)] = name
        if name in result:
            if chosen.default:
                result[name] = replace(result[name], default=True)
            if not ix.name and ix.has_credentials and not result[name].has_credentials:
                result[name] = replace(result[name], url=ix.url)  # same URL, with credentials
            continue
        result[name] = replace(chosen, name=name)

    if no_index:
        result = {n: ix for n, ix in result.items() if ix.kind == "find-links"}
    elif not any(ix.default for ix in result.values()) and PYPI_NAME not in result:
        result[PYPI_NAME] = IndexConfig(PYPI_NAME, PYPI_URL, default=True)

    pins: list[IndexPin] = []
    pinned: set[str] = set()
    for layer in layers:
        layer_packages: set[str] = set()
        for sourced in layer.pins:
            pin = sourced.pin
            if pin.package in pinned:
                continue
            layer_packages.add(pin.package)
            if pin.index not in result:
                if pin.index in demoted and not no_index:
                    result[pin.index] = demoted[pin.index]
                else:
                    known = ", ".join(sorted(result)) or "(none)"
                    raise UsageError(
                        f"{sourced.where}: no index named {pin.index!r}; known: {known}"
                    )
            pins.append(pin)
        pinned |= layer_packages

    for name in cli.accept_linux_tags:
        if name not in result:
            known = ", ".join(sorted(result)) or "(none)"
            raise UsageError(f"--accept-linux-tags {name}: no index named {name!r}; known: {known}")
        result[name] = replace(result[name], accept_linux_tags=True)

    ordered = [ix for ix in result.values() if not ix.default]
    ordered += [ix for ix in result.values() if ix.default]
    strategy = next(
        (layer.strategy for layer in layers if layer.strategy), IndexStrategy.FIRST_INDEX
    )

    only_binary: set[str] = set()
    no_binary: set[str] = set()
    for req in req_options:
        _merge_binary(req.only_binary, only_binary, no_binary)
        _merge_binary(req.no_binary, no_binary, only_binary)
    for value in cli.only_binary:
        apply_binary_option(value, only_binary, no_binary, "--only-binary", None)
    for value in cli.no_binary:
        apply_binary_option(value, no_binary, only_binary, "--no-binary", None)

    return IndexSettings(
        indexes=tuple(ordered),
        pins=tuple(pins),
        strategy=strategy,
        only_binary=frozenset(only_binary),
        no_binary=frozenset(no_binary),
    )


def _merge_binary(values: Iterable[str], target: set[str], other: set[str]) -> None:
    for value in sorted(values, key=lambda v: v != ":all:"):
        if value == ":all:":
            target.clear()
            other.clear()
        else:
            other.discard(value)
        target.add(value)


def _generate_name(
    ix: IndexConfig,
    named: Mapping[str, IndexConfig],
    result: Mapping[str, IndexConfig],
    counters: dict[str, int],
) -> str:
    if ix.default:
        for candidate in (PYPI_NAME, "default"):
            if candidate not in named and candidate not in result:
                return candidate
    prefix = "find-links" if ix.kind == "find-links" else "extra"
    while True:
        counters[ix.kind] = counters.get(ix.kind, 0) + 1
        candidate = f"{prefix}-{counters[ix.kind]}"
        if candidate not in named and candidate not in result:
            return candidate
