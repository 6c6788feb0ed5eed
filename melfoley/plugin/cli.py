"""The ``melfoley`` command line: a thin argparse shell over the library.

Each sub-command lives in ``melfoley/plugin/commands/<name>.py`` with ``add_parser(sub)``
and ``run(args) -> int``; those modules import nothing heavy at module level, so
``melfoley --help`` answers at once. Errors a user can act on (``MelfoleyError``, and
``OSError`` from a full or read-only disk) print as one line and exit 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

#: sub-commands in help order; each names a module under melfoley.plugin.commands
COMMANDS = ["analyze", "batch", "library", "panel", "watch", "host", "train", "dataset", "eval", "paper", "convert"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="melfoley", description="Synchronized, editable Foley for picture edits (Mel-QCD)."
    )
    parser.add_argument("--version", action="version", version=f"melfoley {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = importlib.import_module(f"melfoley.plugin.commands.{name}")
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    from ..core.errors import MelfoleyError

    for stream in (sys.stdout, sys.stderr):  # names that are not valid UTF-8 print escaped, never crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return int(args._run(args) or 0)
    except MelfoleyError as exc:
        print(f"melfoley {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the disk or the OS refused (full, read-only, gone): one line, what and where
        where = f" {exc.filename}" if exc.filename else ""
        print(f"melfoley {args.command}: error:{where}: {exc.strerror or exc}; check the disk and the folder's "
              "permissions, then rerun", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"melfoley {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
