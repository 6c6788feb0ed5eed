"""``melfoley watch DIR``: foley every edit dropped into DIR (AAF, FCP7 XML, FCPXML, EDL, OTIO)."""

from __future__ import annotations

from .batch import add_clip_defaults


def add_parser(sub):
    p = sub.add_parser("watch", help="watch a folder: foley every edit dropped into it",
                       description="For editors without scripting (Avid, Premiere, Final Cut): export the edit "
                                   "into DIR; once the file stops growing it is foleyed into DIR/<name>_<ext>_foley/ "
                                   "(stems, the edit in the same format family or FCP7 XML, a log per job). "
                                   "Finished jobs are not redone after a restart; dropped files are only read.")
    p.add_argument("folder", metavar="DIR", help="the folder to watch")
    p.add_argument("--once", action="store_true",
                   help="foley what is there (waiting for files still growing), then exit: 0 if every job and "
                        "clip was done, 1 if some failed (see each job's watch.log)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between scans (default 2)")
    p.add_argument("--settle", type=float, default=3.0,
                   help="seconds a file must stay unchanged before it is taken (default 3)")
    add_clip_defaults(p)
    p.add_argument("--media-root", metavar="DIR", help="folder to relink moved media from")
    return p


def run(args) -> int:
    from pathlib import Path

    from ..hosts.bridge import Settings
    from ..hosts.watch import Watcher

    settings = Settings(prompt=args.prompt, takes=args.takes, seed=args.seed, engine=args.engine,
                        media_root=args.media_root)
    watcher = Watcher(Path(args.folder), settings, settle=args.settle)
    if not args.once:
        print(f"melfoley watch: watching {watcher.folder} (Ctrl-C to stop)", flush=True)
    outcomes = watcher.run(once=args.once, interval=args.interval)
    return 1 if any(o.status == "failed" or o.failed_clips for o in outcomes) else 0
