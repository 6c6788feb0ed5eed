"""``melfoley batch TIMELINE -o OUT``: foley a whole edit; stems and a new timeline land in OUT."""

from __future__ import annotations

import sys

from ...core.engines import DEFAULT_ENGINE  # import-light: a constant

FORMATS = ("otio", "otioz", "xml", "edl")


def add_clip_defaults(p) -> None:
    """--prompt, --takes, --seed, --engine: what every clip gets where its metadata says nothing
    (the batch, the watch folder and the hosts' child batch share them)."""
    p.add_argument("--prompt", default="footsteps",
                   help="what to foley where neither the clips nor the edit's default prompt (set in the panel) "
                        "say anything (default: footsteps)")
    p.add_argument("--takes", type=int, default=1, help="takes per clip (1-64; default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of take 1; take k uses seed + k - 1 (default 0)")
    p.add_argument("--engine", default=DEFAULT_ENGINE,
                   help=f"engine name (default: {DEFAULT_ENGINE}, the starter or your own sound library; 'embedded' is "
                        "the generative CPU engine, 'debug' is weightless)")


def add_parser(sub):
    p = sub.add_parser(
        "batch", help="foley every picture clip of an edit (OTIO, FCP7 XML, EDL, AAF, FCPXML)",
        description="Foley every picture clip of an edit: 48 kHz/24-bit BWF stems with UCS names and JSON "
                    "sidecars in OUT/stems, and the edit with new 'FOLEY <event>' audio tracks in OUT. "
                    "Per-clip prompts, takes, seeds and energy curves come from clip metadata "
                    "(metadata['melfoley']) or 'foley: <prompt>' markers; clips with no prompt of their own use the "
                    "edit's default prompt, then --prompt. Reruns reuse cached takes; an edit melfoley already "
                    "foleyed gets its Foley tracks replaced.")
    p.add_argument("timeline", help="the edit: .otio, .otioz, .otiod, .xml (FCP7), .edl, .aaf, .fcpxml")
    p.add_argument("-o", "--out", required=True, help="output folder (created; the input is never modified)")
    add_clip_defaults(p)
    p.add_argument("--engine-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="engine option, repeatable (e.g. vocoder=auto: the embedded engine's HiFi-GAN for contacts)")
    p.add_argument("--weights", metavar="DIR", help="local weights folder of the engine (e.g. --engine paper)")
    p.add_argument("--fallback", action="store_true",
                   help="if the asked engine cannot run here (no GPU, no weights), fall back to the embedded one")
    p.add_argument("--loudness", type=float, metavar="LUFS",
                   help="integrated loudness of every stem (e.g. -23); the -1 dBTP true-peak ceiling always holds")
    p.add_argument("--handles", type=float, default=0.0, metavar="SECONDS",
                   help="extra audio before and after each cut (0-10 s); the timeline clip stays trimmed to the cut")
    p.add_argument("--room-tone", action="store_true",
                   help="keep a quiet room-tone bed where nothing touches (default: impulsive events are silent there)")
    p.add_argument("--media-root", help="folder to relink moved media by their trailing path components")
    p.add_argument("--format", default="otio", choices=FORMATS, help="output timeline format (default otio)")
    p.add_argument("--show", default="", help="show name for UCS SourceID and iXML (default: the timeline's name)")
    p.add_argument("--edl-rate", type=float, help="frame rate of an EDL (default: guessed from its timecodes)")
    p.add_argument("--timeline", dest="timeline_name", help="which timeline of a file that holds several")
    p.add_argument("--include-disabled", action="store_true", help="foley disabled clips and tracks too")
    p.add_argument("--no-cache", action="store_true", help="render everything again (ignore cached takes)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="render the clips on a Ray cluster (pip install 'melfoley[farm]'): 'auto' (the cluster "
                        "`ray start` made on this machine), the head node's HOST:PORT, or 'local'; media and OUT "
                        "must be on a filesystem every node sees (docs/farm.md)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="with --ray: worker processes, each with its engine resident (default: one per CPU, or "
                        "per GPU for --engine paper)")
    return p


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class _Bar:
    def __init__(self, stream=None, width: int = 28):
        self.stream, self.width, self.last = stream or sys.stderr, width, 0  # the stream of now, not of import

    def __call__(self, p) -> None:
        frac = p.done / p.total if p.total else 1.0
        fill = int(round(frac * self.width))
        line = (f"\r[{'#' * fill}{'.' * (self.width - fill)}] {p.done}/{p.total} clips"
                f"  cached {p.cached}  failed {p.failed}  elapsed {_fmt_time(p.elapsed)}  left {_fmt_time(p.eta)}"
                f"  {p.current[:30]}")
        pad = max(0, self.last - len(line))
        self.stream.write(line + " " * pad)
        self.stream.flush()
        self.last = len(line)

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


def _options(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            from ...core.errors import MelfoleyError

            raise MelfoleyError(f"--engine-opt {p!r}: write KEY=VALUE, e.g. vocoder=auto")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def _engine_flags(args) -> tuple[tuple[str, str], ...]:
    """--weights / --fallback as engine options (so they enter the cache key like any other)."""
    out = []
    if args.weights:
        out.append(("weights", str(args.weights)))
    if args.fallback:
        out.append(("fallback", "true"))
    if getattr(args, "room_tone", False):
        if args.engine != "embedded":
            from ...core.errors import MelfoleyError

            raise MelfoleyError(f"--room-tone: the {args.engine} engine has no room-tone option; it is the embedded "
                                "engine's (whose impulsive takes are otherwise silent where nothing touches)")
        out.append(("room_tone", "true"))
    return tuple(out)


TIMELINE_SUFFIXES = (".otio", ".otioz", ".otiod", ".xml", ".edl", ".aaf", ".fcpxml")


def _check_out_dir(out) -> None:
    """-o names a folder that exists or can be made, and that can be written to."""
    import tempfile

    from ...core.errors import MelfoleyError

    if out.exists() and not out.is_dir():
        raise MelfoleyError(f"-o {out} is a file; -o names the output folder (stems go to OUT/stems and the "
                            "timeline to OUT/<edit>.foley.otio): choose a folder")
    if not out.exists() and out.suffix.lower() in TIMELINE_SUFFIXES:
        raise MelfoleyError(f"-o {out} looks like a timeline file, but -o names the output folder; use "
                            f"-o {out.with_suffix('')} (the timeline is written inside it as <edit>.foley"
                            f"{out.suffix.lower()}; choose the format with --format)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise MelfoleyError(f"cannot write to the output folder {out} ({exc.strerror or exc}); choose a "
                            "folder you can write to") from None


def run(args) -> int:
    from pathlib import Path

    from ..batch import BatchRunner, batch_config

    from ...core.errors import MelfoleyError

    if args.workers is not None and not args.ray:  # refused before anything is made
        raise MelfoleyError("--workers needs --ray (auto, local or the head node's HOST:PORT)")
    cfg = batch_config(args.timeline, args.out, prompt=args.prompt, takes=args.takes, seed=args.seed,
                       engine=args.engine, fmt=args.format, media_root=args.media_root, loudness=args.loudness,
                       handles=args.handles, show=args.show, edl_rate=args.edl_rate,
                       timeline_name=args.timeline_name, include_disabled=args.include_disabled,
                       use_cache=not args.no_cache, engine_options=_options(args.engine_opt) + _engine_flags(args))
    _check_out_dir(Path(args.out))  # the first thing made on disk, once every setting is known good
    bar = None if args.quiet else _Bar()
    executor = None
    if args.ray:
        from ..farm import RayExecutor

        executor = RayExecutor.factory(args.ray, args.workers)
    report = BatchRunner(cfg, progress=bar, executor=executor).run()
    if bar is not None:
        bar.close()
    out = sys.stdout
    for note in report.notes:
        print(f"note: {note}", file=out)
    t = report.totals()
    for c in report.clips:
        if c.status == "failed":
            reason = c.reason.removeprefix(f"clip {c.clip_id} '{c.name}': ")
            print(f"FAILED  {c.clip_id} {c.name!r} {c.timecode}: {reason}", file=out)
        elif c.status == "skipped":
            print(f"skipped {c.clip_id} {c.name!r}: {c.reason}", file=out)
    print(f"done {t['done']}, cached {t['cached']}, failed {t['failed']}, skipped {t['skipped']} "
          f"in {t['elapsed_s']:.1f} s (decode {t['decode_s']:.1f} s, render {t['render_s']:.1f} s, "
          f"write {t['write_s']:.1f} s; {t['picture_s']:.1f} s of picture)", file=out)
    print(f"stems:    {report.stems_dir}", file=out)
    print(f"timeline: {report.exported}", file=out)
    if report.interrupted:
        print("interrupted: finished stems and a partial timeline are in place; rerun to finish", file=out)
        return 130
    return 1 if t["failed"] else 0
