"""The DaVinci Resolve bridge against a mock of Resolve's scripting API; melfoley's side runs for real.

Resolve cannot run here, so its objects are mocked after the scripting README (18.5+): the mock
records every call and checks what the documentation requires of it - ``Timeline.Export(path,
resolve.EXPORT_OTIO, resolve.EXPORT_NONE)``, ``MediaPool.AddSubFolder(folder, name)``,
``ImportMedia([paths])`` of existing files, ``Timeline.AddTrack("audio", "mono")`` and clipInfo
dicts for ``AppendToTimeline`` (``mediaPoolItem`` from the import, integer ``startFrame`` <=
``endFrame`` inclusive, an existing ``trackIndex``, absolute ``recordFrame``, ``mediaType`` 2).
Its Export writes a real OTIO edit over rendered media; the batch then runs in a real child process
(``melfoley host run``, debug engine) and the stems it writes are what gets imported.
"""

from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from melfoley.plugin.hosts import install, resolve
from melfoley.plugin.hosts.bridge import BridgeError, Settings
from test_timeline_media import clip, edit, gap, render_media

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
RATE = Fraction(25)
START = 90000  # 01:00:00:00 at 25 fps
EXPORT_OTIO, EXPORT_NONE = 17, 0


class Item:
    def __init__(self, path):
        self.path = path

    def GetClipProperty(self, key):  # noqa: N802 - Resolve's API
        return self.path if key == "File Path" else None


class Folder:
    def __init__(self, name):
        self.name, self.subs = name, []

    def GetName(self):  # noqa: N802
        return self.name

    def GetSubFolderList(self):  # noqa: N802
        return list(self.subs)


class MediaPool:
    def __init__(self, timeline):
        self.root, self.timeline, self.calls, self.items = Folder("Master"), timeline, [], []

    def GetRootFolder(self):  # noqa: N802
        return self.root

    def AddSubFolder(self, parent, name):  # noqa: N802
        assert isinstance(parent, Folder) and isinstance(name, str) and name
        self.calls.append(("AddSubFolder", parent.name, name))
        f = Folder(name)
        parent.subs.append(f)
        return f

    def SetCurrentFolder(self, folder):  # noqa: N802
        self.calls.append(("SetCurrentFolder", folder.name))
        return True

    def ImportMedia(self, paths):  # noqa: N802
        assert isinstance(paths, list) and all(isinstance(p, str) for p in paths)
        for p in paths:
            assert Path(p).is_absolute() and Path(p).is_file() and p.endswith(".wav"), p
        self.calls.append(("ImportMedia", list(paths)))
        new = [Item(p) for p in paths]
        self.items += new
        return new

    def AppendToTimeline(self, infos):  # noqa: N802
        for info in infos:
            assert set(info) == {"mediaPoolItem", "startFrame", "endFrame", "trackIndex", "recordFrame", "mediaType"}
            assert info["mediaPoolItem"] in self.items
            for key in ("startFrame", "endFrame", "trackIndex", "recordFrame", "mediaType"):
                assert type(info[key]) is int, (key, info[key])
            assert 0 <= info["startFrame"] <= info["endFrame"]
            assert info["mediaType"] in (1, 2)
            assert 1 <= info["trackIndex"] <= self.timeline.audio_tracks
            assert info["recordFrame"] >= self.timeline.GetStartFrame()
        self.calls.append(("AppendToTimeline", infos))
        return [object() for _ in infos]


