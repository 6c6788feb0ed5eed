"""The picture clips an edit's scan finds: what each is (record and source ranges, media, flags,
markers), the media window the decoder reads, and the stem identity that names its stems.

:func:`melfoley.plugin.timeline.find_picture_clips` makes these; the batch, the stems, the
output timeline and the panel read them. Every name here is re-exported by :mod:`.timeline`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import opentimelineio as otio

from ..core.errors import MediaError
from .formats import TimelineSource, is_drop_frame, seconds, source_edit

#: a source range may run past its media's end by at most this (s; or half the media) before it is refused
MAX_HOLD_S = 10.0


# ---------------------------------------------------------------------------- clips
@dataclass(frozen=True)
class ClipMarker:
    name: str
    comment: str
    record_start: Fraction  # seconds on the timeline (from its start, global start excluded)
    record_end: Fraction
    metadata: dict = field(default_factory=dict)  # the marker's metadata["melfoley"] (checked by jobs)


@dataclass(frozen=True, eq=False)
class PictureClip:
    """One picture clip to foley."""

    number: int  # 1-based order of the scan (track, then time)
    clip_id: str  # path in the edit: "V1/3" or "V2/1/0" inside nested compositions
    name: str
    track: str
    rate: Fraction  # exact record rate of the timeline
    record: otio.opentime.TimeRange  # on the timeline (global start excluded), at ``rate``
    source: otio.opentime.TimeRange  # in media time (the visible part of the clip's trim)
    global_start: otio.opentime.RationalTime
    media_url: str = ""
    media_path: Path | None = None
    media_available: otio.opentime.TimeRange | None = None
    media_problem: str | None = None
    time_scalar: float = 1.0
    flags: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)  # the clip's metadata["melfoley"] (a copy)
    markers: tuple[ClipMarker, ...] = ()
    stem_id: str = ""  # names the clip's stems: unique in the edit, stable when other clips change

    @property
    def stem_tag(self) -> str:
        """The clip's part of its stems' names (``C`` + :attr:`stem_id`, or the scan number)."""
        return f"C{self.stem_id}" if self.stem_id else f"C{self.number:03d}"

    # derived values are computed once (a frozen clip never changes; the batch, stems and the output
    # timeline ask for them several times per clip, 10,000 clips an edit)
    @cached_property
    def record_in(self) -> Fraction:
        """Record-in, exact seconds since 00:00:00:00 (global start included)."""
        return seconds(self.global_start) + seconds(self.record.start_time)

    @cached_property
    def record_offset(self) -> Fraction:
        return seconds(self.record.start_time)

    @cached_property
    def duration(self) -> Fraction:
        """Trimmed duration on the timeline, exact seconds (the stem is exactly this long)."""
        return seconds(self.record.duration)

    def samples(self, sample_rate: int = 48000) -> int:
        return int(round(self.duration * sample_rate))

    def timecode(self) -> str:
        return self._timecode

    @cached_property
    def _timecode(self) -> str:
        t = self.global_start + self.record.start_time
        return otio.opentime.to_timecode(t.rescaled_to(float(self.rate)), float(self.rate),
                                         is_drop_frame(self.rate))

    def media_window(self, media_duration: float | None = None,
                     media_timecode: Fraction | None = None) -> tuple[float, float]:
        """(start, duration) in media seconds for the decoder: the source range relative to the
        media's first frame, and the picture the record duration consumes at the time warp's speed.

        The first frame's source time is the reference's ``available_range`` start; without one
        (EDL, relinked by name), the file's own start timecode (``media_timecode``, seconds) when
        the source range lies past it."""
        start = self.source.start_time
        if self.media_available is not None:
            start = start - self.media_available.start_time
        s = float(seconds(start))
        if self.media_available is None and media_timecode is not None and s >= float(media_timecode) - 1e-6:
            s -= float(media_timecode)
        d = float(self.duration) * abs(self.time_scalar)
        if s < -1e-6 or (media_duration is not None and s >= media_duration):
            raise MediaError(
                f"clip {self.clip_id} '{self.name}': source range starts at {s:.3f} s in {self.media_path} "
                f"({media_duration if media_duration is not None else '?'} s long); the media does not match "
                "the edit (wrong file or an unknown start timecode): relink it with --media-root")
        if media_duration is not None and s + d > media_duration + max(MAX_HOLD_S, 0.5 * media_duration):
            raise MediaError(
                f"clip {self.clip_id} '{self.name}': needs {d:.3f} s of picture from {s:.3f} s but "
                f"{self.media_path} is {media_duration:.3f} s long; the media does not match the edit "
                "(wrong file, or a clip extended past its media): relink or trim the clip")
        return max(0.0, s), d


@dataclass(frozen=True)
class Skipped:
    clip_id: str
    name: str
    reason: str
    failed: bool = False  # True: the clip could not be read (reported as failed, not skipped)


@dataclass(frozen=True)
class ClipScan:
    clips: tuple[PictureClip, ...]
    skipped: tuple[Skipped, ...]


def with_stem_ids(src: TimelineSource, clips: list[PictureClip]) -> list[PictureClip]:
    """Give each clip its :attr:`PictureClip.stem_id`: a hash of the source edit (the user's edit,
    :func:`.formats.source_edit`, and its name, so two edits named alike foleyed into one folder
    never share a stem, and a re-run on melfoley's own ``x.foley.otio`` names its stems as the run on
    ``x.otio`` did) and the clip's own content (name, the media file read, source range), not its
    position, so inserting or moving other clips renames nothing. Identical clips are told apart by
    their order among themselves."""
    edit = str(source_edit(src.path, src.timeline)) + "|" + (src.timeline.name or "")
    seen: dict[str, int] = {}
    used: set[str] = set()
    real: dict[Path, str] = {}  # the output writes picture URLs absolute: the file read is what stays
    out = []
    for c in clips:
        media = c.media_url
        if c.media_path is not None:
            media = real.get(c.media_path) or real.setdefault(c.media_path, os.path.realpath(c.media_path))
        base = "|".join((edit, c.name, media, repr(c.source.start_time.value), repr(c.source.start_time.rate),
                         repr(c.source.duration.value), repr(c.time_scalar)))
        k = seen.get(base, 0)
        seen[base] = k + 1
        salt = 0
        while True:
            sid = hashlib.sha256(f"{base}|{k}|{salt}".encode("utf-8", "surrogateescape")).hexdigest()[:8].upper()
            if sid not in used:
                break
            salt += 1
        used.add(sid)
        out.append(dataclasses.replace(c, stem_id=sid))
    return out
