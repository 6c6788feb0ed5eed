"""``melfoley library add|list|stats|remove|rescan``: the sound-library index the ``library`` engine uses."""

from __future__ import annotations

import sys

from .batch import _fmt_time as _fmt


def add_parser(sub):
    p = sub.add_parser("library", help="index your sound library (UCS/BWF folders) for the library engine",
                       description="Index sound-library folders for the 'library' engine. Files are only ever read; "
                                   "unchanged files are not read again; Ctrl-C keeps what was indexed and the next "
                                   "run resumes. The index is MELFOLEY_LIBRARY_DB or the user data folder.")
    p.add_argument("--library-db", metavar="FILE", help="index database (default: $MELFOLEY_LIBRARY_DB or the user "
                                                         "data folder)")
    p.add_argument("--workers", type=int, default=0, help="analysis processes for big folders (default 0: one per "
                                                          "core, at most 2)")
    cmd = p.add_subparsers(dest="library_command", metavar="ACTION", required=True)
    a = cmd.add_parser("add", help="add folders and index them")
    a.add_argument("folders", nargs="+", help="library folders")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd.add_parser("list", help="list the library folders and their file counts")
    cmd.add_parser("stats", help="files, hours, events, rates, categories and problems of the index")
    r = cmd.add_parser("remove", help="remove folders from the index (the files are not touched)")
    r.add_argument("folders", nargs="+")
    s = cmd.add_parser("rescan", help="re-walk every folder: index new and changed files, mark missing ones")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


class _Bar:
    def __init__(self, stream=sys.stderr, width: int = 28):
        self.stream, self.width, self.last = stream, width, 0

    def __call__(self, p) -> None:
        frac = p.done / p.total if p.total else 1.0
        fill = int(round(frac * self.width))
        line = (f"\r[{'#' * fill}{'.' * (self.width - fill)}] {p.done}/{p.total} files  {p.rate:.1f} files/s  "
                f"left {_fmt(p.eta)}  problems {p.failed}  {p.current[:32]}")
        self.stream.write(line + " " * max(0, self.last - len(line)))
        self.stream.flush()
        self.last = len(line)


def _open(args):
    from pathlib import Path

    from ...core.library.index import LibraryIndex
    from ...core.userdirs import library_db

    index = LibraryIndex(Path(args.library_db).expanduser() if args.library_db else library_db())
    if index.rebuilt_from:
        print(f"melfoley library: the index {index.path} could not be read ({index.rebuild_reason}); it was moved "
              f"to {index.rebuilt_from} and rebuilt; run `melfoley library rescan` to index its folders again",
              file=sys.stderr)
    return index


def _report(rep) -> int:
    for path, why in rep.problems[:200]:
        print(f"  skipped {path}: {why}")
    if len(rep.problems) > 200:
        print(f"  ... and {len(rep.problems) - 200} more (see `melfoley library stats`)")
    print(f"indexed {rep.indexed}, unchanged {rep.unchanged}, missing {rep.missing}, problems {len(rep.problems)} "
          f"of {rep.total} files in {rep.seconds:.1f} s")
    if rep.interrupted:
        print("interrupted: what was indexed is kept; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def run(args) -> int:
    index = _open(args)
    try:
        return _act(args, index)
    finally:
        index.close()


def _act(args, index) -> int:
    from pathlib import Path

    from ...core.library.scan import scan

    act = args.library_command
    if act in ("add", "rescan"):
        bar = None if args.quiet or not sys.stderr.isatty() else _Bar()
        folders = [Path(f) for f in args.folders] if act == "add" else None
        if act == "rescan" and not index.roots():
            print(f"no library folders in {index.path}; add one with `melfoley library add DIR`")
            return 0
        rep = scan(index, folders, progress=bar, notify=lambda m: print(m, file=sys.stderr), workers=args.workers)
        if bar:
            sys.stderr.write("\n")
        return _report(rep)
    if act == "list":
        roots = index.roots()
        if not roots:
            print(f"no library folders in {index.path}; the library engine uses the starter library")
        for rid, path in roots:
            n = index.execute("SELECT COUNT(*), COALESCE(SUM(duration), 0) FROM files WHERE root_id=? AND "
                              "status='ok'", (rid,)).fetchone()
            state = "" if Path(path).is_dir() else "  (folder missing)"
            print(f"{path}  {n[0]} files  {n[1] / 3600:.2f} h{state}")
        return 0
    if act == "stats":
        st = index.stats()
        print(f"index       {st['db']} (generation {st['generation']})")
        print(f"folders     {st['roots']}")
        for status, v in sorted(st["status"].items()):
            print(f"{status:<11} {v['files']} files, {v['hours']:.2f} h, {v['bytes'] / 2**20:.1f} MB")
        print(f"events      {st['events'].get('event', 0)} events, {st['events'].get('texture', 0)} textures")
        print("rates       " + ", ".join(f"{r} Hz: {n}" for r, n in sorted(st["sample_rates"].items())))
        print("categories  " + ", ".join(f"{c}: {n}" for c, n in st["categories"].items()))
        for path, status, err in index.problems():
            print(f"  {status}: {path}: {err}")
        return 0
    if act == "remove":
        for f in args.folders:
            p = Path(f).expanduser()
            n = index.remove_root(p.resolve() if p.exists() else p)
            print(f"removed {f} ({n} files from the index; the files themselves are untouched)")
        return 0
    return 2
