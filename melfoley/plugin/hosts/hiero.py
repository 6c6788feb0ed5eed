"""Nuke Studio / Hiero (16+): the active sequence out as OTIO, the Foley tracks back in as audio tracks.

Host side: standard library and the host's ``hiero`` package only (imported when called, so
this module loads anywhere).

**Out.** Through Hiero's own OTIO exporter when the host has it (Nuke Studio / Hiero ship
``hiero.exporters.FnOTIOExportTask``, the "OTIO" preset of *Process as Sequence*, with the
``opentimelineio`` package in their Python): a ``TimelineProcessorPreset`` whose export
template is one ``OTIOExportPreset`` path, run on ``hiero.core.ItemWrapper(sequence)`` with
``hiero.core.taskRegistry.createAndExecuteProcessor(..., synchronous=True)``. Only a host
without that exporter (or without ``opentimelineio``) gets melfoley's fallback writer,
:func:`sequence_otio`, which builds the OTIO JSON with :mod:`json` from the documented
sequence API (``Sequence.videoTracks()``, ``TrackItem.timelineIn()/timelineOut()``
(inclusive), ``sourceIn()``, ``playbackSpeed()``,
``source().mediaSource().fileinfos()[0].filename()``, ``Sequence.framerate()``,
``timecodeStart()``). :func:`export_sequence` says which of the two wrote the file.

Write-back, inside one undo step (``Project.beginUndo`` / ``endUndo``): each stem becomes a
``hiero.core.Clip`` of a ``MediaSource`` in a ``melfoley`` bin, and each ``FOLEY ...`` track
a new ``hiero.core.AudioTrack`` (``Sequence.addTrack``) whose ``TrackItem``\\ s
(``createTrackItem``, ``setSource``, ``setTimelineIn/Out``, ``setSourceIn/Out``,
``addItem``) sit at the record frames, relative to the sequence start like every Hiero
timeline frame; alternate-take tracks are disabled. A write-back that supersedes an earlier
one (a new export from the Foley panel) removes that one's tracks (``Sequence.removeTrack``)
in the same undo step.
"""

from __future__ import annotations

import json
from pathlib import Path

from .bridge import BridgeError, FoleyEdit

BIN_NAME = "melfoley"
PRESET_NAME = "melfoley OTIO"  # the processor preset built for each export (not added to the artist's presets)
BY_HIERO = "Hiero's OTIO exporter (hiero.exporters.FnOTIOExportTask)"
BY_MELFOLEY = "melfoley's fallback OTIO writer (this host has no OTIO exporter)"


def _rt(value, rate) -> dict:
    return {"OTIO_SCHEMA": "RationalTime.1", "rate": float(rate), "value": float(value)}


def _range(start, duration, rate, dur_rate=None) -> dict:
    return {"OTIO_SCHEMA": "TimeRange.1", "start_time": _rt(start, rate), "duration": _rt(duration, dur_rate or rate)}


def _gap(frames: int, rate: float) -> dict:
    return {"OTIO_SCHEMA": "Gap.1", "name": "", "metadata": {}, "source_range": _range(0, frames, rate),
            "effects": [], "markers": [], "enabled": True}


def _media(item) -> tuple[str | None, float | None, int | None]:
    """(file, media rate, media length in frames) of a track item, or Nones when it has no file."""
    try:
        clip = item.source()
        source = clip.mediaSource()
        infos = source.fileinfos()
        path = infos[0].filename() if infos else None
        rate = clip.framerate().toFloat()
        length = int(source.duration())
    except (AttributeError, IndexError, TypeError):  # a nested sequence, a generator, offline media
        return None, None, None
    return path, rate, length


def _clip(item, rate: float) -> tuple[dict, int]:
    t_in, t_out = int(item.timelineIn()), int(item.timelineOut())
    frames = t_out - t_in + 1
    path, src_rate, length = _media(item)
    src_rate = src_rate or rate
    if path:
        ref = {"OTIO_SCHEMA": "ExternalReference.1", "name": "", "metadata": {},
               "target_url": Path(path).as_uri() if Path(path).is_absolute() else path,
               "available_range": _range(0, length, src_rate) if length else None}
    else:
        ref = {"OTIO_SCHEMA": "MissingReference.1", "name": "", "metadata": {}, "available_range": None}
    speed = float(item.playbackSpeed()) if hasattr(item, "playbackSpeed") else 1.0
    effects = [] if speed == 1.0 else [{"OTIO_SCHEMA": "LinearTimeWarp.1", "name": "", "metadata": {},
                                        "effect_name": "LinearTimeWarp", "time_scalar": speed}]
    clip = {"OTIO_SCHEMA": "Clip.2", "name": item.name(), "metadata": {"hiero": {"timeline_in": t_in}},
            "source_range": _range(int(item.sourceIn()), frames, src_rate, rate), "effects": effects,
            "markers": [], "enabled": bool(item.isEnabled()),
            "media_references": {"DEFAULT_MEDIA": ref}, "active_media_reference_key": "DEFAULT_MEDIA"}
    return clip, frames


