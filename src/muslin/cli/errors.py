"""Turn exceptions into one error line and a documented exit code."""

from __future__ import annotations

import sys
import traceback

import click

from muslin.errors import MuslinError

INTERNAL = 1


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv


def run_guarded(group: click.Group, argv: list[str] | None = None) -> int:
    """Run the click group; map errors to ``muslin: error: ...`` and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        group.main(args=args, prog_name="muslin", standalone_mode=False)
    except MuslinError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"muslin: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("muslin: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2 if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("muslin: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"muslin: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", err=True)
        return INTERNAL
    return 0