class Timeline:
    def __init__(self, name, exported: Path):
        self.name, self.exported, self.calls = name, exported, []
        self.audio_tracks = 1  # A1 exists (the production sound)
        self.names, self.disabled = {}, set()

    def GetName(self):  # noqa: N802
        return self.name

    def GetStartFrame(self):  # noqa: N802
        return START

    def Export(self, path, kind, subtype):  # noqa: N802
        self.calls.append(("Export", path, kind, subtype))
        assert kind == EXPORT_OTIO and subtype == EXPORT_NONE and path.endswith(".otio")
        shutil.copyfile(self.exported, path)
        return True

    def AddTrack(self, kind, sub=None):  # noqa: N802
        assert kind == "audio" and sub == "mono"
        self.audio_tracks += 1
        self.calls.append(("AddTrack", kind, sub))
        return True

    def GetTrackCount(self, kind):  # noqa: N802
        assert kind == "audio"
        return self.audio_tracks

    def SetTrackName(self, kind, index, name):  # noqa: N802
        assert kind == "audio" and 1 <= index <= self.audio_tracks
        self.names[index] = name
        return True

    def SetTrackEnable(self, kind, index, enabled):  # noqa: N802
        assert kind == "audio" and enabled is False
        self.disabled.add(index)
        return True


class Project:
    def __init__(self, timeline):
        self.timeline, self.pool = timeline, MediaPool(timeline)

    def GetName(self):  # noqa: N802
        return "Show 12"

    def GetCurrentTimeline(self):  # noqa: N802
        return self.timeline

    def GetMediaPool(self):  # noqa: N802
        return self.pool


class Resolve:
    EXPORT_OTIO, EXPORT_NONE = EXPORT_OTIO, EXPORT_NONE

    def __init__(self, project, version=(18, 6, 4, 6, "")):
        self.project, self.version = project, list(version)

    def GetVersion(self):  # noqa: N802
        return self.version

    def GetProjectManager(self):  # noqa: N802
        return self

    def GetCurrentProject(self):  # noqa: N802
        return self.project


@pytest.fixture
def resolve_setup(tmp_path, monkeypatch):
    media = render_media(tmp_path, "shot.mp4", RATE, 3.0)
    items = [clip("one", media, 0, 20, RATE, media_frames=75), gap(5, RATE),
             clip("two", media, 20, 15, RATE, media_frames=75, meta={"takes": 2, "prompt": "door slam"}),
             clip("lost", tmp_path / "gone.mp4", 0, 10, RATE)]
    src = edit(tmp_path / "resolve_export.otio", [items], RATE, start_frames=START, name="Reel 1")
    tl = otio.adapters.read_from_file(str(src))  # the artist's own audio track, named like ours
    own = otio.schema.Track(name="FOLEY room tone", kind=otio.schema.TrackKind.Audio)
    own.append(clip("room tone", media, 0, 40, RATE, media_frames=75))
    tl.tracks.append(own)
    otio.adapters.write_to_file(tl, str(src))
    monkeypatch.setenv("MELFOLEY_HOST_OUT", str(tmp_path / "jobs"))
    record = install.install("resolve", home=tmp_path / "home", platform="linux").record
    timeline = Timeline("Reel 1", src)
    return Resolve(Project(timeline)), timeline, str(record)


@pytest.fixture
def export(resolve_setup):
    return resolve_setup[1].exported


