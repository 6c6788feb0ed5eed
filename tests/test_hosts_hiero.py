"""The Nuke Studio / Hiero bridge against a mock of ``hiero.core`` / ``hiero.ui``; melfoley's side for real.

Hiero cannot run here, so the few objects the bridge touches are mocked after Hiero's Python API:
a ``Sequence`` (``framerate()``, ``timecodeStart()``, ``videoTracks()``, ``addTrack``), video
``TrackItem``\\ s over rendered media, and recording ``AudioTrack`` / ``TrackItem`` / ``Clip`` /
``MediaSource`` / ``Bin`` classes that check what the documentation requires: a source set before
the ranges, inclusive timeline and source in/out frames relative to the sequence start, media
paths that exist, balanced ``beginUndo`` / ``endUndo``. The exported OTIO is read by melfoley's
own reader, and the batch runs in a real child process (debug engine) from the docked panel,
offscreen, in a QMainWindow with its own palette standing in for the host.
"""

from __future__ import annotations

import json
import os
import sys
import types
from fractions import Fraction
from pathlib import Path

import pytest

from melfoley.plugin.hosts import hiero as hiero_bridge
from melfoley.plugin.hosts import install
from melfoley.plugin.timeline import find_picture_clips, read_timeline
from test_timeline_media import render_media

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
RATE = 25
START = 90000


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

    def duration(self):
        return self.frames


class Clip:
    def __init__(self, source):
        assert isinstance(source, MediaSource)
        self.source = source

    def mediaSource(self):  # noqa: N802
        return self.source

    def framerate(self):
        return TimeBase(RATE)


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


class VideoItem:
    def __init__(self, name, media, t_in, frames, src_in, speed=1.0):
        self._name, self.media, self.t_in, self.frames, self.src_in, self.speed = name, media, t_in, frames, src_in, speed

    def name(self):
        return self._name

    def timelineIn(self):  # noqa: N802
        return self.t_in

    def timelineOut(self):  # noqa: N802
        return self.t_in + self.frames - 1

    def sourceIn(self):  # noqa: N802
        return self.src_in

    def playbackSpeed(self):  # noqa: N802
        return self.speed

    def isEnabled(self):  # noqa: N802
        return True

    def source(self):
        return Clip(MediaSource(self.media, 75))


class TrackItem:
    def __init__(self, name):
        self.name, self.clip, self.t, self.s = name, None, [None, None], [None, None]

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
        self._name, self.items, self.enabled = name, [], True

    def name(self):
        return self._name

    def createTrackItem(self, name):  # noqa: N802
        return TrackItem(name)

    def addItem(self, item):  # noqa: N802
        assert all(v is not None and type(v) is int for v in item.t + item.s), (item.t, item.s)
        assert item.t[1] >= item.t[0] >= 0 and item.s[1] - item.s[0] == item.t[1] - item.t[0]
        self.items.append(item)

    def setEnabled(self, on):  # noqa: N802
        self.enabled = on


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

    def addTrack(self, track):  # noqa: N802
        assert isinstance(track, AudioTrack)
        self.audio.append(track)


