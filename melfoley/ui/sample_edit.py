"""A small edit over given videos (the corpus clips), for the UI tests, screenshots and trying the panel.

Four picture clips on V1 at 25 fps from 01:00:00:00: two cuts of Big Buck Bunny, one of
the AAF adapter's test movie, and one whose media does not exist (the missing-media case).
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
from opentimelineio.url_utils import url_from_filepath

RATE = 25.0


def _clip(name: str, media: Path, start_s: float, dur_s: float, avail_s: float) -> otio.schema.Clip:
    rt = lambda s: otio.opentime.RationalTime(round(s * RATE), RATE)  # noqa: E731
    ref = otio.schema.ExternalReference(target_url=url_from_filepath(str(media)),
                                        available_range=otio.opentime.TimeRange(rt(0), rt(avail_s)))
    return otio.schema.Clip(name=name, media_reference=ref, source_range=otio.opentime.TimeRange(rt(start_s), rt(dur_s)))


def make_edit(path: Path, video_dir: Path, *, long: bool = False) -> Path:
    """Write the edit to ``path``; ``long`` makes the clips longer (a batch of a few seconds)."""
    k = 2.0 if long else 1.0
    tl = otio.schema.Timeline(name="panel test edit")
    tl.global_start_time = otio.opentime.RationalTime(90000, RATE)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(_clip("bunny wakes", video_dir / "bigbuckbunny.mp4", 0.4, 1.6 * k, 5.3))
    track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
        duration=otio.opentime.RationalTime(10, RATE))))
    track.append(_clip("colour bars", video_dir / "misc_speed_effects_aaf.mov", 0.0, 1.2, 3.0))
    track.append(_clip("lost shot", video_dir / "does_not_exist.mov", 0.0, 1.0, 2.0))
    track.append(_clip("bunny again", video_dir / "bigbuckbunny.mp4", 1.2, 1.0 * k, 5.3))
    tl.tracks.append(track)
    otio.adapters.write_to_file(tl, str(path))
    return Path(path)
