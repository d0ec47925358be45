"""Start the install container while the plan is still being made (best effort).

``muslin install`` knows the image before it has a plan.  A background thread
creates and starts the container from the local image (no pull: a missing image
is left to the install, which pulls it), then runs :data:`WARM_UP` in it: in an
image without ``.pyc`` files it imports pip and the standard library modules the
install steps use, with ``PYTHONPYCACHEPREFIX`` in the work directory, so the
install and verification processes find that bytecode instead of compiling it
again.  The work directory is removed before commit, as always.

The install adopts the container only if it was started from the image ID the
install then runs from, on the same network; anything else (and every failure,
plan errors and Ctrl-C included) removes it: :meth:`Prestart.discard`.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from muslin.install.signals import interrupts_deferred
from muslin.install.steps import CONTAINER_LABEL, CONTAINER_ROLE, IDLE_SLEEP, PYCACHE_DIR

WARM_UP = (
    "import os, sys\n"
    "pyc = os.path.join(os.path.dirname(os.__file__), '__pycache__', 'os.' + sys.implementation.cache_tag + '.pyc')\n"
    "if os.path.exists(pyc):\n"
    "    sys.exit(0)\n"
    "import csv, hashlib, importlib.metadata, json, py_compile, shutil, sysconfig, traceback\n"
    "import concurrent.futures.process, multiprocessing.pool\n"
    "if '--no-pip' in sys.argv:\n"
    "    sys.exit(0)\n"
    "try:\n"
    "    import pip._internal.cli.main, pip._internal.commands.install, pip._internal.commands.check\n"
    "    import pip._internal.operations.install.wheel, pip._internal.operations.check\n"
    "except ImportError:\n"
    "    pass\n"
)
"""Run with ``python3`` from the image's PATH; a different interpreter only wastes its own cache."""


@dataclass(frozen=True)
class Prestarted:
    """A running container the install may adopt."""

    container_id: str
    name: str
    image_id: str
    network: str


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
        api = self.client.api
        assert self._container_id is not None
        exec_id = api.exec_create(
            self._container_id,
            ["python3", "-c", WARM_UP, *([] if self.warm_pip else ["--no-pip"])],
            stdout=True,
            stderr=True,
            user="0",
            environment={"PYTHONPYCACHEPREFIX": PYCACHE_DIR},
        )["Id"]
        api.exec_start(exec_id)

    def take(self, image_id: str, network: str | None) -> Prestarted | None:
        """The running container when it matches; None (and removed) otherwise.

        Waits for the warm-up to finish: the install's first Python process would
        compile the same modules otherwise.
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
        self._close()
        return Prestarted(container_id=container_id, name=self.name, image_id=image_id, network=self.network)

    def discard(self) -> None:
        """Remove the container unless adopted (idempotent; waits for a create in flight)."""
        with self._lock:
            if self._discarded:
                return
            self._discarded = True
        with interrupts_deferred():
            self._started.wait()
            if self._created:
                from docker.errors import DockerException

                with contextlib.suppress(DockerException):
                    self.client.api.remove_container(self._container_id or self.name, force=True, v=True)
            self._close()

    def _close(self) -> None:
        if self.client is not None:
            self.client.close()
