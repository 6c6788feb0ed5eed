"""A MOCK of the few objects of Hiero's Python API the Nuke Studio / Hiero bridge touches.

Modelled on Foundry's Hiero Python documentation (see tests/test_hosts_hiero.py, which says
what each mock checks). Standard library only (``opentimelineio`` is imported where the mocked
OTIO exporter writes), so a process playing the host can load it by path without melfoley.
"""

from __future__ import annotations

import types
from pathlib import Path

RATE = 25
START = 90000
MEDIA_TC = 86400  # the plate's start timecode (01:00:00:00 at 24 fps read at 25): source frames count from it


class TimeBase:
    def __init__(self, fps):
        self.fps = fps

    def toFloat(self):  # noqa: N802 - Hiero's API
        return float(self.fps)


class MediaSource:
    def __init__(self, path, frames=None):
        assert Path(path).is_file(), path
        self.path, self.frames = str(path), frames

    def fileinfos(self):
        return [types.SimpleNamespace(filename=lambda p=self.path: p)]

    def firstpath(self):
        return self.path

    def singleFile(self):  # noqa: N802
        return True

    def duration(self):
        return self.frames

    def timecodeStart(self):  # noqa: N802
        return MEDIA_TC if self.frames else 0


class Clip:
    def __init__(self, source):
        assert isinstance(source, MediaSource)
        self.source = source

    def name(self):
        return Path(self.source.path).stem

    def mediaSource(self):  # noqa: N802
        return self.source

    def framerate(self):
        return TimeBase(RATE)

    def timecodeStart(self):  # noqa: N802
        return self.source.timecodeStart()


class BinItem:
    def __init__(self, item):
        self.item = item


class Bin:
    def __init__(self, name):
        self._name, self.items = name, []

    def name(self):
        return self._name

    def bins(self):
        return [i for i in self.items if isinstance(i, Bin)]

    def addItem(self, item):  # noqa: N802
        assert isinstance(item, (Bin, BinItem))
        self.items.append(item)


class _Item:
    """What video and audio track items share: Hiero's read-only accessors (inclusive outs)."""

    def name(self):
        return self._name

    def timelineIn(self):  # noqa: N802
        return self.t[0]

    def timelineOut(self):  # noqa: N802
        return self.t[1]

    def duration(self):
        return self.t[1] - self.t[0] + 1

    def sourceIn(self):  # noqa: N802
        return self.s[0]

    def playbackSpeed(self):  # noqa: N802
        return self.speed

    def isEnabled(self):  # noqa: N802
        return True

    def source(self):
        return self.clip


class VideoItem(_Item):
    def __init__(self, name, media, t_in, frames, src_in, speed=1.0):
        self._name, self.media, self.speed = name, media, speed
        self.t, self.s = [t_in, t_in + frames - 1], [src_in, src_in + frames - 1]
        self.clip = Clip(MediaSource(media, 75))


class TrackItem(_Item):
    def __init__(self, name):
        self._name, self.clip, self.t, self.s, self.speed = name, None, [None, None], [None, None], 1.0

    def setSource(self, clip):  # noqa: N802
        assert isinstance(clip, Clip)
        self.clip = clip

    def _ranged(self):
        assert self.clip is not None, "Hiero wants the source set before the ranges"

    def setTimelineIn(self, f):  # noqa: N802
        self._ranged()
        self.t[0] = f

    def setTimelineOut(self, f):  # noqa: N802
        self._ranged()
        self.t[1] = f

    def setSourceIn(self, f):  # noqa: N802
        self._ranged()
        self.s[0] = f

    def setSourceOut(self, f):  # noqa: N802
        self._ranged()
        self.s[1] = f


