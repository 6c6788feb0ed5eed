"""The Nuke Studio / Hiero bridge against a MOCK of Hiero's Python API; melfoley's side for real.

Hiero cannot run here, so the host API is mocked: the few ``hiero.core`` / ``hiero.ui`` /
``hiero.exporters`` objects the bridge touches, modelled on Foundry's Hiero Python
documentation. A ``Sequence`` (``framerate()``, ``timecodeStart()``, ``videoTracks()``,
``audioTracks()``, ``addTrack``), video ``TrackItem``\\ s over rendered media, and recording
``AudioTrack`` / ``TrackItem`` / ``Clip`` / ``MediaSource`` / ``Bin`` classes that check what the
documentation requires: a source set before the ranges, inclusive timeline and source in/out
frames relative to the sequence start, media paths that exist, balanced ``beginUndo`` /
``endUndo``. Hiero's OTIO export is mocked as its export system: ``TimelineProcessorPreset``,
``OTIOExportPreset``, ``ItemWrapper`` and ``taskRegistry.createAndExecuteProcessor``, which
checks the preset, its export template and root, the wrapped sequence and the synchronous
flag, and writes what Foundry's exporter writes (record frames from the sequence start, the
start timecode as the global start, source ranges in the clip's timecode, file URLs), with
the real ``opentimelineio``. The exported OTIO is read by melfoley's own reader, and the batch
runs in a real child process (debug engine) from the docked panel, offscreen, in a
QMainWindow with its own palette standing in for the host.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import types
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from melfoley.plugin.hosts import hiero as hiero_bridge
from melfoley.plugin.hosts import install
from melfoley.plugin.hosts.bridge import BridgeError
from melfoley.plugin.timeline import find_picture_clips, read_timeline
from test_timeline_media import render_media

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
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
    return otio.opentime.RationalTime(value, float(rate))


def hiero_otio(seq) -> "otio.schema.Timeline":
    """What Hiero's OTIO exporter writes for ``seq`` (per Foundry's documentation of its output):
    video then audio tracks, gaps from the sequence's frame 0, the start timecode as the global
    start, each clip's source range in its media's timecode and the media's available range."""
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


def four_clips(folder: Path) -> Sequence:
    media = render_media(folder, "plate.mp4", Fraction(RATE), 3.0)
    return Sequence([VideoItem("one", media, 0, 20, 0), VideoItem("two", media, 25, 15, 30),
                     VideoItem("three", media, 45, 20, 10), VideoItem("four", media, 70, 20, 40)])


@pytest.fixture(params=[True], ids=["hiero-exporter"])
def host_has_exporter(request):
    return request.param


@pytest.fixture
def sequence(tmp_path, monkeypatch, host_has_exporter):
    seq = four_clips(tmp_path)
    for name in [m for m in sys.modules if m == "hiero" or m.startswith("hiero.")]:
        monkeypatch.delitem(sys.modules, name)
    for name, mod in hiero_modules(seq, exporter=host_has_exporter).items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("MELFOLEY_HOST_OUT", str(tmp_path / "jobs"))
    return seq


@pytest.mark.parametrize("host_has_exporter", [True, False], ids=["hiero-exporter", "fallback-writer"],
                         indirect=True)
def test_the_exported_sequence_reads_back_frame_exact(tmp_path, sequence, host_has_exporter):
    path, by = hiero_bridge.export_sequence(sequence, tmp_path / "reel2.otio")
    assert by == (hiero_bridge.BY_HIERO if host_has_exporter else hiero_bridge.BY_MELFOLEY)
    runs = sys.modules["hiero.core"].taskRegistry.runs
    if host_has_exporter:  # one synchronous 'Process as Sequence' run of an OTIO task on the sequence
        assert runs == [{"preset": hiero_bridge.PRESET_NAME, "root": tmp_path.as_posix(), "paths": ["reel2.otio"],
                         "sequence": "Reel 2", "synchronous": True, "submission": None}]
    else:
        assert runs == []
    src = read_timeline(path)
    scan = find_picture_clips(src)
    assert src.rate == Fraction(RATE) and src.global_start.value == START
    got = [(c.name, c.record.start_time.value, c.record.duration.value, c.media_window(3.0)) for c in scan.clips]
    assert got == [("one", 0, 20, (0.0, 0.8)), ("two", 25, 15, (1.2, 0.6)), ("three", 45, 20, (0.4, 0.8)),
                   ("four", 70, 20, (1.6, 0.8))]  # source frames from the media's start, whatever its timecode
    assert all(c.media_path == Path(tmp_path, "plate.mp4") and not c.media_problem for c in scan.clips)


