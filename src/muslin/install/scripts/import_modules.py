"""Import each named top-level module; report every failure.

Usage: ``python import_modules.py MODULE...``.  Prints ``importing NAME`` before
each import (so a crash names its culprit) and exits 1 when any import fails.
"""

from __future__ import annotations

import importlib
import sys
import traceback


def main(argv: list[str]) -> int:
    failed: list[str] = []
    for name in argv:
        print("importing " + name, flush=True)
        try:
            importlib.import_module(name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # an import may raise anything, SystemExit included
            failed.append(name)
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            print("FAILED " + name + ": " + last, file=sys.stderr, flush=True)
    if failed:
        print("import check failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
