"""What runs inside the install container, computed from the plan alone (no Docker, no I/O).

The same :class:`InstallSteps` drives the real install and ``--dry-run``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from muslin.errors import UsageError
from muslin.plan.model import Plan

WORK_DIR = "/tmp/muslin-install"
WHEEL_DIR = f"{WORK_DIR}/wheels"
LIB_DIR = f"{WORK_DIR}/lib"
SCRIPT_DIR = f"{WORK_DIR}/scripts"

CONTAINER_LABEL = "org.muslin.role"
CONTAINER_ROLE = "install"
"""Install containers carry ``org.muslin.role=install`` (committed images get ``image``)."""

IDLE_SLEEP: tuple[str, ...] = ("/bin/sleep", "2147483647")

PYCACHE_DIR = "/dev/shm/muslin-pycache"
"""Bytecode cache of images without ``.pyc`` files: on the container's ``/dev/shm`` tmpfs, which
Docker and Podman mount in every container and never commit.  Each file created in the
container's own layer costs far more (overlayfs): the ~500 modules pip imports took 0.35 s
longer to cache there.  A full or missing ``/dev/shm`` only means modules are compiled again."""
WAITER_SCRIPT = "pip_waiter.py"
INSTALLED_MARKER = f"{WORK_DIR}/installed"
"""Copied in when the install step succeeded: the compile watcher's last look."""
GO_FILE = f"{WORK_DIR}/go.json"
"""Copied in last: tells a waiting ``pip_waiter.py`` what to run (see :mod:`muslin.install.prestart`)."""

_PY_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
"""Every Python run: live output; existing bytecode is used but none is written, so no stray
``.pyc`` of pip, the stdlib or muslin's scripts lands in the image (the installed files are
compiled explicitly, see ``compile_installed.py``)."""

_PY_ENV_NO_BYTECODE = {"PYTHONUNBUFFERED": "1", "PYTHONPYCACHEPREFIX": PYCACHE_DIR}
"""For images that ship no bytecode (official python images delete it): our Python runs cache
what they compile in :data:`PYCACHE_DIR` (never committed) instead of recompiling pip and the
stdlib in every process."""

_PIP_ONLY = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"}


