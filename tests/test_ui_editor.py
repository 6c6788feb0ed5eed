"""The panel as an editor's tool (issue 14), driven offscreen with the debug engine over the
corpus videos: the time-based timeline, the viewer, the transport, levels and placement, the
round trip of a foleyed edit, takes, many clips, docking and theme, undo, and errors."""

from __future__ import annotations

from ui_support import close_panel, edit, new_panel, panel, wait_preview  # noqa: F401, I001 - first: Qt platform, skips

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, Qt

from melfoley.ui.panel import FoleyPanel
from melfoley.ui.timeline_view import RULER, playback_take


def _generate(qtbot, panel, ids, **settings):
    for cid in ids:
        panel.session.update(cid, **settings)
    with qtbot.waitSignal(panel.generation_finished, timeout=60000) as fin:
        panel.generate(ids)
    assert fin.args[0].get("done") == ids, panel.status.text()


def test_timeline_is_the_edit_in_time(qtbot, panel, edit, tmp_path):
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    tv = panel.timeline
    kinds = [(lane.kind, lane.name) for lane in tv.data.lanes]
    assert kinds == [("picture", "V1"), ("audio", "A1 dialogue"), ("foley", "FOLEY V1")]
    pic = tv.data.lanes[0]
    assert pic.starts == pytest.approx([0.0, 2.0, 3.2, 4.2]) and pic.ends[0] == pytest.approx(1.6)
    assert panel.clip_at(1.8) is None  # the gap is a gap
    assert tv.data.markers and tv.data.markers[0][2] == "door knock"
    # click on a clip selects it; a rubber band selects what it crosses
    tv.fit()
    y = int(tv.lane_rects()[0][1].center().y())
    qtbot.mouseClick(tv, Qt.MouseButton.LeftButton, pos=QPoint(int(tv.x_of(2.5)), y))
    assert panel.current == "V1/2" and panel.selected == ["V1/2"]
    qtbot.mousePress(tv, Qt.MouseButton.LeftButton, pos=QPoint(int(tv.x_of(1.7)), y - 30))
    qtbot.mouseMove(tv, QPoint(int(tv.x_of(4.5)), y + 10))
    qtbot.mouseRelease(tv, Qt.MouseButton.LeftButton, pos=QPoint(int(tv.x_of(4.5)), y + 10))
    assert panel.selected == ["V1/2", "V1/3", "V1/4"]
    # zoom: keys, fit, zoom to selection
    fit = tv.px_per_s
    tv.setFocus()
    qtbot.keyClick(tv, Qt.Key.Key_Plus)
    assert tv.px_per_s == pytest.approx(fit * 1.5)
    qtbot.keyClick(tv, Qt.Key.Key_Z)
    assert tv.t0 < 2.0 + 0.1 and tv.t1() > 5.2 - 0.1 and tv.t1() - tv.t0 < 4.0
    qtbot.keyClick(tv, Qt.Key.Key_F)
    assert tv.px_per_s == pytest.approx(fit)
    # the foley lane draws each take at its true level: -20 dB of gain is a tenth of the height
    _generate(qtbot, panel, ["V1/0"], prompt="footsteps", takes=1)
    take = playback_take(s, "V1/0")
    lo, hi = tv.data.envelopes["V1/0"]
    assert max(hi.max(), -lo.min()) == pytest.approx(np.abs(take.audio).max(), rel=0.05)
    panel.clips.select_ids(["V1/0"])
    panel._on_settings({"gain_db": -20.0})
    lo2, hi2 = tv.data.envelopes["V1/0"]
    assert max(hi2.max(), -lo2.min()) == pytest.approx(max(hi.max(), -lo.min()) / 10, rel=0.05)
    # a ruler click moves the playhead (scrub)
    qtbot.mouseClick(tv, Qt.MouseButton.LeftButton, pos=QPoint(int(tv.x_of(0.8)), RULER // 2))
    assert panel.player.position() == pytest.approx(0.8, abs=2 / tv.px_per_s + 0.01)
    # the marker is edited on the timeline; the batch's job reads the new prompt for that range
    panel.edit_marker(0, "glass clink")
    assert tv.data.markers[0][2] == "glass clink"
    segs = s.job("V1/0").segments
    assert any(seg.prompt == "glass clink" for seg in segs) and not any(seg.prompt == "door knock" for seg in segs)


def test_viewer_timecode_hits_and_frames_at_the_size_shown(qtbot, panel, edit, tmp_path):
    panel.open_timeline(edit, output_dir=tmp_path / "out")
    wait_preview(qtbot, panel, "V1/0")
    v = panel.viewer
    assert v.timecode() == "01:00:00:00" and v.frame_number() == 0
    panel.player.load(np.zeros(22050 * 2, np.float32), 22050)
    panel.player.seek(0.52)
    assert v.timecode() == "01:00:00:13" and v.frame_number() == 13
    # the frame is decoded at the height the viewer shows, not blown up from the preview
    qtbot.waitUntil(lambda: v.sharp, timeout=20000)
    assert v._img.height() == v.wanted_size() and v._img.height() > panel.preview("V1/0").frames.shape[1]
    # hits: an energy curve with two bumps gives two marks
    from melfoley.ui.viewer import find_hits

    e = np.zeros(100)
    e[20:25] = 0.8
    e[70:75] = 0.6
    assert [round(t, 1) for t in find_hits(e, 1.0)] == [0.2, 0.7]


def test_transport_jkl_frames_loop_and_edit_playback(qtbot, panel, edit, tmp_path):
    panel.open_timeline(edit, output_dir=tmp_path / "out")
    wait_preview(qtbot, panel, "V1/0")
    _generate(qtbot, panel, ["V1/0", "V1/4"], prompt="footsteps", takes=1)
    panel.clips.select_ids(["V1/0"])
    p = panel.player
    panel.clips.setFocus()
    qtbot.keyClick(panel.clips, Qt.Key.Key_L)
    assert p.is_playing() and p.shuttle_rate() == 1.0
    qtbot.keyClick(panel.clips, Qt.Key.Key_L)
    assert p.shuttle_rate() == 2.0
    qtbot.keyClick(panel.clips, Qt.Key.Key_K)
    assert not p.is_playing()
    qtbot.keyClick(panel.clips, Qt.Key.Key_J)
    assert p.shuttle_rate() == -1.0
    qtbot.keyClick(panel.clips, Qt.Key.Key_K)
    p.seek(0.4)
    qtbot.keyClick(panel.clips, Qt.Key.Key_Right)
    assert p.position() == pytest.approx(0.44, abs=1e-3)  # one frame at 25 fps
    qtbot.keyClick(panel.clips, Qt.Key.Key_Left)
    qtbot.keyClick(panel.clips, Qt.Key.Key_Left)
    assert p.position() == pytest.approx(0.36, abs=1e-3)
    qtbot.keyClick(panel.clips, Qt.Key.Key_Home)
    assert p.position() == 0.0
    # I/O loop with pre- and post-roll
    p.seek(0.4)
    qtbot.keyClick(panel.clips, Qt.Key.Key_I)
    p.seek(0.8)
    qtbot.keyClick(panel.clips, Qt.Key.Key_O)
    panel.transport.preroll.setValue(0.2)
    assert (panel.loop_in, panel.loop_out) == (pytest.approx(0.4, abs=1e-3), pytest.approx(0.8, abs=1e-3))
    assert "loop 01:00:00:10" in panel.transport.range_label.text()
    assert p._range == (round(0.2 * 22050), round(0.8 * 22050))
    # across the edit: both clips' takes, at their record positions, in one buffer
    panel.transport.edit_box.setChecked(True)
    panel.transport.preroll.setValue(0.0)
    panel.loop_in = panel.loop_out = None
    panel._apply_range()
    panel.seek_edit(0.0)
    assert p.start() == 0.0 and p.duration() >= 5.0
    mix = p._audio
    for cid in ("V1/0", "V1/4"):
        st = panel.session.state(cid)
        placed = panel.mixer.placed(panel_lane(panel, cid))
        a = int(round(float(st.clip.record_offset) * 48000))
        assert np.allclose(mix[a:a + placed.shape[0]], placed, atol=1e-5)
    assert np.abs(mix[int(1.7 * 48000):int(1.9 * 48000)]).max() == 0.0  # the gap between the clips is silent
    panel.seek_edit(4.5)
    assert panel.viewer.record_in == pytest.approx(float(panel.session.state("V1/4").clip.record_in))


def panel_lane(panel, cid):
    from melfoley.ui.edit_mix import LaneItem
    from melfoley.ui.export import placement_of

    st = panel.session.state(cid)
    take = panel.takes.current_take() if cid == panel.current else playback_take(panel.session, cid)
    return LaneItem(cid, float(st.clip.record_offset), float(st.clip.duration), take, placement_of(st.settings))


def test_levels_gain_fades_nudge_one_path_and_clip_flag(qtbot, panel, edit, tmp_path):
    from melfoley.core.levels import place_take
    from melfoley.plugin.jobs import BatchDefaults, build_job
    from melfoley.plugin.stems import to_48k, write_stem
    from melfoley.plugin.timeline import find_picture_clips, read_timeline

    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    _generate(qtbot, panel, ["V1/4"], prompt="door slam", takes=1)
    panel.clips.select_ids(["V1/4"])
    panel.takes.keep(0)
    lv = panel.editor.levels
    lv.gain.setValue(-6.0)
    lv.fade_in.setValue(100)
    lv.nudge_frames.setValue(2)
    st = s.state("V1/4").settings
    assert (st.gain_db, st.fade_in, st.nudge) == (-6.0, 0.1, pytest.approx(0.08))
    assert "true peak" in lv.readout.text() and "WOULD CLIP" not in lv.readout.text()
    with qtbot.waitSignal(panel.exported, timeout=60000) as ex:
        panel.export(tmp_path / "out")
    stem = ex.args[0].stems[0]
    got, sr = sf.read(str(stem), dtype="float32")
    # what melfoley batch writes for the same clip settings: the same function, the same samples
    clip = next(c for c in find_picture_clips(read_timeline(ex.args[0].timeline)).clips if c.clip_id == "V1/4")
    job = build_job(clip, BatchDefaults())
    assert job.placement == {"gain_db": -6.0, "fade_in": 0.1, "nudge": pytest.approx(0.08)}
    take = s.state("V1/4").takes[0]
    ref = write_stem(tmp_path / "batch_stems", job, take=1, audio=take.audio, sample_rate=take.sample_rate,
                     seed=int(take.seed), control_dict=None, engine_info={}, show="x", project="x")
    want, _ = sf.read(str(ref.path), dtype="float32")
    assert np.array_equal(got, want)
    raw = to_48k(take.audio, take.sample_rate, clip.samples())
    assert np.abs(got[:int(0.08 * sr)]).max() < 1e-6  # nudged 2 frames later: silence first
    placed = place_take(raw, sr, gain_db=-6.0, fade_in=0.1, nudge=0.08)
    k = int(0.3 * sr)
    assert np.allclose(got[k:k + 1000], placed[k:k + 1000], atol=2e-4)  # -6 dB of the take, 24-bit
    # a take that would clip is flagged before export, and the export says so: the debug take
    # (about -34 dBTP) made 28 dB hotter, measured as the engine process measures, then +12 dB
    from melfoley.core.engine import Take
    from melfoley.ui.render import measure

    hot = take.audio * np.float32(10 ** (28 / 20))
    panel._on_takes_ready("V1/4", [Take(hot, take.sample_rate, take.control, take.seed,
                                        {**take.metadata, "levels": measure(hot, take.sample_rate)})])
    lv.gain.setValue(0.0)
    assert "WOULD CLIP" not in lv.readout.text()
    lv.gain.setValue(12.0)
    assert "WOULD CLIP" in lv.readout.text()
    qtbot.waitUntil(lambda: not panel.runner.is_busy("export"), timeout=10000)
    with qtbot.waitSignal(panel.exported, timeout=60000) as ex2:
        panel.export(tmp_path / "out")
    assert ex2.args[0].clipping == ["V1/4"] and "over the -1 dBTP ceiling" in ex2.args[0].text()


def test_reopen_foleyed_edit_plays_its_takes_and_reexport_replaces_own_tracks(qtbot, panel, edit, tmp_path):
    out = tmp_path / "out"
    s = panel.open_timeline(edit, output_dir=out)
    _generate(qtbot, panel, ["V1/0", "V1/4"], prompt="footsteps", takes=2)
    panel.clips.select_ids(["V1/0"])
    panel.takes.keep(1)
    with qtbot.waitSignal(panel.exported, timeout=60000) as ex:
        panel.export(out)
    first = ex.args[0].timeline
    assert first.name == "edit.foley.otio"
    again = FoleyPanel(engine="debug")
    qtbot.addWidget(again)
    s2 = again.open_timeline(first)
    assert s2.output_dir == out and s2.reopened == 2
    st = s2.state("V1/0")
    assert st.status == "done" and st.settings.kept == 0 and int(st.takes[0].seed) == 1
    # the reopened take plays without rendering (no generation job ran)
    again.clips.select_ids(["V1/0"])
    qtbot.waitUntil(lambda: again.player.duration() > 0, timeout=5000)
    assert not again.runner.is_busy("generation") and again.player.duration() == pytest.approx(1.6, abs=0.01)
    # the stem read back is the take at its own level (the level stage's gain undone)
    orig = s.state("V1/0").takes[1]
    from melfoley.core.audio import resample

    ref = resample(orig.audio, orig.sample_rate, 48000)[:48000]
    assert np.abs(st.takes[0].audio[2000:40000] - ref[2000:40000]).max() < 0.05 * max(1e-3, np.abs(ref).max())
    with qtbot.waitSignal(again.exported, timeout=60000) as ex2:
        again.export()
    second = ex2.args[0].timeline
    assert second == first and not (out / "edit.foley.foley.otio").exists()  # names never stack
    tl = otio.adapters.read_from_file(str(second))
    foley = [t for t in tl.audio_tracks() if t.name.startswith("FOLEY")]
    assert sum(len(list(t.find_clips())) for t in foley) == 2  # replaced, not stacked
    assert [t.name for t in tl.audio_tracks() if not t.name.startswith("FOLEY")] == ["A1 dialogue"]
    assert tl.metadata["melfoley"]["source_timeline"] == str(edit.resolve())  # the user's edit, not ours
    again.shutdown()


def test_takes_keep_is_explicit_ab_keeps_the_playhead_notes(qtbot, panel, edit, tmp_path):
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    _generate(qtbot, panel, ["V1/0"], prompt="footsteps", takes=3)
    panel.clips.select_ids(["V1/0"])
    qtbot.waitUntil(lambda: panel.takes.list.count() == 3)
    assert panel.takes.kept() is None and not any(
        panel.takes.list.item(i).text().startswith("\u2605") for i in range(3))
    assert "none kept" in panel.takes.hint.text()
    panel.takes.list.setCurrentRow(2)
    panel.player.play()
    panel.player.seek(0.9)
    before = panel.player.position()
    qtbot.keyClick(panel.clips, Qt.Key.Key_B)  # A/B: back to take 1, same playhead, still playing
    assert panel.takes.current() == 0 and panel.player.is_playing()
    assert panel.player.position() == pytest.approx(before, abs=0.1)
    assert np.array_equal(panel.player._audio, np.clip(s.state("V1/0").takes[0].audio, -1, 1))
    qtbot.keyClick(panel.clips, Qt.Key.Key_B)
    assert panel.takes.current() == 2
    panel.player.stop()
    panel.takes.note.setText("good heel, late toe")
    panel.takes.note.editingFinished.emit()
    seed = int(s.state("V1/0").takes[2].seed)
    assert s.state("V1/0").settings.note(seed) == "good heel, late toe"
    assert "good heel" in panel.takes.list.item(2).text()
    # each take's waveform is drawn at its level: a take 30 dB down lights fewer pixels
    from melfoley.ui.takes import wave_icon

    rng = np.random.default_rng(0)
    loud = wave_icon(rng.uniform(-0.9, 0.9, 4000).astype(np.float32)).toImage()
    quiet = wave_icon(rng.uniform(-0.03, 0.03, 4000).astype(np.float32)).toImage()

    def lit(img):
        return sum(img.pixelColor(10, y).green() > 120 for y in range(img.height()))

    assert lit(loud) > 4 * max(1, lit(quiet))


def test_many_clips_settings_copy_paste_default_prompt_and_generate_all(qtbot, panel, edit, tmp_path):
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    panel.clips.select_ids(["V1/0", "V1/2", "V1/4"])
    assert panel.editor.multi.isVisible() and "3 clips" in panel.editor.multi.text()
    panel.editor.prompt.setText("cloth rustle")
    panel.editor.prompt.editingFinished.emit()
    panel.editor.takes.setValue(2)
    assert [s.state(c).settings.prompt for c in ("V1/0", "V1/2", "V1/4")] == ["cloth rustle"] * 3
    assert [s.state(c).settings.takes for c in ("V1/0", "V1/2", "V1/4")] == [2] * 3
    # copy the settings of one clip, paste them on another
    panel.clips.select_ids(["V1/0"])
    panel.session.update("V1/0", seed=77)
    panel.copy_settings()
    panel.clips.select_ids(["V1/2"])
    panel.paste_settings()
    assert s.state("V1/2").settings.seed == 77
    # a clip with no event of its own uses the edit's default; none at all is not "failed"
    panel.clips.select_ids(["V1/2"])
    panel.push_settings({"V1/2": s.state("V1/2").settings.__class__(**{
        **s.state("V1/2").settings.__dict__, "prompt": ""})}, "clear")
    assert panel.generate(["V1/2"]) is None and "without a sound event" in panel.status.text()
    assert s.state("V1/2").status == "not generated"
    panel.set_default_prompt("footsteps on wood")
    assert s.prompt_of("V1/2") == "footsteps on wood" and s.job("V1/2").prompt == "footsteps on wood"
    # no layout jumps while generating: the viewer, the curve, the takes and the timeline stay put
    qtbot.wait(300)  # the layout settles after the edits above
    parts = (panel.viewer, panel.editor.curve, panel.takes.list, panel.timeline, panel.editor.levels)
    before = [w.geometry() for w in parts]
    during = []
    with qtbot.waitSignal(panel.generation_finished, timeout=60000) as fin:
        job = panel.generate(["V1/0", "V1/2"])
        job.signals.item_started.connect(lambda _cid: during.append([w.geometry() for w in parts]))
    assert fin.args[0]["done"] == ["V1/0", "V1/2"]
    qtbot.wait(100)
    assert during and all(g == before for g in during) and [w.geometry() for w in parts] == before
    kept = list(s.state("V1/0").takes)
    qtbot.waitUntil(lambda: not panel.runner.is_busy("generation"), timeout=10000)
    # Generate all leaves current clips alone and renders the rest
    with qtbot.waitSignal(panel.generation_finished, timeout=60000) as fin:
        panel.generate(None)
    assert fin.args[0]["done"] == ["V1/4"] and s.state("V1/0").takes == kept
    qtbot.waitUntil(lambda: not panel.runner.is_busy("generation"), timeout=10000)
    assert panel.generate(None) is None and "current clips left as they are" in panel.status.text()


def test_undo_redo_covers_every_edit(qtbot, panel, edit, tmp_path):
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    wait_preview(qtbot, panel, "V1/0")
    panel.editor.prompt.setText("glass break")
    panel.editor.prompt.editingFinished.emit()
    curve = panel.editor.curve
    n = curve.energy().size
    a, b = curve.point_for(n // 4, 0.9).toPoint(), curve.point_for(n // 2, 0.9).toPoint()
    qtbot.mousePress(curve, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(curve, pos=b)
    qtbot.mouseRelease(curve, Qt.MouseButton.LeftButton, pos=b)
    panel.editor.levels.gain.setValue(-3.0)
    panel.editor.levels.nudge_frames.setValue(1)
    st = s.state("V1/0").settings
    assert st.prompt == "glass break" and st.energy is not None and st.gain_db == -3.0 and st.nudge == 0.04
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # nudge
    assert s.state("V1/0").settings.nudge == 0.0 and panel.editor.levels.nudge_frames.value() == 0
    panel.undo_stack.undo()  # gain
    panel.undo_stack.undo()  # curve
    assert s.state("V1/0").settings.gain_db == 0.0 and s.state("V1/0").settings.energy is None
    assert not curve.is_edited()
    panel.undo_stack.undo()  # prompt
    assert s.state("V1/0").settings.prompt == "" and panel.editor.prompt.text() == ""
    panel.undo_stack.redo()
    panel.undo_stack.redo()
    assert s.state("V1/0").settings.prompt == "glass break" and curve.is_edited()
    _generate(qtbot, panel, ["V1/0"], prompt="glass break", takes=2)
    panel.clips.select_ids(["V1/0"])
    panel.takes.keep(1)
    assert s.state("V1/0").settings.kept == 1
    panel.undo_stack.undo()
    assert s.state("V1/0").settings.kept is None and panel.takes.kept() is None


def test_the_edit_default_event_reads_whole_at_every_dock_width(qtbot):
    panel = FoleyPanel(engine="debug")
    qtbot.addWidget(panel)
    panel.show()
    event = "footsteps on wooden floor"
    need = panel.default_prompt.fontMetrics().horizontalAdvance(event) + 16  # the frame and text margins
    for width in range(480, 1000, 20):  # the bar wraps differently at each width
        panel.resize(width, 900)
        qtbot.wait(5)
        assert panel.default_prompt.width() >= need, f"cut at a {width} px panel"


def test_docked_at_480px_reflows_and_reads_in_light_and_dark_hosts(qtbot, edit, tmp_path):
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QLabel, QMainWindow, QPushButton

    from melfoley.ui.window import dock

    for window_colour, text_colour in (("#f0f0f0", "#000000"), ("#2b2b2b", "#e0e0e0")):
        host = QMainWindow()
        qtbot.addWidget(host)
        host.setCentralWidget(QLabel("the host's own viewer"))
        pal = host.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(window_colour))
        pal.setColor(QPalette.ColorRole.WindowText, QColor(text_colour))
        host.setPalette(pal)
        panel = FoleyPanel(engine="debug")
        w = dock(panel, host)
        host.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, w)
        host.resizeDocks([w], [480], Qt.Orientation.Horizontal)
        host.resize(1200, 900)
        host.show()
        panel.open_timeline(edit, output_dir=tmp_path / f"out{window_colour[1:]}")
        qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=20000)
        qtbot.wait(50)
        assert panel.width() <= 480 and panel.minimumSizeHint().width() <= 480
        assert panel.bottom.orientation() == Qt.Orientation.Vertical  # the viewer above the controls
        img = panel.grab().toImage()
        checked = 0
        for label in panel.findChildren(QLabel) + panel.findChildren(QPushButton):
            if not label.isVisible() or not label.text().strip() or label.width() < 20 \
                    or label.visibleRegion().boundingRect() != label.rect():
                continue  # hidden, empty, or scrolled out of the dock
            top = label.mapTo(panel, QPoint(0, 0))
            lum = [img.pixelColor(top.x() + x, top.y() + y).lightness()
                   for x in range(0, min(label.width(), 200), 2) for y in range(0, label.height(), 2)
                   if 0 <= top.x() + x < img.width() and 0 <= top.y() + y < img.height()]
            if lum:
                checked += 1
                assert max(lum) - min(lum) > 90, f"{label.text()[:30]!r} unreadable on {window_colour}"
        assert checked >= 8  # the hints, the status line, the visible field labels and every button
        panel.session.dirty = False
        panel.shutdown()


def test_failed_preview_is_retried_after_engine_change_and_speaks_of_the_panel(qtbot, panel, edit, tmp_path):
    panel.open_timeline(edit, output_dir=tmp_path / "out")
    wait_preview(qtbot, panel, "V1/0")
    panel.editor.engine.setCurrentText("paper")  # no weights on this machine
    qtbot.waitUntil(lambda: ("V1/0", "paper") in panel.preview_errors, timeout=30000)
    msg = panel.preview_errors[("V1/0", "paper")]
    assert "--" not in msg and "weights" in msg.lower()
    assert "Weights folder" in panel.editor.curve._message
    assert not panel.clips.clip_model.get("V1/0").problem  # not marked undoable: it can be retried
    empty = tmp_path / "weights"
    empty.mkdir()
    panel.choose_weights(empty)  # the chooser, without its dialog: the preview is tried again
    qtbot.waitUntil(lambda: ("V1/0", "paper") in panel.preview_errors, timeout=30000)
    assert panel.engine_options["paper"] == {"weights": str(empty)}
    assert "--" not in panel.preview_errors[("V1/0", "paper")]
    panel.editor.engine.setCurrentText("debug")
    wait_preview(qtbot, panel, "V1/0")
    assert panel.preview("V1/0") is not None
