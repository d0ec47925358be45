"""Render a :class:`~muslin.plan.model.Plan` as a Dockerfile (plus one requirements file per index).

Python here only checks the plan and the options and builds the template
context; every instruction, flag and comment of the output is in the Jinja2
templates (``templates/Dockerfile.j2`` and ``templates/partials/``).

Template context (built-in and ``--template PATH`` templates get the same keys;
every value that lands in a ``RUN`` line goes through the ``sh`` filter):

``plan``            the :class:`~muslin.plan.model.Plan` (items, indexes, venv, inputs, command ...)
``image``           :class:`~muslin.plan.model.ImageInfo`: reference, digest, python_prefix, ...
``facts``           :class:`~muslin.facts.model.ImageFacts` of the image, or ``None`` when not given
``target``          :class:`~muslin.plan.model.TargetInfo`: ``describe()``, ``platform_tag``, ``arch``
``options``         :class:`DockerfileOptions` as given (buildkit, compile, pip_check, ...)
``muslin_version``  version string for the header
``plan_hash``       ``Plan.plan_hash()`` (``sha256:...``)
``regenerate``      the ``muslin`` command line that regenerates the file (no credentials)
``base``            :class:`BaseImage`: ``arg`` (ARG name), ``default`` (``alpine:3.18@sha256:...``),
                    ``pinned`` (digest in the default), ``note`` (why not pinned, or ``""``)
``apk_packages``    apk packages to add first (``python3~3.11``), possibly empty
``apk_unpinned``    those of them without a version constraint
``system_python``   the image's interpreter (runs ``-m venv`` or, without a venv, pip)
``python``          the interpreter that runs pip during the build (the venv's when there is one)
``venv``            :class:`~muslin.plan.model.VenvDecision` (``venv.path`` is None: no venv)
``venv_without_pip`` the venv reuses the system pip through ``--system-site-packages``
``indexes``         tuple of :class:`IndexInstall`, one per index with installs, in plan order:
                    ``name``, ``url``, ``kind`` (``simple``/``find-links``/``local``/``direct``),
                    ``items``, ``requirements_file`` (side-file name), ``context_path`` (path in
                    the build context), ``build_path`` (where the RUN step sees it), ``secret``;
                    ``local`` (a find-links directory on this machine) also has ``wheels_dir``
                    (its wheels, copied beside the Dockerfile), ``wheels_context_path`` and
                    ``wheels_build_path``
``secrets``         tuple of :class:`SecretMount` (``id``, ``index``, ``host``, ``path``)
``installs``/``keeps``  the plan's install and keep items
``user``            :class:`RunUser` or ``None``: ``name``, ``uid``, ``gid``, ``create``
``workdir``         ``--workdir`` or ``None``
``copies``          tuple of :class:`CopySpec` (``src``, ``dest``) from ``--copy SRC:DEST``
``cmd``             exec-form argument list (``--cmd``; shell form becomes ``/bin/sh -c``) or ``None``
``builder_stages``  tuple of Dockerfile text blocks rendered before the final stage (empty
                    today; the slot multi-stage source builds fill)
``dockerfile_path`` the Dockerfile's path relative to the build context (for the header)
``warnings``        the plan's warnings

Filters: ``sh`` (shell-quote one value), ``sh_join`` (quote a list), ``one_line``
(escape control characters, for comments), ``json`` (exec-form arrays).
The built-in templates are reachable as ``muslin/Dockerfile.j2`` and
``muslin/partials/*.j2``; a user template can ``{% extends "muslin/Dockerfile.j2" %}``
and override the blocks ``header``, ``builder``, ``base``, ``python``, ``venv``,
``install``, ``app``.  The requirements files always come from the built-in
``muslin/requirements.txt.j2`` (same context plus ``index``, one :class:`IndexInstall`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from muslin import __version__
from muslin.errors import UsageError
from muslin.facts.model import ImageFacts
from muslin.plan.model import Action, ImageInfo, IndexRef, Plan, PlanItem
from muslin.render import templates

DIRECT_INDEX = "direct"
"""Kind (and the planner's index name) of direct-URL requirements (``name @ https://...whl``);
an install whose index the plan does not list is treated the same way."""

BUILD_DIR = "/tmp/muslin"
"""Where RUN steps see the requirements files (bind mount or COPY target)."""

DEFAULT_UID = 10001

_NAME_RE = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_APK_RE = re.compile(r"[a-z0-9][a-z0-9._+-]*(?:(?:~|=|>=|<=|>|<|~=)[A-Za-z0-9._+-]+)?")
_IMAGE_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_CONTEXT_PATH_RE = re.compile(r"[A-Za-z0-9._/-]+")
_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_SLUG_RE = re.compile(r"[^A-Za-z0-9._-]+")
_BAD_TEXT_RE = re.compile(r"[\x00-\x1f\x7f$]")
_PATH_RE = re.compile(r"/[A-Za-z0-9._/+@-]*")
_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\.whl")
"""A wheel file name safe to copy beside the Dockerfile and name in a build (no '/', no '..')."""


@dataclass(frozen=True)
class DockerfileOptions:
    """What ``muslin dockerfile`` adds on top of the plan."""

    buildkit: bool = True
    """Assume BuildKit: ``RUN --mount`` for the pip cache, requirements files and secrets."""
    compile: bool = False
    """Byte-compile installed packages (pip's default); off like the official images."""
    pip_check: bool = True
    """Run ``pip check`` after the installs."""
    user: str | None = None
    """``NAME[:UID]`` (create NAME with that numeric UID, default 10001) or a bare UID."""
    workdir: str | None = None
    copies: tuple[str, ...] = ()
    """``SRC:DEST`` pairs (``--copy``, repeatable)."""
    cmd: str | None = None
    """A JSON array (exec form) or a shell command line."""
    template: Path | None = None
    """A user's Dockerfile template instead of the built-in one."""
    base_image: str | None = None
    """Override the ``BASE_IMAGE`` default (the plan's image, pinned by digest)."""
    pin_digest: bool = True
    """Pin the base image by its digest when the plan knows it."""
    context_dir: str = ""
    """Directory of the side files relative to the build context (POSIX, ``""`` = the context root)."""
    dockerfile_path: str = "Dockerfile"
    """The Dockerfile's path relative to the build context (for the header's build line)."""


@dataclass(frozen=True)
class BaseImage:
    arg: str
    default: str
    pinned: bool
    note: str


@dataclass(frozen=True)
class SecretMount:
    """A BuildKit secret holding a netrc file with credentials for one index."""

    id: str
    index: str
    host: str
    path: str
    """Where the RUN step sees it (``/run/secrets/<id>``)."""


@dataclass(frozen=True)
class IndexInstall:
    """One ``pip install`` step: the plan's installs from one index."""

    name: str
    url: str
    kind: str
    items: tuple[PlanItem, ...]
    requirements_file: str
    context_path: str
    build_path: str
    secret: SecretMount | None = None
    wheels_dir: str | None = None
    """``local`` kind: the directory beside the Dockerfile the planned wheels are copied to."""
    wheels_context_path: str | None = None
    wheels_build_path: str | None = None


@dataclass(frozen=True)
class RunUser:
    name: str
    uid: int
    gid: int
    create: bool


@dataclass(frozen=True)
class CopySpec:
    src: str
    dest: str


@dataclass(frozen=True)
class RenderedDockerfile:
    """The Dockerfile text and the files it needs beside it."""

    text: str
    side_files: dict[str, str] = field(default_factory=dict)
    """File name (relative to the Dockerfile's directory) -> content."""
    copied_files: dict[str, tuple[Path, str]] = field(default_factory=dict)
    """Path relative to the Dockerfile's directory -> (local wheel to copy there, its sha256)."""
    secrets: tuple[SecretMount, ...] = ()
    warnings: tuple[str, ...] = ()


# --- checks -------------------------------------------------------------------------------------


def _check_text(what: str, value: str) -> str:
    if not value or _BAD_TEXT_RE.search(value):
        raise UsageError(f"{what} must be non-empty and contain no '$' or control characters: {value!r}")
    return value


def _check_path(what: str, value: str) -> str:
    if not _PATH_RE.fullmatch(value):
        raise UsageError(f"{what} must be an absolute path of letters, digits and . _ / + @ -: {value!r}")
    return value


def _check_url(what: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{what} {url!r} is not an http(s) URL: a Dockerfile build cannot reach a local "
            "directory; serve it over HTTP or use an index"
        )
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"{what} carries credentials in its URL; pass them as a BuildKit secret instead")
    if re.search(r"[\x00-\x20\x7f]", url):
        raise UsageError(f"{what} contains whitespace or control characters: {url!r}")
    return url


def _is_local(url: str) -> bool:
    """A find-links location or file on this machine (``file:`` URL or a path), not over HTTP."""
    return not url.startswith(("http://", "https://"))


def _check_item(item: PlanItem) -> None:
    art = item.artifact
    if art is None:
        raise UsageError(f"plan item {item.name} {item.version} is an install without a file")
    if not _NAME_RE.fullmatch(item.name) or canonicalize_name(item.name) != item.name:
        raise UsageError(f"plan item has an invalid package name: {item.name!r}")
    try:
        Version(item.version)
    except InvalidVersion:
        raise UsageError(f"plan item {item.name} has an invalid version: {item.version!r}") from None
    if not _SHA256_RE.fullmatch(art.sha256):
        raise UsageError(f"plan item {item.name} {item.version} has no valid sha256: {art.sha256!r}")
    if art.kind != "wheel":
        raise UsageError(
            f"{item.name} {item.version}: a {art.kind} cannot be installed by the Dockerfile yet "
            "(source builds need a builder stage)"
        )


def _slug(name: str, taken: set[str]) -> str:
    base = _SLUG_RE.sub("-", name).strip(".-") or "index"
    slug, n = base, 2
    while slug.lower() in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug.lower())
    return slug