@pytest.fixture
def sequence(tmp_path, monkeypatch):
    media = render_media(tmp_path, "plate.mp4", Fraction(RATE), 3.0)
    seq = Sequence([VideoItem("one", media, 0, 20, 0), VideoItem("two", media, 25, 15, 30),
                    VideoItem("three", media, 45, 20, 10), VideoItem("four", media, 70, 20, 40)])
    core = types.ModuleType("hiero.core")
    core.__dict__.update(Bin=Bin, BinItem=BinItem, Clip=Clip, MediaSource=MediaSource, AudioTrack=AudioTrack)
    ui = types.ModuleType("hiero.ui")
    ui.activeSequence = lambda: seq
    pkg = types.ModuleType("hiero")
    pkg.core, pkg.ui = core, ui
    for name, mod in (("hiero", pkg), ("hiero.core", core), ("hiero.ui", ui)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("MELFOLEY_HOST_OUT", str(tmp_path / "jobs"))
    return seq


def test_the_exported_sequence_reads_back_frame_exact(tmp_path, sequence):
    path = hiero_bridge.export_sequence(sequence, tmp_path / "reel2.otio")
    src = read_timeline(path)
    scan = find_picture_clips(src)
    assert src.rate == Fraction(RATE) and src.global_start.value == START
    got = [(c.name, c.record.start_time.value, c.record.duration.value, c.source.start_time.value)
           for c in scan.clips]
    assert got == [("one", 0, 20, 0), ("two", 25, 15, 30), ("three", 45, 20, 10), ("four", 70, 20, 40)]
    assert all(c.media_path == Path(tmp_path, "plate.mp4") and not c.media_problem for c in scan.clips)


@pytest.fixture
def host_window(tmp_path, qapp):
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QLabel, QMainWindow

    from melfoley.plugin.hosts.hiero_panel import HieroFoleyPanel, dock_into

    record = install.install("hiero", home=tmp_path / "home", platform="linux").record
    win = QMainWindow()  # stands in for Nuke Studio: its own (grey-blue) palette, the panel docked right
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#3a3f4b"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#e6e6e6"))
    win.setPalette(pal)
    win.setCentralWidget(QLabel("the host's timeline"))
    win.resize(1200, 700)
    panel = HieroFoleyPanel(record=str(record))
    dock = dock_into(win, panel)
    yield win, dock, panel
    if panel.child is not None:
        panel.child.cancel()
    win.close()


def _finished(panel):
    return panel.last_result is not None or panel.status.text().startswith("error")


def test_docked_panel_round_trip_writes_audio_tracks_back(sequence, host_window, qtbot):
    win, dock, panel = host_window
    # docked at 480 px, in the host's palette (no style sheet of its own), everything inside the dock
    assert dock.width() == 480 and panel.styleSheet() == ""
    assert panel.palette().color(panel.backgroundRole()).name() == "#3a3f4b"
    for w in (panel.run_button, panel.cancel_button, panel.edit_button, panel.back_button, panel.prompt):
        right = w.mapTo(panel, w.rect().topRight()).x()
        assert 0 < right <= panel.width(), (w, right)
    panel.engine.setCurrentText("debug")
    panel.takes.setValue(2)
    assert panel.start()
    qtbot.waitUntil(lambda: _finished(panel), timeout=90_000)
    assert panel.last_result is not None, panel.status.text()
    assert panel.last_result["ok"] and "stems placed" in panel.status.text()
    take1 = [t for t in sequence.audio if " v00" not in t.name()]
    alt = [t for t in sequence.audio if " v002" in t.name()]
    assert take1 and alt and all(t.enabled for t in take1) and not any(t.enabled for t in alt)
    items = sorted((i.t[0], i.t[1], i.s[0]) for t in take1 for i in t.items)
    assert items == [(0, 19, 0), (25, 39, 0), (45, 64, 0), (70, 89, 0)]  # sequence frames, inclusive outs
    proj = sequence.project()
    assert proj.undo == [("begin", "melfoley Foley tracks"), ("end",)]
    (melfoley_bin,) = proj.bin.bins()
    assert melfoley_bin.name() == "melfoley" and len(melfoley_bin.items) == 8  # 4 clips x 2 takes
    side = json.loads(Path(take1[0].items[0].clip.source.path).with_suffix(".json").read_text())
    assert side["settings"]["takes"] == 2 and side["settings"]["engine"] == "debug"


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


def test_hiero_without_nuke_adds_the_panel_to_its_window_manager(sequence, tmp_path, qapp):
    from melfoley.plugin.hosts import hiero_panel

    added = []
    sys.modules["hiero.ui"].windowManager = lambda: types.SimpleNamespace(addWindow=added.append)
    record = install.install("hiero", home=tmp_path / "home", platform="linux").record
    widget = hiero_panel.entry({}, str(record))  # no nukescripts here: Hiero's own window manager
    assert added == [widget] and isinstance(widget, hiero_panel.HieroFoleyPanel)
    assert "Reel 2" in widget.sequence_label.text() and widget.record == str(record)
