"""Walking an edit's compositions and finding its picture clips.

:func:`find_picture_clips` walks the video tracks (nested stacks and tracks included) and
returns every picture clip with its record range (timeline time), its source range (media
time, clipped to what is visible through nested trims), its resolved media file and any
flags (transitions, time warps). Disabled clips and tracks, generators, gaps and clips of
zero or negative length are listed as skipped with the reason; a clip whose media cannot be
found keeps a ``media_problem`` so the batch reports it per clip and does the rest; a clip
that cannot be read at all (an unusable frame rate, nesting deeper than
:data:`MAX_NESTING`) is listed as skipped with ``failed=True`` and its reason.

Reading the file is :mod:`.formats` (formats, adapters, rates), finding a clip's media is
:mod:`.relink`, what a clip is (and its stem identity) is :mod:`.clips`; their public names are
re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import opentimelineio as otio

from ..core.errors import MelfoleyError
from ..core.video import media_timecode  # noqa: F401 - re-exported
from .clips import MAX_HOLD_S, ClipMarker, ClipScan, PictureClip, Skipped, with_stem_ids  # noqa: F401 - re-exported
from .formats import (TimelineError, TimelineSource, check_time, exact_rate, is_drop_frame,  # noqa: F401
                      read_timeline, seconds)
from .relink import (clip_media, media_candidates, media_problem, not_media, resolve_media,  # noqa: F401
                     url_to_path)

#: compositions nested deeper than this are refused (editors nest a handful of levels)
MAX_NESTING = 64


def find_picture_clips(src: TimelineSource, *, media_root: str | os.PathLike | None = None,
                       include_disabled: bool = False) -> ClipScan:
    """Every picture clip of the video tracks, in track order then record order."""
    tl = src.timeline
    rate = float(src.rate)
    if not tl.video_tracks():  # reported as a failure: a run that foleys nothing must say so
        kinds = [t.kind for t in tl.tracks]
        why = (f"the edit has no video tracks ({len(kinds)} track(s)"
               f"{': ' + ', '.join(kinds[:4]) if kinds else ''}); melfoley foleys picture clips: export the "
               "edit with its video tracks")
        return ClipScan((), (Skipped("-", tl.name or "", why, True),))
    ctx = _Scan(src, Path(media_root) if media_root else None, include_disabled, rate)
    try:
        ctx.stack_markers = _markers_in(tl.tracks, lambda t: t, rate)
    except (MelfoleyError, ValueError, TypeError, OverflowError) as exc:
        raise TimelineError(f"timeline {src.path}: a timeline marker cannot be read ({exc}); fix or remove it "
                            "in the editor") from None
    for ti, track in enumerate(tl.video_tracks()):
        label = f"V{ti + 1}"
        if not track.enabled and not include_disabled:
            n = len(list(track.find_clips()))
            ctx.skipped.append(Skipped(label, track.name or label, f"track disabled ({n} clips)"))
            continue
        window = track.trimmed_range()
        offset = window.start_time - track.range_in_parent().start_time if track.parent() else window.start_time
        ctx.walk(track, lambda t, o=offset: t - o, window, label, track.name or label, ())
    return ClipScan(tuple(with_stem_ids(src, ctx.clips)), tuple(ctx.skipped))


def iter_clip_ids(tl: otio.schema.Timeline) -> Iterator[tuple[str, otio.schema.Clip]]:
    """(clip_id, clip) of every clip of the video tracks, with the ids :func:`find_picture_clips` gives."""
    stack = [(f"V{ti + 1}", track, 0) for ti, track in reversed(list(enumerate(tl.video_tracks())))]
    while stack:
        cid, comp, depth = stack.pop()
        if depth > MAX_NESTING:
            continue
        for i, child in reversed(list(enumerate(comp))):
            if isinstance(child, otio.schema.Clip):
                stack.append((f"{cid}/{i}", child, -1))
            elif isinstance(child, otio.core.Composition):
                stack.append((f"{cid}/{i}", child, depth + 1))
        while stack and stack[-1][2] == -1:
            c_id, clip, _ = stack.pop()
            yield c_id, clip


def _markers_in(item, to_record, rate) -> list[ClipMarker]:
    out = []
    for m in getattr(item, "markers", []):
        a = to_record(m.marked_range.start_time).rescaled_to(rate)
        b = to_record(m.marked_range.end_time_exclusive()).rescaled_to(rate)
        meta = _plain(m.metadata.get("melfoley", {}))
        out.append(ClipMarker(m.name or "", getattr(m, "comment", "") or "", seconds(a), seconds(b),
                              meta if meta is not None else {}))
    return out


def _usable(t: otio.opentime.RationalTime) -> bool:
    try:
        check_time(t)
    except TimelineError:
        return False
    return True


def _intersect(a: otio.opentime.TimeRange, b: otio.opentime.TimeRange) -> otio.opentime.TimeRange | None:
    start = max(a.start_time, b.start_time)
    end = min(a.end_time_exclusive(), b.end_time_exclusive())
    if end <= start:
        return None
    return otio.opentime.range_from_start_end_time(start, end)


class _Scan:
    def __init__(self, src, media_root, include_disabled, rate):
        self.src, self.media_root, self.include_disabled, self.rate = src, media_root, include_disabled, rate
        self.clips: list[PictureClip] = []
        self.skipped: list[Skipped] = []
        self.stack_markers: list[ClipMarker] = []

    def walk(self, comp, to_record, window, cid, track_name, flags, depth=0):
        if depth > MAX_NESTING:
            n = len(list(comp.find_clips()))
            self.skipped.append(Skipped(cid, comp.name or "", f"nested more than {MAX_NESTING} compositions deep "
                                        f"({n} clips inside); flatten the nested sequences in the editor", True))
            return
        try:
            ranges = comp.range_of_all_children()
        except Exception as exc:  # noqa: BLE001 - OTIO raises plain ValueErrors for broken ranges
            self.skipped.append(Skipped(cid, comp.name or "", f"its items' ranges cannot be read ({exc}); "
                                        "fix the edit and re-export it", True))
            return
        children = list(comp)
        window_usable = _usable(window.start_time) and _usable(window.duration)
        try:
            extra_markers = _markers_in(comp, to_record, self.rate) if isinstance(comp, otio.schema.Track) else []
        except (MelfoleyError, ValueError, TypeError, OverflowError) as exc:
            self.skipped.append(Skipped(cid, comp.name or "", f"a marker on it cannot be read ({exc}); fix or "
                                        "remove it in the editor", True))
            return
        for i, child in enumerate(children):
            if isinstance(child, (otio.schema.Transition, otio.schema.Gap)):
                continue
            child_id = f"{cid}/{i}"
            try:
                self._child(comp, children, i, child, child_id, ranges[child], to_record,
                            window if window_usable else None, track_name, flags, depth, extra_markers)
            except (MelfoleyError, ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
                self.skipped.append(Skipped(child_id, getattr(child, "name", "") or "",
                                            f"cannot be read: {exc}", True))

    def _child(self, comp, children, i, child, child_id, rip, to_record, window, track_name, flags, depth,
               extra_markers):
        own = child.trimmed_range()
        check_time(own.start_time), check_time(own.duration)  # its own rate and length: TimelineError if unusable
        if isinstance(child, otio.schema.Clip) and own.duration.value <= 0:
            self.skipped.append(Skipped(child_id, child.name or "", f"zero or negative duration "
                                        f"({own.duration.value:g} frames): nothing to foley; fix its source "
                                        "range in the editor"))
            return
        if not (_usable(rip.start_time) and _usable(rip.duration)):
            raise TimelineError("its place in the track cannot be computed (an item before it has an unusable "
                                "rate or length); fix that item in the editor")
        vis = _intersect(rip, window) if window is not None else rip  # None: a window that cannot be read
        if vis is None:
            return
        offset = own.start_time - rip.start_time  # child time = parent time + offset
        child_window = otio.opentime.TimeRange(vis.start_time + offset, vis.duration)
        child_to_record = (lambda t, o=offset, up=to_record: up(t - o))
        cflags = list(flags)
        if isinstance(comp, otio.schema.Track):
            for j, where in ((i - 1, "in"), (i + 1, "out")):
                if 0 <= j < len(children) and isinstance(children[j], otio.schema.Transition):
                    tr = children[j]
                    cflags.append(f"transition {where} ({tr.transition_type}, "
                                  f"{float(seconds(tr.duration())):.3f} s): foleyed to the cut")
        if not child.enabled and not self.include_disabled:
            self.skipped.append(Skipped(child_id, child.name or "", "disabled in the edit"))
            return
        if isinstance(child, otio.schema.Clip):
            self._clip(child, child_id, track_name, child_window, to_record(vis.start_time), tuple(cflags),
                       extra_markers)
        elif isinstance(child, otio.core.Composition):
            note = f"nested {type(child).__name__.lower()} '{child.name}'"
            self.walk(child, child_to_record, child_window, child_id, track_name, tuple(cflags) + (note,),
                      depth + 1)
        else:
            self.skipped.append(Skipped(child_id, getattr(child, "name", ""),
                                        f"unsupported item {type(child).__name__}"))

    def _clip(self, clip, cid, track_name, source, record_start, flags, track_markers):
        name = clip.name or ""
        rate = self.rate
        record = otio.opentime.TimeRange(record_start.rescaled_to(rate), source.duration.rescaled_to(rate))
        ref = clip.media_reference
        if isinstance(ref, otio.schema.GeneratorReference):
            self.skipped.append(Skipped(cid, name, f"generator ({ref.generator_kind or 'unknown'}): no picture media"))
            return
        flags = list(flags)
        scalar = 1.0
        for eff in clip.effects:
            if isinstance(eff, otio.schema.LinearTimeWarp):  # FreezeFrame is one with scalar 0
                scalar *= float(eff.time_scalar)
                flags.append(f"speed {float(eff.time_scalar):g}x honoured")
            elif isinstance(eff, otio.schema.TimeEffect):
                flags.append(f"time effect '{eff.effect_name or type(eff).__name__}' is not linear: "
                             "foleyed at normal speed")
        url, path, available, problem = clip_media(ref, name, timeline_dir=self.src.media_dir,
                                                   media_root=self.media_root)
        markers = []
        to_rec = (lambda t, s=source.start_time, r=record.start_time: t - s + r)
        markers += _markers_in(clip, to_rec, rate)
        a, b = seconds(record.start_time), seconds(record.end_time_exclusive())  # TimelineError here, not later
        if track_markers or self.stack_markers:
            markers += [m for m in list(track_markers) + self.stack_markers if m.record_end > a and m.record_start < b]
        self.clips.append(PictureClip(
            number=len(self.clips) + 1, clip_id=cid, name=name, track=track_name, rate=self.src.rate,
            record=record, source=source, global_start=self.src.global_start, media_url=url,
            media_path=path, media_available=available, media_problem=problem, time_scalar=scalar,
            flags=tuple(flags), metadata=_plain(clip.metadata.get("melfoley", {})), markers=tuple(markers)))


def _plain(obj):
    """OTIO AnyDictionary / AnyVector -> plain dict / list (copies)."""
    if hasattr(obj, "items"):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "AnyVector":
        return [_plain(v) for v in obj]
    return obj
