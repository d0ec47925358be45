"""The ``muslin`` command line: a click group; each command lives in its own module.

Commands are imported only when used (:class:`LazyGroup`), so start-up pays
for one command's imports, and ``muslin --help`` for none.
"""

from __future__ import annotations

import gc
import sys

# httpx imports its own command line (click, rich, pygments: ~40 ms) on import, and httpcore
# imports trio and anyio (~60 ms where installed) for its async locks; this process runs no
# command of httpx's and makes only blocking requests.  None here makes those imports fail
# into the libraries' own fallbacks.
for _unused in ("httpx._main", "trio", "anyio"):
    sys.modules.setdefault(_unused, None)  # type: ignore[arg-type]

import click  # noqa: E402

from muslin import __version__  # noqa: E402
from muslin.cli.errors import run_guarded  # noqa: E402


class LazyGroup(click.Group):
    """A group whose commands come from :data:`muslin.cli.commands.COMMANDS`, imported on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from muslin.cli.commands import COMMANDS

        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from muslin.cli import commands

        command = self.commands.get(cmd_name)
        if command is None and cmd_name in commands.COMMANDS:
            command = commands.load(cmd_name)
            self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list with short help from the static table (no command is imported)."""
        from muslin.cli.commands import COMMANDS

        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if loaded.hidden:
                    continue
                rows.append((name, loaded.get_short_help_str(limit)))
            else:
                rows.append((name, _shorten(COMMANDS[name][1], limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to ``limit`` characters, with ``...`` when cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 3, 0)].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "..."


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="muslin")
@click.option("--debug", is_flag=True, help="Show tracebacks and muslin's debug log on stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Plan and perform Python installs for Alpine Linux / musl container images.

    \b
    Shell completion (bash; zsh/fish likewise):
      eval "$(_MUSLIN_COMPLETE=bash_source muslin)"
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        _enable_debug_logging()


def _enable_debug_logging() -> None:
    """Debug records of muslin's own loggers on stderr.

    Only the ``muslin`` logger tree: third-party loggers (httpx, docker) may log
    URLs or headers that carry credentials; muslin's own log lines redact them.
    """
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("muslin: debug: %(name)s: %(message)s"))
    logger = logging.getLogger("muslin")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


GC_THRESHOLD = (20_000, 20, 20)
"""Cyclic garbage collection less often than Python's default (700, 10, 10).

A plan allocates millions of short-lived objects (index entries, versions, resolver
states) and leaves little cyclic garbage: with the default, the collector ran every 700
allocations and took ~4% of a cold plan's CPU time, on the resolver's thread too."""


def main() -> None:
    """Console-script entry point."""
    gc.set_threshold(*GC_THRESHOLD)
    sys.exit(run_guarded(cli))