def test_a_failed_hiero_export_is_a_clear_error_not_a_stale_file(tmp_path, monkeypatch):
    seq = four_clips(tmp_path)
    for name, mod in hiero_modules(seq, registry=TaskRegistry(task_fails=True)).items():
        monkeypatch.setitem(sys.modules, name, mod)
    stale = tmp_path / "reel2.otio"
    stale.write_text("{}")  # an earlier export's file must not pass for this one
    with pytest.raises(BridgeError, match=r"Hiero's OTIO export of sequence 'Reel 2' wrote no readable .*Export Queue"):
        hiero_bridge.export_sequence(seq, stale)
    assert not stale.exists()


#: stand-ins for the host's palettes (Nuke Studio's default dark one, and a light one)
HOST_PALETTES = {
    "dark": {"Window": "#323232", "WindowText": "#cfcfcf", "Base": "#1f1f1f", "AlternateBase": "#2a2a2a",
             "Text": "#dcdcdc", "Button": "#3d3d3d", "ButtonText": "#dcdcdc", "Highlight": "#f7931e",
             "HighlightedText": "#101010"},
    "light": {"Window": "#ececec", "WindowText": "#1e1e1e", "Base": "#ffffff", "AlternateBase": "#f4f4f4",
              "Text": "#111111", "Button": "#e0e0e0", "ButtonText": "#111111", "Highlight": "#2f6fd0",
              "HighlightedText": "#ffffff"},
}


def host_palette(kind: str):
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    for role, colour in HOST_PALETTES[kind].items():
        pal.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    return pal


@pytest.fixture
def palette_kind():
    return "dark"


@pytest.fixture
def host_window(tmp_path, qapp, palette_kind):
    from PySide6.QtWidgets import QLabel, QMainWindow

    from melfoley.plugin.hosts.hiero_panel import HieroFoleyPanel, dock_into

    record = install.install("hiero", home=tmp_path / "home", platform="linux").record
    win = QMainWindow()  # stands in for Nuke Studio: its own palette, the panel docked right
    win.setPalette(host_palette(palette_kind))
    win.setCentralWidget(QLabel("the host's timeline"))
    win.resize(1200, 700)
    panel = HieroFoleyPanel(record=str(record))
    dock = dock_into(win, panel)
    yield win, dock, panel
    if panel.child is not None:
        panel.child.cancel()
    win.close()


@pytest.mark.parametrize("palette_kind", ["dark", "light"], indirect=True)
def test_docked_panel_follows_the_host_palette_at_480_px(sequence, host_window, palette_kind):
    from PySide6.QtGui import QPalette

    win, dock, panel = host_window
    want = HOST_PALETTES[palette_kind]
    assert dock.width() == 480 and panel.styleSheet() == ""  # no sheet of its own: the host's palette rules
    assert panel.minimumSizeHint().width() <= 480, panel.minimumSizeHint()
    role = QPalette.ColorRole
    for widget, colour_role, key in ((panel, panel.backgroundRole(), "Window"),
                                     (panel.status, role.WindowText, "WindowText"),
                                     (panel.run_button, role.ButtonText, "ButtonText"),
                                     (panel.prompt, role.Base, "Base"), (panel.failures, role.Text, "Text")):
        assert widget.palette().color(colour_role).name() == want[key], (widget, key)
    for w in (panel.run_button, panel.cancel_button, panel.edit_button, panel.back_button, panel.prompt,
              panel.engine, panel.sequence_label):
        right = w.mapTo(panel, w.rect().topRight()).x()
        assert 0 < right <= panel.width(), (w, right)
    assert "Reel 2" in panel.sequence_label.text()


def _finished(panel):
    return panel.last_result is not None or panel.status.text().startswith("error")


def test_docked_panel_round_trip_writes_audio_tracks_back(sequence, host_window, qtbot):
    win, dock, panel = host_window
    assert dock.width() == 480  # layout and palette: test_docked_panel_follows_the_host_palette_at_480_px
    panel.engine.setCurrentText("debug")
    panel.takes.setValue(2)
    assert panel.start()
    qtbot.waitUntil(lambda: _finished(panel), timeout=90_000)
    assert panel.last_result is not None, panel.status.text()
    assert panel.last_result["ok"] and "stems placed" in panel.status.text()
    take1 = [t for t in sequence.audio if " v00" not in t.name()]
    alt = [t for t in sequence.audio if " v002" in t.name()]
    assert take1 and alt and all(t.enabled for t in take1) and not any(t.enabled for t in alt)
    items = sorted((i.t[0], i.t[1], i.s[0]) for t in take1 for i in t.placed)
    assert items == [(0, 19, 0), (25, 39, 0), (45, 64, 0), (70, 89, 0)]  # sequence frames, inclusive outs
    proj = sequence.project()
    assert proj.undo == [("begin", "melfoley Foley tracks"), ("end",)]
    (melfoley_bin,) = proj.bin.bins()
    assert melfoley_bin.name() == "melfoley" and len(melfoley_bin.items) == 8  # 4 clips x 2 takes
    side = json.loads(Path(take1[0].placed[0].clip.source.path).with_suffix(".json").read_text())
    assert side["settings"]["takes"] == 2 and side["settings"]["engine"] == "debug"
    # the sequence went out through Hiero's own OTIO exporter, and the job log and status say so
    (run,) = sys.modules["hiero.core"].taskRegistry.runs
    assert run["sequence"] == "Reel 2" and run["synchronous"] and run["paths"] == ["Reel 2.otio"]
    assert panel.exported_by == hiero_bridge.BY_HIERO and hiero_bridge.BY_HIERO in panel.status.text()
    log = (Path(run["root"]) / "melfoley.log").read_text()
    assert f"exported to {run['root']}/Reel 2.otio by {hiero_bridge.BY_HIERO}" in log


