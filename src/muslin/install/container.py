"""``muslin install``: perform a plan in a container started from the image, then commit it.

Flow: connect -> image present (pull) -> container (idle command, no network by
default, labelled ``org.muslin.role=install``) while the wheels download on the host
-> copy wheels and helpers in with ``put_archive`` -> apk/venv preparation -> install
(pip, or ``installer`` when the image has no pip) -> verify (requirements check, imports)
-> remove the work directory -> commit -> remove the container (always, Ctrl-C and
SIGTERM included).
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muslin.errors import DockerError, UsageError
from muslin.index.http import HttpClient
from muslin.install import commit as commit_mod
from muslin.install.archive import TarEntry, build_tar
from muslin.install.console import InstallConsole
from muslin.install.dockerhost import connect, remove_container
from muslin.install.fetch import DEFAULT_JOBS, client_for, fetch_wheels
from muslin.install.payload import check_helper_python, libraries_for, payload_entries
from muslin.install.prestart import WAITER_NOT_USED, Prestart, Waiter
from muslin.install.pull import ensure_image
from muslin.install.runner import ContainerRunner, ExecResult, docker_message
from muslin.install.signals import interrupts_deferred, sigterm_as_interrupt
from muslin.install.steps import (
    CONTAINER_LABEL,
    CONTAINER_ROLE,
    GO_FILE,
    INSTALLED_MARKER,
    INSTALLERS,
    Exec,
    InstallSteps,
    make_steps,
)
from muslin.install.verify import modules_for, verify_failures
from muslin.plan.model import Plan


@dataclass(frozen=True)
class InstallOptions:
    """How to perform a plan (what to install is the plan's business)."""

    tag: str
    """``repo:tag`` of the committed image."""
    network: str | None = None
    """Docker network mode for the container; None: ``none``."""
    jobs: int = DEFAULT_JOBS
    """Parallel downloads."""
    offline: bool = False
    installer: str = "auto"
    """``auto`` (pip when the image has it), ``pip`` or ``installer`` (see :data:`~muslin.install.steps.INSTALLERS`)."""


@dataclass(frozen=True)
class InstallResult:
    image_id: str
    reference: str
    size: int
    base_size: int
    installed: tuple[str, ...]
    """``name==version`` of every wheel installed."""


def image_reference(plan: Plan) -> str:
    """The reference Docker starts the container from."""
    ref = plan.image.docker_reference
    if not ref:
        raise UsageError(
            f"{plan.image.reference} is not an image Docker can run; load it into Docker first "
            "(docker load / docker import) and install from its name"
        )
    return ref


def check_plan(plan: Plan, options: InstallOptions) -> None:
    """Reject, before touching anything, what cannot work."""
    if options.tag:
        commit_mod.parse_tag(options.tag)
    image_reference(plan)
    if plan.apk_packages and (options.network in (None, "none")):
        raise UsageError(
            f"the plan adds apk packages ({', '.join(plan.apk_packages)}), which needs a network: "
            "pass --network (e.g. --network bridge)"
        )
    if plan.target.platform.split("/")[0] != "linux":
        raise UsageError(f"cannot run a container for platform {plan.target.platform}")
    if options.installer not in INSTALLERS:
        raise UsageError(f"unknown installer {options.installer!r} (one of {', '.join(INSTALLERS)})")
    make_steps(plan, (), None, options.installer)


def install_plan(
    plan: Plan,
    options: InstallOptions,
    *,
    client: Any | None = None,
    http: HttpClient | None = None,
    console: InstallConsole | None = None,
    prestart: Prestart | None = None,
) -> InstallResult:
    """Perform ``plan`` in a container and commit the result as ``options.tag``.

    Raises :class:`~muslin.errors.DockerError` (exit 10) when Docker or a step in
    the container fails (nothing is committed then), download errors from
    :mod:`muslin.index.http`, and :class:`KeyboardInterrupt` on Ctrl-C/SIGTERM.
    The container is removed in every case.
    """
    if not options.tag:
        raise UsageError("an install needs a tag for the committed image (--tag REPO:TAG)")
    check_plan(plan, options)
    con = console or InstallConsole()
    own_http = http is None
    http_client = http if http is not None else client_for(plan, offline=options.offline)
    docker_client = client if client is not None else connect()
    try:
        with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="muslin-install-") as tmp:
            return _Install(plan, options, docker_client, http_client, con, Path(tmp), prestart).run()
    finally:
        if prestart is not None:
            prestart.discard()
        if own_http:
            http_client.close()
        if client is None:
            docker_client.close()


