"""What ``muslin install`` prints: step headings, the container's output (prefixed), results."""

from __future__ import annotations

import sys
import time
from typing import TextIO

OUTPUT_PREFIX = "  | "


class InstallConsole:
    """Line-oriented output; container stdout goes to ``out``, container stderr to ``err``."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, started: float | None = None) -> None:
        self._out = out
        self._err = err
        self.started = started
        """``time.perf_counter()`` at the start of the command: step headings then show the time elapsed."""

    @property
    def out(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err if self._err is not None else sys.stderr

    def step(self, text: str) -> None:
        """A heading for what happens next."""
        elapsed = "" if self.started is None else f"[{time.perf_counter() - self.started:6.2f}s] "
        print(f"==> {elapsed}{text}", file=self.out, flush=True)

    def info(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def warn(self, text: str) -> None:
        print(f"muslin: warning: {text}", file=self.err, flush=True)

    def output(self, stream: str, line: str) -> None:
        """One line the container printed on ``stream`` (``stdout``/``stderr``)."""
        target = self.err if stream == "stderr" else self.out
        print(f"{OUTPUT_PREFIX}{line}", file=target, flush=True)

    def result(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @property
    def interactive(self) -> bool:
        """True when progress bars make sense (stderr is a terminal)."""
        isatty = getattr(self.err, "isatty", None)
        return bool(isatty and isatty())