class AudioTrack:
    def __init__(self, name):
        self._name, self.placed, self.enabled = name, [], True

    def name(self):
        return self._name

    def createTrackItem(self, name):  # noqa: N802
        return TrackItem(name)

    def addItem(self, item):  # noqa: N802
        assert all(v is not None and type(v) is int for v in item.t + item.s), (item.t, item.s)
        assert item.t[1] >= item.t[0] >= 0 and item.s[1] - item.s[0] == item.t[1] - item.t[0]
        self.placed.append(item)

    def items(self):
        return sorted(self.placed, key=lambda i: i.t[0])

    def setEnabled(self, on):  # noqa: N802
        self.enabled = on

    def isEnabled(self):  # noqa: N802
        return self.enabled


class VideoTrack:
    def __init__(self, name, items):
        self._name, self._items = name, items

    def name(self):
        return self._name

    def items(self):
        return list(self._items)

    def isEnabled(self):  # noqa: N802
        return True


class Project:
    def __init__(self):
        self.bin, self.undo = Bin("Sequences"), []

    def name(self):
        return "Show 12"

    def clipsBin(self):  # noqa: N802
        return self.bin

    def beginUndo(self, name):  # noqa: N802
        self.undo.append(("begin", name))

    def endUndo(self):  # noqa: N802
        self.undo.append(("end",))


class Sequence:
    def __init__(self, items):
        self.video = [VideoTrack("Video 1", items)]
        self.audio, self._project = [], Project()

    def name(self):
        return "Reel 2"

    def project(self):
        return self._project

    def framerate(self):
        return TimeBase(RATE)

    def timecodeStart(self):  # noqa: N802
        return START

    def videoTracks(self):  # noqa: N802
        return self.video

    def audioTracks(self):  # noqa: N802
        return self.audio

    def addTrack(self, track):  # noqa: N802
        assert isinstance(track, AudioTrack)
        self.audio.append(track)

    def removeTrack(self, track):  # noqa: N802
        assert track in self.audio, "removeTrack of a track that is not in the sequence"
        self.audio.remove(track)


# ---------------------------------------------------------------- Hiero's export system (mocked)
class ItemWrapper:
    def __init__(self, item):
        self.item = item

    def sequence(self):
        return self.item if isinstance(self.item, Sequence) else None

    def trackItem(self):  # noqa: N802
        return None


class OTIOExportPreset:
    """hiero.exporters.FnOTIOExportTask.OTIOExportPreset: a sequence task that writes one .otio."""

    def __init__(self, name, properties):
        self._name, self._properties = name, {"writeCompRenderPaths": True, "includeEffects": True, **properties}

    def properties(self):
        return self._properties


class TimelineProcessorPreset:
    """hiero.exporters.FnTimelineProcessor.TimelineProcessorPreset ('Process as Sequence')."""

    def __init__(self, name, properties):
        self._name = name
        self._properties = {"versionIndex": 1, "versionPadding": 2, "exportTemplate": (),
                            "exportRoot": "{projectroot}", "inOutTrim": False, "startFrameIndex": 1,
                            "startFrameSource": "Sequence", **properties}

    def name(self):
        return self._name

    def properties(self):
        return self._properties


def _rt(value, rate):
    import opentimelineio as otio

    return otio.opentime.RationalTime(value, float(rate))


def hiero_otio(seq) -> "otio.schema.Timeline":
    """What Hiero's OTIO exporter writes for ``seq`` (per Foundry's documentation of its output):
    video then audio tracks, gaps from the sequence's frame 0, the start timecode as the global
    start, each clip's source range in its media's timecode and the media's available range."""
    import opentimelineio as otio

    rate = seq.framerate().toFloat()
    tl = otio.schema.Timeline(name=seq.name(), global_start_time=_rt(seq.timecodeStart(), rate))
    tl.metadata["nuke"] = {"version": "16.0v1 (mock)"}
    for track in seq.videoTracks() + seq.audioTracks():
        kind = "Video" if isinstance(track, VideoTrack) else "Audio"
        out, cursor = otio.schema.Track(name=track.name(), kind=kind), 0
        for item in sorted(track.items(), key=lambda i: i.timelineIn()):
            if item.timelineIn() > cursor:
                out.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                    _rt(0, rate), _rt(item.timelineIn() - cursor, rate))))
            clip = item.source()
            media, src_rate = clip.mediaSource(), clip.framerate().toFloat()
            ref = otio.schema.ExternalReference(
                target_url=Path(media.firstpath()).as_uri(),
                available_range=otio.opentime.TimeRange(_rt(media.timecodeStart(), src_rate),
                                                        _rt(media.duration() or item.duration(), src_rate)))
            oc = otio.schema.Clip(name=item.name(), media_reference=ref, source_range=otio.opentime.TimeRange(
                _rt(clip.timecodeStart() + item.sourceIn(), src_rate), _rt(item.duration(), rate)))
            if item.playbackSpeed() != 1.0:
                oc.effects.append(otio.schema.LinearTimeWarp(time_scalar=item.playbackSpeed()))
            out.append(oc)
            cursor = item.timelineOut() + 1
        tl.tracks.append(out)
    return tl