class _Install:
    """One install run; the container is created in :meth:`run` and always removed there."""

    def __init__(
        self,
        plan: Plan,
        options: InstallOptions,
        client: Any,
        http: HttpClient,
        console: InstallConsole,
        tmp: Path,
        prestart: Prestart | None = None,
    ) -> None:
        self.prestart = prestart
        self.plan = plan
        self.options = options
        self.client = client
        self.http = http
        self.console = console
        self.tmp = tmp
        self.container_id: str | None = None
        self.container_name = f"muslin-install-{uuid.uuid4().hex[:12]}"
        """Known before the daemon answers, so an interrupted create can still be cleaned up."""
        self.created = False
        self.waiter: Waiter | None = None
        """pip started in the prestarted container while planning (see :mod:`muslin.install.prestart`)."""

    def run(self) -> InstallResult:
        plan, con = self.plan, self.console
        reference = image_reference(plan)
        base = ensure_image(self.client, reference, plan.target.platform, con)
        self._check_digest(base)
        installs = plan.installs
        initial = make_steps(
            plan, tuple(i.artifact.filename for i in installs if i.artifact), None, self.options.installer
        )
        if installs and not initial.use_pip:
            check_helper_python(plan.target.python_version)
        background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muslin-downloads")
        try:
            if installs:
                size = sum(i.artifact.size or 0 for i in installs if i.artifact)
                con.step(f"downloading {len(installs)} wheels" + (f" ({commit_mod.human_size(size)})" if size else ""))
            downloads = background.submit(fetch_wheels, installs, self.http, self.tmp / "downloads", self.options.jobs)
            con.step(f"starting a container from {reference} ({plan.target.platform}, network {self.options.network or 'none'})")
            runner = self._adopt(base) or self._start(reference, initial)
            wheels = downloads.result()
            named = [(i.artifact.filename, path) for i, path in zip(installs, wheels, strict=True) if i.artifact]
            steps = make_steps(
                plan,
                tuple(n for n, _ in named),
                modules_for(p for _, p in named),
                self.options.installer,
                image_has_bytecode=self._image_has_bytecode(),
            )
            con.step(f"copying {len(named)} wheels into the container")
            libraries = libraries_for(steps.use_pip, plan.target.python_version) if named else ()
            with build_tar(payload_entries(named, libraries)) as stream:
                runner.put_archive("/", stream)
            for step in steps.prepare:
                self._run(runner, step)
            early = None
            if steps.install is not None and steps.compile_early is not None:
                early = runner.start(steps.compile_early.argv, steps.compile_early.env)
            waiting = self._waiter_for(steps)
            if self.waiter is not None:
                go = self._go(steps if waiting else None)
                with build_tar([TarEntry(GO_FILE.lstrip("/"), data=go)]) as stream:
                    runner.put_archive("/", stream)
                if not waiting:
                    # told to exit: wait for it, it may still be writing bytecode into the work directory
                    runner.follow(self.waiter.exec_id, self.waiter.stream, echo=False, what="pip")
            if steps.install is not None:
                if waiting:
                    self._install_by_waiter(runner, steps.install)
                else:
                    self._run(runner, steps.install)
                if early is not None:
                    self._finish_early_compile(runner, *early)
            if steps.verify is not None:
                self._verify(runner, steps.verify)
            if steps.cleanup is not None:
                self._run(runner, steps.cleanup)
            con.step(f"committing {self.options.tag}")
            conf = commit_mod.commit_config(base, commit_mod.image_labels(plan, base), plan.venv.path)
            assert self.container_id is not None
            result = commit_mod.commit(self.client, self.container_id, self.options.tag, conf, base)
        finally:
            background.shutdown(wait=False, cancel_futures=True)
            self._remove()
            if self.waiter is not None:
                self.waiter.close()
        con.result(f"image {result.reference} {result.image_id}")
        con.result(
            f"size {commit_mod.human_size(result.size)} "
            f"({commit_mod.human_size(result.size_delta)} over {reference})"
        )
        return InstallResult(
            image_id=result.image_id,
            reference=result.reference,
            size=result.size,
            base_size=result.base_size,
            installed=tuple(f"{i.name}=={i.version}" for i in installs),
        )

    def _check_digest(self, base: dict[str, Any]) -> None:
        digest = self.plan.image.digest
        if not digest:
            return
        known = {str(base.get("Id", ""))} | {d.split("@", 1)[-1] for d in base.get("RepoDigests") or ()}
        if digest not in known:
            self.console.warn(
                f"{self.plan.image.reference} in Docker is not the image the plan was made for ({digest}); "
                "installing into the local image"
            )

    def _adopt(self, base: dict[str, Any]) -> ContainerRunner | None:
        """The container started while planning, when it runs this image on this network."""
        if self.prestart is None:
            return None
        taken = self.prestart.take(str(base.get("Id", "")), self.options.network)
        if taken is None:
            return None
        self.container_id, self.container_name, self.created = taken.container_id, taken.name, True
        self.waiter = taken.waiter
        return ContainerRunner(self.client, self.container_id, self.console)

    def _waiter_for(self, steps: InstallSteps) -> bool:
        """Whether the waiting pip runs the install: pip of the base interpreter, nothing to prepare."""
        install = steps.install
        if self.waiter is None or install is None or not steps.use_pip or steps.prepare:
            return False
        if steps.python != steps.base_python or install.argv[1:3] != ("-m", "pip"):
            return False
        return self.waiter.running()

    @staticmethod
    def _go(steps: InstallSteps | None) -> bytes:
        """The waiter's instructions: the pip command, or ``exit``."""
        if steps is None or steps.install is None:
            return json.dumps({"exit": True}).encode()
        install = steps.install
        request = {"python": install.argv[0], "args": list(install.argv[3:]), "env": install.env}
        return json.dumps(request).encode()

    def _finish_early_compile(
        self, runner: ContainerRunner, exec_id: str, stream: Iterable[tuple[bytes | None, bytes | None]]
    ) -> None:
        """Tell the compile watcher the install is done; wait for it (the verify step compiles what it missed)."""
        with build_tar([TarEntry(INSTALLED_MARKER.lstrip("/"), data=b"")]) as marker:
            runner.put_archive("/", marker)
        result = runner.follow(exec_id, stream, what="the compile watcher")
        if result.exit_code != 0:
            self.console.warn(f"compiling beside the install ended with exit code {result.exit_code}; the verify step compiles")

    def _install_by_waiter(self, runner: ContainerRunner, step: Exec) -> None:
        """``step`` (pip install) run by the waiting pip; by a new process if the waiter declines."""
        assert self.waiter is not None
        self.console.step(f"{step.purpose} (pip started while planning)")
        result = runner.follow(self.waiter.exec_id, self.waiter.stream, what="pip")
        if result.exit_code == WAITER_NOT_USED:
            self._run(runner, step)
        elif result.exit_code != 0:
            raise DockerError(f"{step.purpose} failed in the container (exit code {result.exit_code}); nothing committed")

    def _start(self, reference: str, steps: InstallSteps) -> ContainerRunner:
        from docker.errors import APIError, DockerException

        last_error = ""
        for idle in steps.idle_commands:
            try:
                self.created = True
                container = self.client.api.create_container(
                    reference,
                    name=self.container_name,
                    command=[],
                    entrypoint=list(idle),
                    labels={CONTAINER_LABEL: CONTAINER_ROLE, "org.muslin.plan-hash": self.plan.plan_hash()},
                    host_config=self.client.api.create_host_config(
                        network_mode=self.options.network or "none", auto_remove=False
                    ),
                    platform=self.plan.target.platform if self._platform_supported() else None,
                )
                self.container_id = str(container["Id"])
                self.client.api.start(self.container_id)
                return ContainerRunner(self.client, self.container_id, self.console)
            except APIError as exc:
                last_error = docker_message(exc)
                self._remove()
                if "executable file not found" in last_error or "no such file" in last_error:
                    continue
                raise DockerError(f"cannot start a container from {reference}: {last_error}") from None
            except DockerException as exc:
                self._remove()
                raise DockerError(f"cannot start a container from {reference}: {docker_message(exc)}") from None
        raise DockerError(f"cannot start a container from {reference}: no idle command works ({last_error})")

    def _image_has_bytecode(self) -> bool:
        """Whether the image's stdlib ships ``.pyc`` files (``os``'s, looked up without running anything)."""
        from docker.errors import DockerException, NotFound

        prefix, version = self.plan.image.python_prefix, self.plan.target.python_version
        if not prefix or self.container_id is None:
            return True
        path = f"{prefix.rstrip('/')}/lib/python{version}/__pycache__/os.cpython-{version.replace('.', '')}.pyc"
        try:
            chunks, _stat = self.client.api.get_archive(self.container_id, path)
            for _chunk in chunks:
                pass
        except NotFound:
            return False
        except DockerException:
            return True
        return True

    def _platform_supported(self) -> bool:
        """Whether the daemon's API takes a platform on container create (API 1.41+)."""
        from docker.utils import version_gte

        return bool(version_gte(str(self.client.api.api_version), "1.41"))

    def _run(self, runner: ContainerRunner, step: Exec) -> ExecResult:
        self.console.step(step.purpose)
        result = runner.run(step.argv, step.env)
        if result.exit_code != 0:
            raise DockerError(f"{step.purpose} failed in the container (exit code {result.exit_code}); nothing committed")
        return result

    def _verify(self, runner: ContainerRunner, step: Exec) -> None:
        """Run the verify step (compile, requirements check, imports); raise on failure."""
        self.console.step(step.purpose)
        result = runner.run(step.argv, step.env)
        failures, warnings = verify_failures(result.stdout, result.stderr, result.exit_code)
        for line in warnings:
            self.console.warn(f"not caused by this install: {line}")
        if failures:
            raise DockerError("verification failed, nothing committed: " + " | ".join(failures))

    def _remove(self) -> None:
        if not self.created:
            return
        target = self.container_id or self.container_name
        with interrupts_deferred():
            problem = remove_container(self.client.api, target)
            if problem is not None:
                self.console.warn(f"could not remove container {target[:24]}: {problem}")
            self.container_id = None
            self.created = False