def _apk_name(spec: str) -> str:
    return re.split(r"[~=<>]", spec, maxsplit=1)[0]


# --- context pieces ----------------------------------------------------------------------------


def _base_image(image: ImageInfo, options: DockerfileOptions) -> BaseImage:
    if options.base_image:
        ref = options.base_image.strip()
        if not _IMAGE_REF_RE.fullmatch(ref):
            raise UsageError(f"--base-image is not an image reference: {ref!r}")
        return BaseImage("BASE_IMAGE", ref, "@sha256:" in ref, "" if "@" in ref else "given with --base-image")
    pull = image.docker_reference
    if not pull:
        raise UsageError(
            f"image {image.reference!r} is not something Docker can pull (an archive or directory); "
            "pass --base-image REF naming the same image"
        )
    ref = pull
    if not _IMAGE_REF_RE.fullmatch(ref):
        raise UsageError(f"image reference is not usable in FROM: {ref!r}")
    if "@" in ref:
        return BaseImage("BASE_IMAGE", ref, True, "")
    if not options.pin_digest:
        return BaseImage("BASE_IMAGE", ref, False, "not pinned (--no-pin-digest)")
    if image.digest and _DIGEST_RE.fullmatch(image.digest):
        return BaseImage("BASE_IMAGE", f"{ref}@{image.digest}", True, "")
    why = "built-in release profile" if image.from_profile else "digest unknown"
    return BaseImage("BASE_IMAGE", ref, False, f"not pinned: {why}")