@dataclass(frozen=True)
class Exec:
    """One command run in the container (as root, working directory ``/``)."""

    purpose: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The command as one shell-quoted line (environment first)."""
        env = [f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items())]
        return " ".join([*env, *(shlex.quote(a) for a in self.argv)])


@dataclass(frozen=True)
class InstallSteps:
    """Every command of an install, in order, and the files copied in."""

    base_python: str
    python: str
    """The interpreter that installs and verifies (the venv's when the plan uses one)."""
    use_pip: bool
    wheel_paths: tuple[str, ...]
    """Container paths of the wheels, in install order."""
    prepare: tuple[Exec, ...]
    install: Exec | None
    compile_early: Exec | None
    """Beside the pip install: byte-compile each distribution as soon as pip has installed it
    (``compile_installed.py --watch``); the verify step compiles what it missed."""
    verify: Exec | None
    """One process: byte-compile the installed files (in parallel; the install itself does not
    compile), check requirements, import the top-level modules, and (when all passed) remove
    the work directory (``verify_installed.py``)."""
    cleanup: Exec | None
    """Remove the work directory when no verify step does it."""
    idle_commands: tuple[tuple[str, ...], ...]
    """Long-lived container commands to try in order (the first that starts is used)."""
    env_changes: dict[str, str]
    """Image environment to set on commit (``VIRTUAL_ENV``/``PATH`` for a venv)."""

    @property
    def execs(self) -> tuple[Exec, ...]:
        optional = (self.compile_early, self.install, self.verify, self.cleanup)
        return (*self.prepare, *(e for e in optional if e is not None))


def pip_available(plan: Plan) -> bool:
    """Whether pip can run the install (in the image, or added by the plan's apk packages)."""
    from_apk = any(p.split("~")[0].split("=")[0] == "py3-pip" for p in plan.apk_packages)
    return plan.image.has_pip or from_apk


INSTALLERS = ("auto", "pip", "installer")
"""``auto``: the image's pip when it has one (visible to the target interpreter), else ``installer``."""


def make_steps(
    plan: Plan,
    wheel_files: tuple[str, ...],
    modules: tuple[str, ...] | None,
    installer: str = "auto",
    image_has_bytecode: bool = True,
) -> InstallSteps:
    """The container commands for ``plan``.

    ``wheel_files`` are the wheel file names in install order; ``modules`` the
    top-level modules to import afterwards (None: not known yet, as in ``--dry-run``);
    ``installer`` one of :data:`INSTALLERS`; ``image_has_bytecode``: whether the
    image's stdlib ships ``.pyc`` files (see :data:`_PY_ENV_NO_BYTECODE`).
    """
    py_env = _PY_ENV if image_has_bytecode else _PY_ENV_NO_BYTECODE
    pip_env = {**py_env, **_PIP_ONLY}
    base = plan.image.python_executable
    venv = plan.venv.path
    python = f"{venv.rstrip('/')}/bin/python" if venv else base
    pip_visible = pip_available(plan) and (not venv or plan.venv.system_site_packages)
    if installer == "pip" and not pip_visible:
        where = "in the venv (created without system site-packages)" if venv else "in the image"
        raise UsageError(f"--installer pip: there is no pip {where}; use --installer installer or auto")
    pip_visible = pip_visible and installer != "installer"
    prepare: list[Exec] = []
    if plan.apk_packages:
        prepare.append(Exec("add apk packages", ("apk", "add", "--no-cache", *plan.apk_packages)))
    if venv and not plan.venv.exists:  # the image's own venv (plan.venv.exists) is used as it is
        argv = [base, "-m", "venv", "--without-pip"]
        if plan.venv.system_site_packages:
            argv.append("--system-site-packages")
        prepare.append(Exec(f"create venv {venv}", (*argv, venv), dict(py_env)))
    wheel_paths = tuple(f"{WHEEL_DIR}/{name}" for name in wheel_files)
    names = tuple(i.name for i in plan.installs)
    install: Exec | None = None
    compile_early: Exec | None = None
    verify: Exec | None = None
    cleanup: Exec | None = None
    if wheel_paths:
        if pip_visible:
            env = dict(pip_env)
            if plan.venv.break_system_packages and not venv:
                env["PIP_BREAK_SYSTEM_PACKAGES"] = "1"
            install = Exec(
                "install wheels with pip",
                (python, "-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir", "--no-compile", "--no-warn-conflicts", *wheel_paths),
                env,
            )
            compile_early = Exec(
                "byte-compile each wheel as soon as pip has installed it (beside the install)",
                (python, f"{SCRIPT_DIR}/compile_installed.py", "--watch", INSTALLED_MARKER, *names),
                dict(py_env),
            )
        else:
            env = dict(py_env)
            if plan.venv.break_system_packages and not venv:
                env["MUSLIN_BREAK_SYSTEM_PACKAGES"] = "1"
            install = Exec(
                "install wheels with installer",
                (python, f"{SCRIPT_DIR}/install_wheels.py", LIB_DIR, *wheel_paths),
                env,
            )
        shown = modules if modules is not None else ("<top-level modules of each wheel>",)
        verify = Exec(
            "byte-compile, check requirements, import modules",
            (python, f"{SCRIPT_DIR}/verify_installed.py", LIB_DIR, WORK_DIR, *names, "--", *shown),
            dict(py_env),
        )
    else:
        cleanup = Exec(
            f"remove {WORK_DIR}",
            (base, "-c", f"import shutil; shutil.rmtree({WORK_DIR!r}, ignore_errors=True)"),
            dict(py_env),
        )
    idle: list[tuple[str, ...]] = [IDLE_SLEEP]
    if plan.image.has_python:
        idle.append((base, "-c", "import time; time.sleep(2147483647)"))
    env_changes: dict[str, str] = {}
    if venv and not plan.venv.exists:
        env_changes["VIRTUAL_ENV"] = venv
    return InstallSteps(
        base_python=base,
        python=python,
        use_pip=pip_visible,
        wheel_paths=wheel_paths,
        prepare=tuple(prepare),
        install=install,
        compile_early=compile_early,
        verify=verify,
        cleanup=cleanup,
        idle_commands=tuple(idle),
        env_changes=env_changes,
    )