def test_round_trip_places_every_stem_at_its_record_frame(resolve_setup):
    app, timeline, record = resolve_setup
    said = []
    result = resolve.foley_current_timeline(app, record, settings=Settings(engine="debug"), say=said.append)
    pool = app.project.pool
    # exported exactly once, into the job folder named after project and timeline
    (_, path, kind, sub), = timeline.calls[:1]
    assert Path(path).parent.parts[-2:] == ("Show 12", "Reel 1")
    assert ("AddSubFolder", "Master", "melfoley") in pool.calls and ("SetCurrentFolder", "melfoley") in pool.calls
    # the missing clip is reported, the others are placed
    assert [f["name"] for f in result["failed"]] == ["lost"]
    assert any("FAILED" in s and "lost" in s and "media not found" in s for s in said)
    appended = [i for c in pool.calls if c[0] == "AppendToTimeline" for i in c[1]]
    assert len(appended) == 3  # one, two take 1, two take 2 (the artist's "FOLEY room tone" is left alone)
    by_stem = {Path(i["mediaPoolItem"].path).name: i for i in appended}
    for name, info in by_stem.items():
        side = json.loads(Path(info["mediaPoolItem"].path).with_suffix(".json").read_text())
        frames = int(round(side["audio"]["samples"] * 25 / 48000))
        assert info["endFrame"] - info["startFrame"] + 1 == frames
        # the stem's own BWF TimeReference (samples since midnight) is the record frame, exactly
        assert side["audio"]["time_reference"] == info["recordFrame"] * 48000 // 25 - side["audio"].get(
            "handle_samples", 0)
        assert info["mediaType"] == 2
    assert sorted(i["recordFrame"] for i in appended) == [START, START + 25, START + 25]
    # take 1 tracks play, the alternate take's track is added but disabled
    assert timeline.audio_tracks == 1 + len({i["trackIndex"] for i in appended})
    assert all(timeline.names[i].startswith("FOLEY") for i in timeline.names)
    alternates = {i for i, n in timeline.names.items() if " v002" in n}
    assert alternates and timeline.disabled == alternates
    assert len(result["placed"]) == 3


def test_what_to_open_is_said_in_one_line(resolve_setup):
    app, timeline, record = resolve_setup
    app.project.timeline = None
    with pytest.raises(BridgeError, match="no timeline is open"):
        resolve.foley_current_timeline(app, record)
    app.version = [18, 1, 0, 0, ""]
    with pytest.raises(BridgeError, match="needs Resolve 18.5"):
        resolve.foley_current_timeline(app, record)
    with pytest.raises(BridgeError, match="run 'melfoley host install' again"):
        resolve.foley_current_timeline(app, record + ".moved")


def test_progress_window_lists_failed_clips_and_cancel_stops_at_the_next_clip(export, tmp_path, qtbot):
    """The window Resolve's job shows (melfoley's Qt, since Resolve's Python has none), offscreen."""
    from melfoley.plugin.hosts.progress_window import ProgressWindow
    from melfoley.plugin.hosts.run import batch_config

    win = ProgressWindow(batch_config(export, tmp_path / "w1", engine="debug"), title="Reel 1")
    qtbot.addWidget(win)
    win.show()
    win.start()
    qtbot.waitUntil(lambda: win.report is not None or win.error is not None, timeout=60_000)
    assert win.report is not None and not win.report.interrupted
    assert win.failures.isVisible() and "lost" in win.failures.toPlainText() and "media not found" in \
        win.failures.toPlainText()
    assert win.cancel_button.text() == "Close" and win.isVisible()  # stays open: there is something to read
    win.cancel()
    assert not win.isVisible()

    stopping = ProgressWindow(batch_config(export, tmp_path / "w2", engine="debug"), title="Reel 1")
    qtbot.addWidget(stopping)
    stopping.relay.progress.connect(lambda ev: stopping.cancel() if ev["done"] == 0 else None)  # asked at once
    stopping.show()
    stopping.start()
    qtbot.waitUntil(lambda: stopping.report is not None, timeout=60_000)
    assert stopping.report.interrupted and "stopped" in stopping.status.text()
    assert json.loads((tmp_path / "w2" / "resolve_export.foley.otio").read_text())["metadata"]["melfoley"][
        "complete"] is False  # a valid partial edit is left


def test_window_run_without_failures_closes_by_itself(tmp_path, qapp):
    from melfoley.plugin.hosts.progress_window import run_with_window
    from melfoley.plugin.hosts.run import batch_config

    media = render_media(tmp_path, "shot.mp4", RATE, 3.0)
    src = edit(tmp_path / "short.otio", [[clip("one", media, 0, 20, RATE, media_frames=75)]], RATE)
    report = run_with_window(batch_config(src, tmp_path / "out", engine="debug"), title="short")
    assert report.ok and report.count("done") == 1 and qapp.activeModalWidget() is None