def sequence_otio(seq) -> dict:
    """The sequence's video tracks as an OTIO document (dict), record frames kept exactly."""
    rate = float(seq.framerate().toFloat())
    tracks = []
    for track in seq.videoTracks():
        children, cursor = [], 0
        for item in sorted(track.items(), key=lambda i: int(i.timelineIn())):
            t_in = int(item.timelineIn())
            if t_in < cursor:  # overlaps only come from transitions: the later clip starts at the cut
                continue
            if t_in > cursor:
                children.append(_gap(t_in - cursor, rate))
            clip, frames = _clip(item, rate)
            children.append(clip)
            cursor = t_in + frames
        tracks.append({"OTIO_SCHEMA": "Track.1", "name": track.name(), "kind": "Video", "metadata": {},
                       "enabled": bool(track.isEnabled()), "source_range": None, "effects": [], "markers": [],
                       "children": children})
    return {"OTIO_SCHEMA": "Timeline.1", "name": seq.name(), "metadata": {"hiero": {"sequence": seq.name()}},
            "global_start_time": _rt(int(seq.timecodeStart()), rate),
            "tracks": {"OTIO_SCHEMA": "Stack.1", "name": "tracks", "metadata": {}, "source_range": None,
                       "effects": [], "markers": [], "enabled": True, "children": tracks}}


def hiero_otio_exporter():
    """(TimelineProcessorPreset, OTIOExportPreset) from the host, or None where it has no OTIO exporter."""
    try:
        from hiero.exporters.FnOTIOExportTask import OTIOExportPreset
        from hiero.exporters.FnTimelineProcessor import TimelineProcessorPreset
    except ImportError:  # not Hiero, a Hiero before its OTIO exporter, or no opentimelineio in its Python
        return None
    return TimelineProcessorPreset, OTIOExportPreset


def _export_with_hiero(seq, path: Path, classes) -> None:
    import hiero.core as hc

    processor_preset, otio_preset = classes
    task = otio_preset("", {})  # the exporter's own defaults (comp renders linked, soft effects kept)
    preset = processor_preset(PRESET_NAME, {"exportTemplate": ((path.name, task),),
                                            "exportRoot": path.parent.as_posix()})
    try:
        hc.taskRegistry.createAndExecuteProcessor(preset, [hc.ItemWrapper(seq)], synchronous=True)
    except (RuntimeError, ValueError) as exc:
        raise BridgeError(f"Hiero's OTIO export of sequence '{seq.name()}' failed: {exc}") from exc
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BridgeError(f"Hiero's OTIO export of sequence '{seq.name()}' wrote no readable {path} ({exc}); "
                          "see Window > Export Queue for the task's error, then try again") from exc


def export_sequence(seq, path: Path) -> tuple[Path, str]:
    """Write ``seq`` as OTIO at ``path``; returns the path and which exporter wrote it."""
    if seq is None:
        raise BridgeError("no sequence is active; open one in the timeline and try again")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a stale file must not pass for this export
    classes = hiero_otio_exporter()
    if classes is not None:
        _export_with_hiero(seq, path, classes)
        return path, BY_HIERO
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(sequence_otio(seq), indent=1), encoding="utf-8")
    tmp.replace(path)
    return path, BY_MELFOLEY


def _bin(project):
    import hiero.core as hc

    root = project.clipsBin()
    for b in root.bins():
        if b.name() == BIN_NAME:
            return b
    b = hc.Bin(BIN_NAME)
    root.addItem(b)
    return b


def write_back(seq, edit: FoleyEdit, *, replace=()) -> tuple[list, list]:
    """New audio tracks holding the stems at their record frames, in one undo step; the tracks
    in ``replace`` (an earlier write-back this one supersedes) are removed in the same step.
    Returns (track items made, audio tracks made)."""
    import hiero.core as hc

    project = seq.project()
    made, tracks = [], []
    project.beginUndo("melfoley Foley tracks")
    try:
        for old in replace:
            if old in seq.audioTracks():
                seq.removeTrack(old)
        folder = _bin(project)
        clips = {}
        for track in edit.tracks:
            if not track.items:
                continue
            audio = hc.AudioTrack(track.name)
            seq.addTrack(audio)
            tracks.append(audio)
            for it in track.items:
                key = str(it.path)
                if key not in clips:
                    if not Path(key).exists():
                        raise BridgeError(f"stem {key} is missing; run the Foley again")
                    clips[key] = hc.Clip(hc.MediaSource(key))
                    folder.addItem(hc.BinItem(clips[key]))
                ti = audio.createTrackItem(it.name)
                ti.setSource(clips[key])
                rec = it.record_frame - edit.start_frame  # Hiero's timeline frames start at 0
                ti.setTimelineIn(rec)
                ti.setTimelineOut(rec + it.frames - 1)
                ti.setSourceIn(it.source_in)
                ti.setSourceOut(it.source_in + it.frames - 1)
                audio.addItem(ti)
                made.append(ti)
            if not track.enabled:
                audio.setEnabled(False)
    finally:
        project.endUndo()
    return made, tracks