def _user(spec: str | None) -> RunUser | None:
    if spec is None:
        return None
    spec = spec.strip()
    if spec.isdigit():
        return RunUser(spec, int(spec), int(spec), create=False)
    name, sep, uid_text = spec.partition(":")
    if not _USER_RE.fullmatch(name) or (sep and not uid_text.isdigit()):
        raise UsageError(f"--user expects NAME[:UID] (lowercase name, numeric UID) or a UID, got {spec!r}")
    uid = int(uid_text) if sep else DEFAULT_UID
    if not 0 < uid < 2**31:
        raise UsageError(f"--user: UID out of range: {uid}")
    return RunUser(name, uid, uid, create=True)


def _copies(specs: tuple[str, ...]) -> tuple[CopySpec, ...]:
    out: list[CopySpec] = []
    for spec in specs:
        src, sep, dest = spec.rpartition(":")
        if not sep or not src or not dest:
            raise UsageError(f"--copy expects SRC:DEST, got {spec!r}")
        out.append(CopySpec(_check_text("--copy SRC", src), _check_text("--copy DEST", dest)))
    return tuple(out)


def _cmd(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise UsageError("--cmd must not be empty")
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--cmd looks like a JSON array but does not parse: {exc.msg}") from None
        if not parsed or not isinstance(parsed, list) or not all(isinstance(a, str) for a in parsed):
            raise UsageError("--cmd as JSON must be a non-empty array of strings")
        return tuple(parsed)
    # Shell form, written as the exec array Docker itself would run for it.
    return ("/bin/sh", "-c", text)


def _index_installs(plan: Plan, options: DockerfileOptions) -> tuple[IndexInstall, ...]:
    taken: set[str] = set()
    secret_ids: set[str] = set()
    out: list[IndexInstall] = []
    context_dir = options.context_dir.strip("/")
    if context_dir and (not _CONTEXT_PATH_RE.fullmatch(context_dir) or ".." in context_dir.split("/")):
        raise UsageError(
            f"the Dockerfile's directory, relative to the build context, must be a plain path "
            f"(letters, digits, . _ - /), got {context_dir!r}"
        )
    for name, items in plan.installs_by_index().items():
        for item in items:
            _check_item(item)
        ref: IndexRef | None = plan.index(name)
        host = ""
        slug = _slug(name, taken)
        wheels_dir: str | None = None
        if ref is not None and ref.kind == "find-links" and _is_local(ref.url):
            kind, url, wheels_dir = "local", "", f"wheels.{slug}"
            for item in items:
                assert item.artifact is not None
                if not _is_local(item.artifact.url) or not _FILE_RE.fullmatch(item.artifact.filename):
                    raise UsageError(f"{item.name} {item.version}: {item.artifact.filename!r} is not a local wheel file")
        elif ref is None or ref.kind == DIRECT_INDEX:
            kind, url = DIRECT_INDEX, ""
            for item in items:
                assert item.artifact is not None
                _check_url(f"the URL of {item.name}", item.artifact.url)
                host = host or (urlsplit(item.artifact.url).hostname or "")
        elif ref.kind in ("simple", "find-links"):
            kind, url = ref.kind, _check_url(f"index {name!r}", ref.url)
        else:
            raise UsageError(f"index {name!r} has an unknown kind {ref.kind!r} (simple, find-links, direct)")
        filename = f"requirements.{slug}.txt"
        secret = None
        if ref is not None and ref.needs_credentials:
            if not options.buildkit:
                raise UsageError(
                    f"index {name!r} needs credentials, which a Dockerfile can only receive as "
                    "BuildKit secrets; drop --no-buildkit"
                )
            sid = _slug(f"{name}_netrc", secret_ids)
            host = urlsplit(url).hostname or host
            secret = SecretMount(sid, name, host, f"/run/secrets/{sid}")
        out.append(
            IndexInstall(
                name=name,
                url=url,
                kind=kind,
                items=tuple(items),
                requirements_file=filename,
                context_path=str(PurePosixPath(context_dir, filename)) if context_dir else filename,
                build_path=f"{BUILD_DIR}/{filename}",
                secret=secret,
                wheels_dir=wheels_dir,
                wheels_context_path=(
                    str(PurePosixPath(context_dir, wheels_dir)) if context_dir and wheels_dir else wheels_dir
                ),
                wheels_build_path=f"{BUILD_DIR}/{wheels_dir}" if wheels_dir else None,
            )
        )
    return tuple(out)


def _python_setup(plan: Plan) -> tuple[str, str, bool]:
    """(system_python, python running pip, venv_without_pip); raises on plans a Dockerfile cannot do."""
    image = plan.image
    apk_names = [_apk_name(p) for p in plan.apk_packages]
    for spec in plan.apk_packages:
        if not _APK_RE.fullmatch(spec):
            raise UsageError(f"plan lists an invalid apk package: {spec!r}")
    if image.python_prefix == "/usr/local":
        python_apk = [p for p, n in zip(plan.apk_packages, apk_names, strict=True) if n == "python3" or n.startswith("py3-")]
        if python_apk:
            raise UsageError(
                f"image {image.reference} has its Python in /usr/local (the official python:*-alpine "
                f"layout) but the plan needs apk package(s) {', '.join(python_apk)}, which would install "
                "a second interpreter from apk; install them with pip, or start from an Alpine image "
                "whose Python comes from apk"
            )
    if image.has_python:
        system_python = image.python_executable
    elif "python3" in apk_names:
        system_python = "/usr/bin/python3"
    elif plan.installs or plan.venv.path:
        raise UsageError(
            f"image {image.reference} has no Python and the plan adds no python3 from apk; "
            "plan again (muslin targets the release's python3 for such images)"
        )
    else:
        system_python = "python3"
    if system_python.startswith("/"):
        _check_path("the image's Python executable", system_python)
    elif not _NAME_RE.fullmatch(system_python):
        raise UsageError(f"the image's Python executable is not usable: {system_python!r}")
    system_pip = image.has_pip or "py3-pip" in apk_names
    venv = plan.venv
    if venv.path:
        _check_path("the venv path", venv.path)
        without_pip = venv.system_site_packages and system_pip
        return system_python, f"{venv.path.rstrip('/')}/bin/python", without_pip
    if plan.installs and not system_pip:
        raise UsageError(
            f"image {image.reference} has no pip and the plan adds none; add py3-pip, or plan with "
            "--venv PATH"
        )
    if plan.installs and image.externally_managed and not venv.break_system_packages:
        raise UsageError(
            f"image {image.reference} is externally managed (PEP 668) and the plan installs into "
            "the system Python; plan with --venv PATH (the default) or --break-system-packages"
        )
    return system_python, system_python, False


def validate_options(options: DockerfileOptions) -> None:
    """Check the options that do not depend on the plan (fail before planning)."""
    _user(options.user)
    _copies(options.copies)
    _cmd(options.cmd)
    if options.workdir is not None:
        _check_path("--workdir", options.workdir)
    if options.base_image is not None and not _IMAGE_REF_RE.fullmatch(options.base_image.strip()):
        raise UsageError(f"--base-image is not an image reference: {options.base_image!r}")
    if options.template is not None and not options.template.is_file():
        raise UsageError(f"--template: no such file: {options.template}")


def build_context(plan: Plan, options: DockerfileOptions, facts: ImageFacts | None = None) -> dict[str, Any]:
    """The template context (documented in this module's docstring)."""
    for item in plan.items:
        if item.action is Action.INSTALL:
            _check_item(item)
    system_python, python, without_pip = _python_setup(plan)
    indexes = _index_installs(plan, options)
    workdir = _check_path("--workdir", options.workdir) if options.workdir is not None else None
    dockerfile_path = _check_text("the Dockerfile path", options.dockerfile_path)
    return {
        "plan": plan,
        "image": plan.image,
        "facts": facts,
        "target": plan.target,
        "options": options,
        "muslin_version": plan.muslin_version or __version__,
        "plan_hash": plan.plan_hash(),
        "regenerate": plan.command,
        "base": _base_image(plan.image, options),
        "apk_packages": plan.apk_packages,
        "apk_unpinned": tuple(p for p in plan.apk_packages if _apk_name(p) == p),
        "system_python": system_python,
        "python": python,
        "venv": plan.venv,
        "venv_without_pip": without_pip,
        "indexes": indexes,
        "secrets": tuple(ix.secret for ix in indexes if ix.secret is not None),
        "installs": plan.installs,
        "keeps": plan.keeps,
        "user": _user(options.user),
        "workdir": workdir,
        "copies": _copies(options.copies),
        "cmd": _cmd(options.cmd),
        "builder_stages": (),
        "dockerfile_path": dockerfile_path,
        "warnings": plan.warnings,
    }


def render_dockerfile(
    plan: Plan, options: DockerfileOptions | None = None, facts: ImageFacts | None = None
) -> RenderedDockerfile:
    """Render the Dockerfile and its per-index requirements files (nothing is written)."""
    options = options or DockerfileOptions()
    validate_options(options)
    user_template = options.template
    context = build_context(plan, options, facts)
    env = templates.make_environment(user_template)
    name = user_template.name if user_template is not None else templates.DOCKERFILE_TEMPLATE
    text = templates.render(templates.load_template(env, name), context)
    req_template = templates.load_template(env, templates.REQUIREMENTS_TEMPLATE)
    side_files = {
        ix.requirements_file: templates.render(req_template, {**context, "index": ix})
        for ix in context["indexes"]
    }
    from muslin.index.http import local_path  # (httpx): only needed here

    copied = {
        f"{ix.wheels_dir}/{item.artifact.filename}": (local_path(item.artifact.url), item.artifact.sha256)
        for ix in context["indexes"]
        if ix.wheels_dir
        for item in ix.items
        if item.artifact is not None
    }
    return RenderedDockerfile(
        text=text,
        side_files=side_files,
        copied_files=copied,
        secrets=context["secrets"],
        warnings=plan.warnings,
    )


def side_file_location(path: Path, context: Path | None) -> tuple[str, str]:
    """(the Dockerfile's directory, its path) relative to the build context, as POSIX text.

    ``context`` defaults to the Dockerfile's directory; the Dockerfile (and so
    the requirements files beside it) must be inside the context.
    """
    directory = path.resolve().parent
    root = (context or directory).resolve()
    try:
        rel_dir = directory.relative_to(root)
    except ValueError:
        raise UsageError(f"the Dockerfile {path} must be inside the build context {root}") from None
    rel_dir_text = rel_dir.as_posix() if rel_dir.parts else ""
    rel_file = f"{rel_dir_text}/{path.name}" if rel_dir_text else path.name
    return rel_dir_text, rel_file


def write_dockerfile(
    plan: Plan,
    path: str | Path,
    options: DockerfileOptions | None = None,
    *,
    context: str | Path | None = None,
    facts: ImageFacts | None = None,
) -> RenderedDockerfile:
    """Render and write the Dockerfile at ``path`` and its requirements files beside it.

    Everything is rendered before anything is written; each file is replaced
    atomically (requirements files first, the Dockerfile last).  ``context`` is
    the ``docker build`` context (default: the Dockerfile's directory).
    """
    from dataclasses import replace

    from muslin.output.files import write_atomic

    target = Path(path)
    if target.is_dir():
        target = target / "Dockerfile"
    rel_dir, rel_file = side_file_location(target, Path(context) if context is not None else None)
    options = replace(options or DockerfileOptions(), context_dir=rel_dir, dockerfile_path=rel_file)
    rendered = render_dockerfile(plan, options, facts)
    wheels = {name: _verified_bytes(source, sha256) for name, (source, sha256) in rendered.copied_files.items()}
    for name, data in wheels.items():
        (target.parent / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target.parent / name, data)
    for name, text in rendered.side_files.items():
        write_atomic(target.parent / name, text)
    write_atomic(target, rendered.text)
    return rendered


def _verified_bytes(path: Path, sha256: str) -> bytes:
    """The wheel at ``path``, after checking it still has the sha256 the plan recorded."""
    import hashlib

    from muslin.errors import HashMismatchError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path} to copy it beside the Dockerfile: {exc.strerror or exc}") from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise HashMismatchError(f"hash mismatch for {path}: the plan has sha256:{sha256}, the file sha256:{got}")
    return data
