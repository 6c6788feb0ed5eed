"""The edit's ``foley:`` markers as the panel edits them: added, moved, retexted, deleted.

A marker is ``Marker(start, end, text)``, seconds on the edit's time line (from its start,
global start excluded, as :class:`melfoley.plugin.timeline.ClipMarker` counts them), on whole
frames of the edit's rate. The panel keeps them where the plugin layer reads them: the edit's
OTIO markers. :func:`put_on_timeline` removes the prompt markers (``foley:`` / ``melfoley:``
names or comments, or ``metadata["melfoley"]["prompt"]``) from the timeline's stack, its
video tracks and their items, and writes the panel's markers on the stack (a marker there
covers every clip under it, on every video track). Saving, the autosave and the export copy
that timeline, so ``melfoley batch`` on the saved edit reads the same markers. Markers that
give no prompt (editors use markers for many things) are never touched. Pure: no widgets.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from melfoley.core.errors import MelfoleyError

MIN_LEN_FRAMES = 1
DEFAULT_LEN_S = 1.0  # a marker added at the playhead


class Marker(NamedTuple):
    start: float
    end: float
    text: str


def text_of(marker) -> str | None:
    """The prompt a marker (OTIO or scanned) gives, or None (also for a marker it cannot read)."""
    from melfoley.plugin.jobs import marker_prompt

    meta = getattr(marker, "metadata", None)
    if meta is not None and not isinstance(meta, dict):  # an OTIO marker: its melfoley part
        try:
            meta = dict(meta.get("melfoley", {}) or {})
        except (TypeError, ValueError, AttributeError):
            return None
    probe = _Probe(marker.name or "", getattr(marker, "comment", "") or "", meta if meta is not None else {})
    try:
        return marker_prompt(probe)
    except MelfoleyError:
        return None


class _Probe(NamedTuple):
    name: str
    comment: str
    metadata: dict


def from_scan(clips) -> tuple[Marker, ...]:
    """The edit's prompt markers, once each (a track or timeline marker is seen by every clip under it)."""
    seen = set()
    for c in clips:
        for m in c.markers:
            t = text_of(m)
            if t:
                seen.add(Marker(float(m.record_start), float(m.record_end), t))
    return tuple(sorted(seen))


def snap(t: float, rate) -> float:
    """``t`` on the nearest whole frame of ``rate`` (never before the edit's start)."""
    r = float(rate)
    return max(0.0, round(float(t) * r) / r)


def made(start: float, end: float, text: str, rate) -> Marker:
    """A marker on whole frames, at least one frame long."""
    a = snap(start, rate)
    b = max(snap(end, rate), a + MIN_LEN_FRAMES / float(rate))
    return Marker(a, b, " ".join(text.split()))


def _frames(t: float, rate) -> int:
    return int(round(float(t) * float(rate)))


def clip_markers(clip, markers, rate) -> tuple:
    """The scanned clip's markers with its prompt markers replaced by ``markers`` (those over it)."""
    from melfoley.plugin.timeline import ClipMarker

    from melfoley.plugin.timeline import exact_rate

    exact = exact_rate(float(rate))
    a, b = clip.record_offset, clip.record_offset + clip.duration
    keep = [m for m in clip.markers if not text_of(m)]
    for m in markers:
        s, e = Fraction(_frames(m.start, rate)) / exact, Fraction(_frames(m.end, rate)) / exact
        if e > a and s < b:
            keep.append(ClipMarker(f"foley: {m.text}", "", s, e, {"prompt": m.text}))
    return tuple(keep)


def put_on_timeline(tl, markers, rate) -> None:
    """Replace the prompt markers of the OTIO timeline ``tl`` (in place) by ``markers``, on its stack."""
    import opentimelineio as otio

    items = [tl.tracks]
    for track in tl.video_tracks():
        items.append(track)
        items += list(track.find_children())
    for item in items:
        ms = getattr(item, "markers", None)
        if ms is None:
            continue
        for m in [m for m in ms if text_of(m)]:
            ms.remove(m)
    r = float(rate)
    for m in markers:
        a, e = _frames(m.start, rate), _frames(m.end, rate)
        tl.tracks.markers.append(otio.schema.Marker(
            name=f"foley: {m.text}", marked_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(a, r), otio.opentime.RationalTime(max(MIN_LEN_FRAMES, e - a), r)),
            metadata={"melfoley": {"prompt": m.text}}))