class TaskRegistry:
    """hiero.core.taskRegistry: records each processor run and checks its arguments."""

    def __init__(self, *, task_fails=False):
        self.runs, self.task_fails = [], task_fails

    def createAndExecuteProcessor(self, preset, items, submissionName=None, synchronous=False):  # noqa: N802
        assert isinstance(preset, TimelineProcessorPreset), "a 'Process as Sequence' preset runs sequence tasks"
        template, root = preset.properties()["exportTemplate"], preset.properties()["exportRoot"]
        assert isinstance(template, tuple) and template, template
        assert all(isinstance(t, OTIOExportPreset) and isinstance(rel, str) for rel, t in template), template
        assert "{" not in root and Path(root).is_absolute(), f"export root {root!r} is not a folder"
        assert len(items) == 1 and isinstance(items[0], ItemWrapper) and items[0].sequence() is not None, items
        self.runs.append({"preset": preset.name(), "root": root, "paths": [rel for rel, _ in template],
                          "sequence": items[0].sequence().name(), "synchronous": synchronous,
                          "submission": submissionName})
        if not synchronous or self.task_fails:
            return  # queued (the file comes later), or the task set its error in the Export Queue
        for rel, _task in template:
            assert "{" not in rel.replace("{ext}", ""), f"token in {rel!r} this mock does not resolve"
            out = Path(root, rel.replace("{ext}", "otio"))
            out.parent.mkdir(parents=True, exist_ok=True)
            import opentimelineio as otio

            otio.adapters.write_to_file(hiero_otio(items[0].sequence()), str(out))


def hiero_modules(seq, *, exporter=True, registry=None) -> dict:
    """The mocked ``hiero`` package for sys.modules; ``exporter=False`` is a host without Hiero's
    OTIO exporter (or without opentimelineio in its Python)."""
    core = types.ModuleType("hiero.core")
    core.__dict__.update(Bin=Bin, BinItem=BinItem, Clip=Clip, MediaSource=MediaSource, AudioTrack=AudioTrack,
                         ItemWrapper=ItemWrapper, taskRegistry=registry or TaskRegistry())
    ui = types.ModuleType("hiero.ui")
    ui.activeSequence = lambda: seq
    pkg = types.ModuleType("hiero")
    pkg.__path__ = []  # a package, as in the host
    pkg.core, pkg.ui = core, ui
    mods = {"hiero": pkg, "hiero.core": core, "hiero.ui": ui}
    if exporter:
        ex = types.ModuleType("hiero.exporters")
        ex.__path__ = []
        task = types.ModuleType("hiero.exporters.FnOTIOExportTask")
        task.OTIOExportPreset = OTIOExportPreset
        proc = types.ModuleType("hiero.exporters.FnTimelineProcessor")
        proc.TimelineProcessorPreset = TimelineProcessorPreset
        ex.FnOTIOExportTask, ex.FnTimelineProcessor, pkg.exporters = task, proc, ex
        mods.update({"hiero.exporters": ex, "hiero.exporters.FnOTIOExportTask": task,
                     "hiero.exporters.FnTimelineProcessor": proc})
    return mods