def test_cancel_stops_the_child_and_writes_nothing_back(sequence, host_window, qtbot):
    win, dock, panel = host_window
    panel.engine.setCurrentText("debug")
    events = []
    panel.relay.event.connect(events.append)
    assert panel.start()
    qtbot.waitUntil(lambda: any(e.get("event") == "progress" for e in events), timeout=60_000)
    panel.cancel()
    qtbot.waitUntil(lambda: _finished(panel), timeout=60_000)
    assert panel.last_result["interrupted"] and panel.status.text().startswith("stopped")
    assert sequence.audio == [] and panel.run_button.isEnabled()


def test_each_export_of_the_foley_panel_is_written_back_replacing_the_last(sequence, host_window, qtbot):
    from melfoley.ui.panel import FoleyPanel

    win, dock, panel = host_window
    panel.engine.setCurrentText("debug")
    panel.open_full_panel()
    proc = panel.panel_proc
    (run,) = sys.modules["hiero.core"].taskRegistry.runs  # the sequence went out through Hiero's exporter
    job = Path(run["root"])
    try:
        assert proc is not None and panel.watch_timer.isActive() and "written back" in panel.status.text()
        qtbot.wait(2000)
        assert proc.poll() is None, "melfoley's panel process did not stay up"
        # the artist's Export in that panel: the same export code, on the same edit, into its default folder
        fp = FoleyPanel(engine="debug")
        qtbot.addWidget(fp)
        assert fp.open_timeline(job / "Reel 2.otio", output_dir=job / "panel") is not None
        fp.set_default_prompt("footsteps")
        with qtbot.waitSignal(fp.generation_finished, timeout=120_000):
            assert fp.generate(None) is not None, fp.status.text()
        with qtbot.waitSignal(fp.exported, timeout=60_000):
            fp.export(job / "panel")
        qtbot.waitUntil(lambda: bool(sequence.audio), timeout=10_000)
        first = list(sequence.audio)
        frames = sorted((i.t[0], i.t[1]) for t in first for i in t.placed)
        assert frames == [(0, 19), (25, 39), (45, 64), (70, 89)], frames  # sequence frames, inclusive outs
        assert "from the Foley panel's export Reel 2.foley.otio" in panel.status.text()
        # a second export supersedes the first: its tracks go, in the same undo step as the new ones
        with qtbot.waitSignal(fp.exported, timeout=60_000):
            fp.export(job / "panel")
        qtbot.waitUntil(lambda: sequence.audio and sequence.audio[0] is not first[0], timeout=10_000)
        assert len(sequence.audio) == len(first) and not set(map(id, first)) & set(map(id, sequence.audio))
        assert sequence.project().undo == [("begin", "melfoley Foley tracks"), ("end",)] * 2
        fp.session.dirty = False
        fp.shutdown()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the panel and its engine process: their own group
        proc.wait(timeout=30)
    qtbot.waitUntil(lambda: not panel.watch_timer.isActive(), timeout=5_000)  # the panel closed: watching stops


def test_hiero_without_nuke_adds_the_panel_to_its_window_manager(sequence, tmp_path, qapp):
    from melfoley.plugin.hosts import hiero_panel

    added = []
    sys.modules["hiero.ui"].windowManager = lambda: types.SimpleNamespace(addWindow=added.append)
    record = install.install("hiero", home=tmp_path / "home", platform="linux").record
    widget = hiero_panel.entry({}, str(record))  # no nukescripts here: Hiero's own window manager
    assert added == [widget] and isinstance(widget, hiero_panel.HieroFoleyPanel)
    assert "Reel 2" in widget.sequence_label.text() and widget.record == str(record)


def test_importing_the_panel_loads_no_torch():
    """The first condition for docking melfoley's own panel in a host's Python: importing it pulls
    no torch (nor av). It still needs PySide6, numpy and opentimelineio; see docs/hosts.md for
    why the panel itself is not docked yet (constructing it and holding takes load torch)."""
    import subprocess

    code = ("import sys, melfoley.ui.panel\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'av', 'numpy', 'opentimelineio', "
            "'PySide6'}))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[-2] == "['PySide6', 'numpy', 'opentimelineio']", res.stdout
