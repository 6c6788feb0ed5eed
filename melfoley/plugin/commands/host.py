"""``melfoley host install|uninstall resolve|hiero`` and ``melfoley host run`` (what the bridges start)."""

from __future__ import annotations

from .batch import add_clip_defaults

HOSTS = ("resolve", "hiero")
PLATFORMS = ("linux", "macos", "windows")


def add_parser(sub):
    p = sub.add_parser("host", help="install the DaVinci Resolve / Nuke Studio (Hiero) bridges",
                       description="Install melfoley into an editor: a Workspace > Scripts entry in DaVinci Resolve "
                                   "(18.5+), a dockable panel in Nuke Studio / Hiero (16+). See docs/hosts.md.")
    hs = p.add_subparsers(dest="host_command", metavar="ACTION", required=True)
    for name, text in (("install", "copy the entry script into the host's script / plug-in folder"),
                       ("uninstall", "remove what 'install' wrote (nothing else)")):
        q = hs.add_parser(name, help=text, description=text)
        q.add_argument("host", choices=HOSTS)
        q.add_argument("--home", metavar="DIR", help="install for the user whose home is DIR (default: yours)")
        q.add_argument("--platform", choices=PLATFORMS, help="folder layout of this OS (default: the running one)")
        if name == "install":
            q.add_argument("--out-root", metavar="DIR",
                           help="where host jobs write stems (default: ~/melfoley/<host>/<project>/<timeline>)")
    r = hs.add_parser("run", help="(for the bridges) foley an edit, progress as JSON lines on stdout",
                      description="Foley an edit like 'melfoley batch', printing one JSON object per line "
                                  "(progress events, then the result); SIGINT/SIGTERM stop it cleanly.")
    r.add_argument("timeline")
    r.add_argument("-o", "--out", required=True)
    add_clip_defaults(r)
    r.add_argument("--format", default="otio", choices=("otio", "otioz", "xml", "edl"))
    r.add_argument("--media-root")
    r.add_argument("--window", action="store_true", help="show a progress window with Cancel (melfoley's Qt)")
    r.add_argument("--title", default="", help="the window's title (default: the edit's name)")
    return p


def run(args) -> int:
    from pathlib import Path

    if args.host_command == "run":
        from ..hosts.run import run_child

        return run_child(args)
    from ..hosts import install

    home = Path(args.home).expanduser() if args.home else None
    if args.host_command == "install":
        done = install.install(args.host, home=home, platform=args.platform,
                               output_root=Path(args.out_root).expanduser() if args.out_root else None)
        print(f"installed: {done.script}")
        print(f"record:    {done.record}")
        where = ("Workspace > Scripts > Edit > melfoley Foley (Edit page)" if args.host == "resolve"
                 else "Window > Custom > melfoley Foley after a restart of Nuke Studio / Hiero")
        print(f"in the host: {where}")
        return 0
    removed = install.uninstall(args.host, home=home, platform=args.platform)
    for path in removed:
        print(f"removed: {path}")
    if not removed:
        print(f"nothing to remove: melfoley's {args.host} entry is not installed there")
    return 0
