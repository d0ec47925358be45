"""A started install container: run commands in it with live output, copy files in, remove it."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from muslin.errors import DockerError
from muslin.install.console import InstallConsole


@dataclass
class ExecResult:
    exit_code: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)


class _LineSplitter:
    """Incremental UTF-8 decoding and line splitting of one output stream."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(data)
        parts = text.replace("\r\n", "\n").split("\n")
        self._pending = parts.pop()
        return [p.rsplit("\r", 1)[-1] for p in parts]

    def flush(self) -> list[str]:
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return [rest.rsplit("\r", 1)[-1]] if rest else []


def docker_message(exc: BaseException) -> str:
    """The daemon's explanation from a docker SDK exception, on one line."""
    explanation = getattr(exc, "explanation", None)
    text = str(explanation if explanation else exc).strip() or type(exc).__name__
    return " ".join(text.split())


class ContainerRunner:
    """Runs commands in one running container, as root, streaming demuxed output to the console."""

    def __init__(self, client: Any, container_id: str, console: InstallConsole) -> None:
        self.client = client
        self.container_id = container_id
        self.console = console

    def run(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, workdir: str = "/", echo: bool = True
    ) -> ExecResult:
        """Run ``argv``; print its output live (``echo``) and keep it; exit code from exec inspect."""
        exec_id, stream = self.start(argv, env, workdir)
        return self.follow(exec_id, stream, echo, what=argv[0])

    def start(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, workdir: str = "/"
    ) -> tuple[str, Iterable[tuple[bytes | None, bytes | None]]]:
        """Start ``argv``: its exec ID and demuxed output stream (for :meth:`follow`)."""
        from docker.errors import DockerException

        api = self.client.api
        try:
            exec_id = api.exec_create(
                self.container_id,
                list(argv),
                stdout=True,
                stderr=True,
                user="0",
                environment=dict(env or {}),
                workdir=workdir,
            )["Id"]
            stream = api.exec_start(exec_id, stream=True, demux=True)
        except DockerException as exc:
            raise DockerError(f"running {argv[0]} in the container failed: {docker_message(exc)}") from None
        return str(exec_id), stream

    def follow(
        self, exec_id: str, stream: Iterable[tuple[bytes | None, bytes | None]], echo: bool = True, what: str = "a command"
    ) -> ExecResult:
        """Read a started exec's demuxed ``stream`` to its end; exit code from exec inspect."""
        from docker.errors import DockerException

        result = ExecResult(exit_code=-1)
        splitters = {"stdout": _LineSplitter(), "stderr": _LineSplitter()}
        try:
            for out_chunk, err_chunk in stream:
                for name, chunk in (("stdout", out_chunk), ("stderr", err_chunk)):
                    if chunk:
                        self._emit(result, name, splitters[name].feed(chunk), echo)
            for name, splitter in splitters.items():
                self._emit(result, name, splitter.flush(), echo)
            code = self.client.api.exec_inspect(exec_id)["ExitCode"]
        except DockerException as exc:
            raise DockerError(f"running {what} in the container failed: {docker_message(exc)}") from None
        result.exit_code = int(code) if code is not None else -1
        return result

    def _emit(self, result: ExecResult, stream: str, lines: list[str], echo: bool) -> None:
        for line in lines:
            (result.stdout if stream == "stdout" else result.stderr).append(line)
            if echo:
                self.console.output(stream, line)

    def replay(self, result: ExecResult) -> None:
        """Print the output of a run made with ``echo=False`` (stdout, then stderr)."""
        for line in result.stdout:
            self.console.output("stdout", line)
        for line in result.stderr:
            self.console.output("stderr", line)

    def put_archive(self, path: str, data: IO[bytes]) -> None:
        """Extract the tar stream ``data`` at ``path`` inside the container."""
        from docker.errors import DockerException

        try:
            ok = self.client.api.put_archive(self.container_id, path, data)
        except DockerException as exc:
            raise DockerError(f"copying files into the container failed: {docker_message(exc)}") from None
        if not ok:
            raise DockerError("copying files into the container failed")
