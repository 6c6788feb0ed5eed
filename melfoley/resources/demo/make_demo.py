"""Rebuild the demo edit: ``python melfoley/resources/demo/make_demo.py`` (from the repository root).

The edit (``demo.otio``, 25 fps, starting at 01:00:00:00) cuts three shots:
two from Big Buck Bunny (CC-BY-3.0, see ATTRIBUTION.txt; copied byte for byte from the
corpus) and one procedurally rendered clip of objects dropping onto a floor (rendered here
by ``melfoley.core.synthvideo``, no third-party content). Media paths are relative to the
edit, so it works from any checkout. Per-clip settings live in ``metadata["melfoley"]``
and one ``foley:`` marker gives a per-range prompt, to show both mechanisms.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import opentimelineio as otio

from melfoley.core.corpus import corpus_root
from melfoley.core.synthvideo import render_impact_video

HERE = Path(__file__).resolve().parent
RATE = 25.0


def rt(v):
    return otio.opentime.RationalTime(v, RATE)


def tr(s, d):
    return otio.opentime.TimeRange(rt(s), rt(d))


def main() -> None:
    bunny = HERE / "bigbuckbunny.mp4"
    if not bunny.exists():
        shutil.copyfile(corpus_root() / "video" / "bigbuckbunny.mp4", bunny)
    drops = HERE / "drops.mp4"
    impacts = render_impact_video(drops, kind="drop", fps=RATE, duration=3.0, size=(320, 240),
                                  impacts=[0.6, 1.4, 2.3], seed=3)
    tl = otio.schema.Timeline(name="melfoley demo", global_start_time=rt(90000))  # 01:00:00:00
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)

    def bunny_ref():
        return otio.schema.ExternalReference(target_url="bigbuckbunny.mp4", available_range=tr(0, 132))

    emerges = otio.schema.Clip(name="Bunny emerges", media_reference=bunny_ref(), source_range=tr(0, 60))
    emerges.metadata["melfoley"] = {"prompt": "footsteps on grass", "takes": 2}
    stretches = otio.schema.Clip(name="Bunny stretches", media_reference=bunny_ref(), source_range=tr(60, 70))
    stretches.metadata["melfoley"] = {"prompt": "leaves rustling"}
    stretches.markers.append(otio.schema.Marker(
        name="foley: clothing rustle", marked_range=tr(95, 25), color=otio.schema.MarkerColor.GREEN,
        comment="per-range prompt: the stretch"))
    falls = otio.schema.Clip(name="Things fall", source_range=tr(0, 75), media_reference=otio.schema.ExternalReference(
        target_url="drops.mp4", available_range=tr(0, 75)))
    falls.metadata["melfoley"] = {"prompt": "metal impact", "seed": 7,
                                  "contacts_s": impacts}  # ground truth of the render, for reference
    v1.extend([emerges, otio.schema.Gap(source_range=tr(0, 12)), stretches, falls])
    tl.tracks.append(v1)
    otio.adapters.write_to_file(tl, str(HERE / "demo.otio"))
    print(f"wrote {HERE / 'demo.otio'} (contacts at {impacts} s in drops.mp4)")


if __name__ == "__main__":
    main()
