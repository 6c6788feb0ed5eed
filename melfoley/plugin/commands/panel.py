"""``melfoley panel [TIMELINE]``: the Foley panel in its own window (Qt is imported only here, on run)."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("panel", help="open the Foley panel (PySide6) on an edit",
                       description="Foley an edit by eye and ear: choose sound events, redraw energy curves, "
                                   "audition takes, export stems and the edit with Foley tracks.")
    p.add_argument("timeline", nargs="?", help="edit to open (OTIO, OTIOZ, FCP7 XML, EDL, AAF, FCPXML)")
    p.add_argument("--media-root", metavar="DIR", help="folder to relink moved media from")
    p.add_argument("-o", "--output", metavar="DIR", help="where stems, the output edit and autosaves go "
                                                         "(default: <edit>_foley beside the edit)")
    p.add_argument("--engine", help="default engine for clips that name none (default: embedded, else debug)")
    return p


def run(args) -> int:
    from ...core.errors import MelfoleyError

    try:
        from ...ui.window import run_app
    except ImportError as exc:
        raise MelfoleyError(f"the panel needs PySide6 ({exc}); install it with: pip install 'melfoley[ui]'") from exc
    if args.timeline:
        from pathlib import Path

        if not Path(args.timeline).exists():
            raise MelfoleyError(f"timeline {args.timeline} not found; check the path")
    if args.engine:
        from ...core.engine import available_engines

        if args.engine not in available_engines():
            raise MelfoleyError(f"unknown engine {args.engine!r}; available: {', '.join(available_engines())}")
    return int(run_app(args.timeline, media_root=args.media_root, output_dir=args.output, engine=args.engine) or 0)
