"""Start the install container while the plan is still being made (best effort).

``muslin install`` knows the image before it has a plan.  A background thread
creates and starts the container from the local image (no pull: a missing image
is left to the install, which pulls it), copies muslin's scripts in and starts
``scripts/pip_waiter.py`` with the image's ``python3``: it imports pip's install
command (in an image without ``.pyc`` files compiling it, and the standard
library modules the verify step uses, into a ``PYTHONPYCACHEPREFIX`` on ``/dev/shm``,
which later processes use) and waits for the wheels.  The install
then hands it the ``pip install`` command (:class:`Waiter`) instead of starting
a new pip, when the plan installs with that interpreter's pip.  With
``--installer installer`` the script only warms the bytecode.  The work
directory is removed before commit, as always.

The running container also spares the plan the export of the whole image
(``docker save``): :meth:`Prestart.rootfs_view` gives the container's root
filesystem as the daemon mounts it on this host, where the image's facts are read
in place.  It is used only when a token file copied into the container is found
there (so the directory is this container's, on this host, and readable: a remote
daemon, a rootless one or a user without access to the daemon's storage all mean
an export, as before).  The container runs nothing of the image's own (its
entrypoint is ``sleep``) and the waiter writes no files into it, so the view
shows the image as it is.

The install adopts the container only if it was started from the image ID the
install then runs from, on the same network; anything else (and every failure,
plan errors and Ctrl-C included) removes it: :meth:`Prestart.discard`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from muslin.install.archive import TarEntry, build_tar
from muslin.install.signals import interrupts_deferred
from muslin.install.steps import (
    CONTAINER_LABEL,
    CONTAINER_ROLE,
    GO_FILE,
    IDLE_SLEEP,
    PYCACHE_DIR,
    SCRIPT_DIR,
    WAITER_SCRIPT,
    WORK_DIR,
)

WAITER_NOT_USED = 99
"""``pip_waiter.py``'s exit status when it did not run pip (the install runs its own)."""

VIEW_TOKEN = f"{WORK_DIR}/view-token"
"""Copied in with the waiter; its content proves a host directory is this container's root."""
VIEW_WAIT = 30.0
"""At most this long (s) the plan waits for the container before exporting the image instead."""


SETTLE_WAIT = 0.5
"""How long a create the daemon may still be finishing gets before the second look."""

@dataclass(frozen=True)
class Waiter:
    """``pip_waiter.py`` running in the container: its exec and demuxed output stream."""

    exec_id: str
    stream: Iterable[tuple[bytes | None, bytes | None]]
    client: Any
    """The prestart's Docker client the stream reads from: close it when done."""

    def running(self) -> bool:
        from docker.errors import DockerException

        try:
            return bool(self.client.api.exec_inspect(self.exec_id).get("Running"))
        except DockerException:
            return False

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class Prestarted:
    """A running container the install may adopt."""

    container_id: str
    name: str
    image_id: str
    network: str
    waiter: Waiter | None = None


