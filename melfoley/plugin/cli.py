"""The ``melfoley`` command line: a thin argparse shell over the library.

Each sub-command lives in ``melfoley/plugin/commands/<name>.py`` with ``add_parser(sub)``
and ``run(args) -> int``; those modules import nothing heavy at module level, so
``melfoley --help`` answers at once. Errors a user can act on (``MelfoleyError``, and
``OSError`` from a full or read-only disk) print as one line and exit 2, never as a traceback.
A stop request (Ctrl-C, SIGINT, SIGTERM, SIGBREAK on Windows) stops a command the way Ctrl-C
does: a batch keeps its finished stems and writes a valid partial timeline, then exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys

from .. import __version__

#: sub-commands in help order; each names a module under melfoley.plugin.commands
COMMANDS = ["analyze", "batch", "library", "panel", "watch", "host", "train", "dataset", "eval", "paper", "convert"]
#: the commands a stop signal stops cleanly (``stop_on_signals``); the panel's Qt loop has its own, and
#: ``host run`` installs them itself unless it shows its progress window (a Qt loop as well)
STOPPABLE = frozenset(COMMANDS) - {"panel", "host"}


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


@contextlib.contextmanager
def stop_on_signals():
    """While inside: SIGINT, SIGTERM and SIGBREAK raise ``KeyboardInterrupt`` in the main thread.

    SIGINT too, because a process started in the background by a non-interactive shell (a
    render manager's wrapper, ``cmd &`` in a script) inherits SIGINT *ignored*, and Python
    then installs no handler: ``kill -INT`` (what the host bridges send on Cancel) would do
    nothing and the run would go on to the end. SIGTERM is how render managers stop a task.
    The previous handlers come back on the way out (``main`` may run inside another program),
    and outside the main thread, where Python allows no handler, nothing changes.
    """
    import threading

    names = [n for n in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, n)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):  # noqa: ARG001 - signal API
        raise KeyboardInterrupt

    before = {n: signal.getsignal(getattr(signal, n)) for n in names}
    for n in names:
        signal.signal(getattr(signal, n), signal.default_int_handler if n == "SIGINT" else stop)
    try:
        yield
    finally:
        for n, handler in before.items():
            signal.signal(getattr(signal, n), handler if handler is not None else signal.SIG_DFL)


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
        with stop_on_signals() if args.command in STOPPABLE else contextlib.nullcontext():
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
