"""Finding and loading muslin's Jinja2 templates.

The built-in templates live in the repository's top-level ``templates/``
directory; the wheel carries them as ``muslin/templates`` (hatch
``force-include``).  :func:`builtin_templates_dir` finds them in an installed
wheel first, then in a source checkout / editable install.

Template names: the built-in templates are always reachable under the
``muslin/`` prefix (``muslin/Dockerfile.j2``, ``muslin/partials/...``), so a
user's template given with ``--template PATH`` can ``{% extends
"muslin/Dockerfile.j2" %}`` and override single blocks, or include the
built-in partials, without its own files shadowing them.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from muslin.errors import UsageError

BUILTIN_PREFIX = "muslin"
DOCKERFILE_TEMPLATE = f"{BUILTIN_PREFIX}/Dockerfile.j2"
REQUIREMENTS_TEMPLATE = f"{BUILTIN_PREFIX}/requirements.txt.j2"

_SAFE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-](?:[A-Za-z0-9_@%+=:,./-]|(?<=[A-Za-z0-9])~)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def builtin_templates_dir() -> Path:
    """The directory holding ``Dockerfile.j2``: packaged copy first, then the source tree."""
    packaged = resources.files("muslin") / "templates"
    if packaged.is_dir() and (packaged / "Dockerfile.j2").is_file():
        # A wheel is installed as plain files; resources.files() is then a real path.
        return Path(str(packaged))
    source = Path(__file__).resolve().parents[3] / "templates"
    if (source / "Dockerfile.j2").is_file():
        return source
    raise UsageError(
        "muslin's templates are missing from this installation "
        f"(looked in {packaged} and {source}); reinstall muslin"
    )


def sh_quote(value: object) -> str:
    """Quote one value for a POSIX shell word; plain words stay unquoted.

    ``~`` stays unquoted only right after a letter or digit (``python3~3.11``): shells
    expand it at the start of a word and, in assignment-like words, after ``=`` or ``:``.
    """
    text = str(value)
    if _SAFE_WORD.fullmatch(text):
        return text
    return shlex.quote(text)


def sh_join(values: Iterable[object]) -> str:
    """Quote every value and join with spaces."""
    return " ".join(sh_quote(v) for v in values)


def one_line(value: object) -> str:
    """Text fit for a Dockerfile comment or instruction: control characters escaped.

    A newline inside a comment would end it and start a new instruction.
    """
    text = str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def json_value(value: Any) -> str:
    """JSON for exec-form instructions (``CMD ["a", "b"]``); non-ASCII kept, control chars escaped."""
    return json.dumps(value, ensure_ascii=False)


def make_environment(user_template: Path | None = None) -> jinja2.Environment:
    """A Jinja2 environment with StrictUndefined, muslin's filters and loaders.

    ``user_template``: its directory is searched (for the template itself and
    anything it includes by a relative name); built-ins stay under ``muslin/``.
    """
    builtin = jinja2.PrefixLoader({BUILTIN_PREFIX: jinja2.FileSystemLoader(str(builtin_templates_dir()))})
    loaders: list[jinja2.BaseLoader] = [builtin]
    if user_template is not None:
        loaders.append(jinja2.FileSystemLoader(str(user_template.parent)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["sh"] = sh_quote
    env.filters["sh_join"] = sh_join
    env.filters["one_line"] = one_line
    env.filters["json"] = json_value
    return env


def load_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """Load ``name``; a missing or malformed template is a :class:`UsageError`."""
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise UsageError(f"template not found: {exc.name}") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}:{exc.lineno}"
        raise UsageError(f"{where}: template syntax error: {exc.message}") from exc


def render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render; undefined names and template errors become one :class:`UsageError` line."""
    try:
        return template.render(context)
    except jinja2.UndefinedError as exc:
        raise UsageError(f"template {template.name}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise UsageError(f"template {template.name}: {exc}") from exc