class Prestart:
    """Creates, starts and warms a container in a background thread."""

    def __init__(
        self, reference: str, network: str | None, platform: str | None = None, warm_pip: bool = True
    ) -> None:
        self.client: Any = None
        self.warm_pip = warm_pip
        self.reference = reference
        self.network = network or "none"
        self.platform = platform
        self.name = f"muslin-install-{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        self._created = False
        self._discarded = False
        self._container_id: str | None = None
        self._image_id: str | None = None
        self._waiter: Waiter | None = None
        self._view: Path | None = None
        self._removed = False
        self._viewable = threading.Event()
        self._started = threading.Event()
        self._warm = threading.Event()
        self._thread = threading.Thread(target=self._work, name="muslin-prestart", daemon=True)

    def start(self) -> Prestart:
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            self._create()
            self._started.set()
            if self._container_id is not None:
                self._warm_up()
        except Exception:  # best effort: the install starts its own container
            pass
        finally:
            self._started.set()
            self._viewable.set()
            self._warm.set()

    def _create(self) -> None:
        from muslin.install.dockerhost import connect

        client = connect()
        with self._lock:
            if self._discarded:
                client.close()
                return
            self.client = client
        api = client.api
        image_id = str(api.inspect_image(self.reference)["Id"])
        with self._lock:
            if self._discarded:
                return
            self._created = True
        container = api.create_container(
            image_id,
            name=self.name,
            command=[],
            entrypoint=list(IDLE_SLEEP),
            labels={CONTAINER_LABEL: CONTAINER_ROLE},
            host_config=api.create_host_config(network_mode=self.network, auto_remove=False),
            platform=self.platform,
        )
        container_id = str(container["Id"])
        api.start(container_id)
        with self._lock:
            self._container_id = container_id
            self._image_id = image_id

    def _warm_up(self) -> None:
        """Copy the waiter in and start it (``--installer installer``: run it to its end)."""
        api = self.client.api
        assert self._container_id is not None
        script = files("muslin.install.scripts").joinpath(WAITER_SCRIPT).read_bytes()
        token = secrets.token_hex(16)
        entries = [TarEntry(WORK_DIR.lstrip("/")), TarEntry(SCRIPT_DIR.lstrip("/"))]
        entries.append(TarEntry(f"{SCRIPT_DIR.lstrip('/')}/{WAITER_SCRIPT}", data=script))
        entries.append(TarEntry(VIEW_TOKEN.lstrip("/"), data=token.encode("ascii")))
        with build_tar(entries) as stream:
            api.put_archive(self._container_id, "/", stream)
        self._find_view(token)
        self._viewable.set()
        argv = ["python3", f"{SCRIPT_DIR}/{WAITER_SCRIPT}", GO_FILE, PYCACHE_DIR]
        exec_id = api.exec_create(
            self._container_id,
            [*argv, *([] if self.warm_pip else ["--no-pip"])],
            stdout=True,
            stderr=True,
            user="0",
            environment={"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        )["Id"]
        if not self.warm_pip:
            api.exec_start(exec_id)
            return
        output = api.exec_start(exec_id, stream=True, demux=True)
        with self._lock:
            if not self._discarded:
                self._waiter = Waiter(exec_id, output, self.client)

    def _find_view(self, token: str) -> None:
        """Remember the container's root filesystem on this host, if it is there and readable."""
        from docker.errors import DockerException

        try:
            data = self.client.api.inspect_container(self._container_id).get("GraphDriver", {}).get("Data") or {}
            merged = data.get("MergedDir")
            if not isinstance(merged, str) or not os.path.isabs(merged):
                return
            root = Path(merged)
            if (root / VIEW_TOKEN.lstrip("/")).read_text(encoding="ascii") != token:
                return  # a directory of that name on this host, but not this container's
        except (OSError, ValueError, AttributeError, DockerException):
            return
        with self._lock:
            if not self._removed:
                self._view = root

    def rootfs_view(self, image_id: str) -> Path | None:
        """The container's root filesystem on this host, if it shows image ``image_id``; else None.

        Waits (at most :data:`VIEW_WAIT`) until the container is started and the token
        copied in.  Valid until the container is removed.
        """
        if not self._viewable.wait(VIEW_WAIT):
            return None
        with self._lock:
            if self._removed or self._image_id != image_id:
                return None
            return self._view

    def take(self, image_id: str, network: str | None) -> Prestarted | None:
        """The running container when it matches; None (and removed) otherwise.

        Waits until the waiter runs (with ``--installer installer``: until the
        warm-up is done, the install's first Python process would compile the same
        modules otherwise).  The returned :class:`Waiter` owns the prestart's
        Docker client from then on.
        """
        self._started.wait()
        with self._lock:
            container_id = self._container_id
        if container_id is None or self._image_id != image_id or self.network != (network or "none"):
            self.discard()
            return None
        self._warm.wait()
        with self._lock:
            if self._discarded:
                return None
            self._discarded = True
            waiter = self._waiter
        if waiter is None:
            self._close()
        return Prestarted(
            container_id=container_id, name=self.name, image_id=image_id, network=self.network, waiter=waiter
        )

    def discard(self) -> None:
        """Remove the container unless adopted (idempotent; waits for a create in flight)."""
        with self._lock:
            if self._discarded:
                return
            self._discarded = True
        with interrupts_deferred():
            self._started.wait()
            with self._lock:
                self._removed = True
                self._view = None
            if self._created:
                # no ID: the create call failed on our side, but the daemon may still be making it
                self._remove(self._container_id or self.name, settle=self._container_id is None)
            self._close()

    @staticmethod
    def _remove(target: str, settle: bool = False) -> None:
        """Remove ``target`` on a connection of its own: the warm-up thread may still be
        streaming an exec on the prestart's.  ``settle``: look again once a moment later."""
        from docker.errors import DockerException

        from muslin.install.dockerhost import connect, remove_container

        try:
            client = connect()
        except DockerException:
            return
        try:
            remove_container(client.api, target)
            if settle:
                time.sleep(SETTLE_WAIT)
                remove_container(client.api, target)
        finally:
            client.close()

    def _close(self) -> None:
        if self.client is not None:
            self.client.close()
