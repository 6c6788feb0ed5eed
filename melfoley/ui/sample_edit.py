"""A small edit over given videos (the corpus clips), for the UI tests, screenshots and trying the panel.

Four picture clips on V1 at 25 fps from 01:00:00:00: two cuts of Big Buck Bunny, one of
the AAF adapter's test movie, and one whose media does not exist (the missing-media case).
``extras`` adds what an editor's edit carries besides: a dialogue track on A1 and a
``foley: door knock`` marker over part of the first clip.
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


def make_edit(path: Path, video_dir: Path, *, long: bool = False, extras: bool = False) -> Path:
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
    if extras:
        rt = lambda s: otio.opentime.RationalTime(round(s * RATE), RATE)  # noqa: E731
        track[0].markers.append(otio.schema.Marker(name="foley: door knock", marked_range=otio.opentime.TimeRange(
            rt(0.4 + 0.5 * k), rt(0.4 * k))))  # in the clip's source time
        audio = otio.schema.Track(name="A1 dialogue", kind=otio.schema.TrackKind.Audio)
        audio.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=rt(0.5))))
        audio.append(otio.schema.Clip(name="dialogue take 4", media_reference=otio.schema.ExternalReference(
            target_url=url_from_filepath(str(video_dir / "bigbuckbunny.mp4"))),
            source_range=otio.opentime.TimeRange(rt(0.0), rt(2.0))))
        tl.tracks.append(audio)
    otio.adapters.write_to_file(tl, str(path))
    return Path(path)
