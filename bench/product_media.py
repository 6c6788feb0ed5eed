"""Media and edits for bench/eval_product.py: the picture clips, the scene videos, an OTIO
edit built from them with per-clip prompts, and stems rendered from it through BatchRunner.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE = 25.0


def picture_clips(work: Path, quick: bool) -> list[tuple[str, Path, float, float]]:
    """(name, video, start, duration) of the pictures every prompt is rendered on."""
    from melfoley.core.corpus import corpus_root
    from melfoley.core.synthvideo import render_impact_video

    out = []
    for kind, seed in (("bounce", 11), ("drop", 12))[: 1 if quick else 2]:
        p = work / f"pic_{kind}{seed}.mp4"
        if not p.exists():
            render_impact_video(p, kind=kind, fps=RATE, duration=4.0, seed=seed)
        out.append((f"{kind}{seed}", p, 0.0, 4.0))
    if not quick:
        out.append(("drops", HERE.parent / "melfoley" / "resources" / "demo" / "drops.mp4", 0.0, 3.0))
        out.append(("bunny", corpus_root() / "video" / "bigbuckbunny.mp4", 0.0, 4.0))
    return out


def demo_contacts() -> list[float]:
    """The drops in the demo's drops.mp4, as make_demo.py recorded them in demo.otio."""
    import opentimelineio as otio

    tl = otio.adapters.read_from_file(str(HERE.parent / "melfoley" / "resources" / "demo" / "demo.otio"))
    for clip in tl.find_clips():
        got = (clip.metadata.get("melfoley") or {}).get("contacts_s")
        if got:
            return [float(t) for t in got]
    raise SystemExit("demo.otio has no clip with metadata melfoley.contacts_s; rebuild it with make_demo.py")


def scene_clips(work: Path, quick: bool):
    """(name, video, duration, contacts, quiet spans, kind) for the sync section."""
    from melfoley.core.synthvideo import SCENE_KINDS, render_scene_video

    kinds, seeds = (("bounce", "slide"), (101,)) if quick else (SCENE_KINDS, (101, 102, 103))
    out = []
    for kind in kinds:
        for seed in seeds:
            p = work / f"scene_{kind}{seed}.mp4"
            truth = render_scene_video(p, kind, fps=RATE, duration=5.0, seed=seed)
            out.append((f"{kind}{seed}", p, truth.duration, truth.contacts, truth.quiet, kind))
    if not quick:
        c = demo_contacts()
        quiet = [(0.0, c[0], "before first contact")] + [(a, b, "between drops") for a, b in zip(c, c[1:])]
        out.append(("drops", HERE.parent / "melfoley" / "resources" / "demo" / "drops.mp4", 3.0, c,
                    quiet + [(c[-1], 3.0, "rest")], "drops"))
    return out


def make_edit(path: Path, clips: list[tuple[str, Path, float, float, str]]) -> Path:
    """An OTIO edit, one video track, clips (name, media, start s, duration s, prompt) end to end."""
    import opentimelineio as otio

    from melfoley.core.video import probe

    def rt(s):
        return otio.opentime.RationalTime(round(s * RATE), RATE)

    tl = otio.schema.Timeline(name="eval product", global_start_time=rt(3600.0))
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    for name, media, start, dur, prompt in clips:
        info = probe(media)
        ref = otio.schema.ExternalReference(target_url=str(Path(media).resolve()),
                                            available_range=otio.opentime.TimeRange(rt(0), rt(info.duration)))
        clip = otio.schema.Clip(name=name, media_reference=ref,
                                source_range=otio.opentime.TimeRange(rt(start), rt(dur)))
        clip.metadata["melfoley"] = {"prompt": prompt}
        track.append(clip)
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(path))
    return path


def render_edit(edit: Path, out: Path, engine: str, options: tuple) -> tuple[dict, object]:
    """Stems of an edit through BatchRunner (no cache): {clip name: (audio float64, sr)}, report."""
    import soundfile as sf

    from melfoley.plugin.batch import BatchConfig, BatchRunner
    from melfoley.plugin.jobs import BatchDefaults

    shutil.rmtree(out, ignore_errors=True)
    cfg = BatchConfig(timeline=edit, out_dir=out, defaults=BatchDefaults(engine=engine), use_cache=False,
                      engine_options=options)
    report = BatchRunner(cfg).run()
    stems = {}
    for c in report.clips:
        if c.status in ("done", "cached") and c.stems:
            y, sr = sf.read(c.stems[0], dtype="float64")
            stems[c.name] = (y if y.ndim == 1 else y.mean(1), sr)
    for c in report.failed[:3]:
        print(f"  [{engine}] clip {c.name} failed: {c.reason}", flush=True)
    return stems, report
