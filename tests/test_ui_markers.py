"""``foley:`` markers edited on the timeline (issue 14, point 7): added (M at the playhead, a
double-click or the right-click menu on the marker row), dragged, retexted, deleted; every
change undoable; stored on the edit's timeline where the plugin layer reads prompt markers,
so the saved edit gives ``melfoley batch`` the same prompt ranges the panel renders."""

from __future__ import annotations

from ui_support import edit, panel  # noqa: F401, I001 - first: Qt platform, skips

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from melfoley.plugin.jobs import BatchDefaults, build_job
from melfoley.plugin.timeline import find_picture_clips, read_timeline
from melfoley.ui.timeline_view import RULER, MARKER_ROW


def _answer_dialog(text):
    """Type ``text`` into the next input dialog and press OK (as the artist would)."""
    def go():
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, QInputDialog):
            return QTimer.singleShot(50, go)
        dlg.setTextValue(text)
        dlg.accept()
    QTimer.singleShot(50, go)


def _segments(path, cid):
    clip = next(c for c in find_picture_clips(read_timeline(path)).clips if c.clip_id == cid)
    return [(round(float(s.start), 3), round(float(s.end), 3), s.prompt)
            for s in build_job(clip, BatchDefaults(prompt="footsteps")).segments]


def test_markers_move_add_retext_delete_undo_and_batch_reads_them(qtbot, panel, edit, tmp_path):
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    panel.set_default_prompt("footsteps")
    tv = panel.timeline
    tv.fit()
    assert [tuple(m) for m in s.markers] == [(pytest.approx(0.48), pytest.approx(0.88), "door knock")]
    # drag the marker 0.4 s later with the mouse: it moves by whole frames, its length kept
    y = RULER + MARKER_ROW // 2
    x0 = int(tv.x_of(0.68))
    qtbot.mousePress(tv, Qt.MouseButton.LeftButton, pos=QPoint(x0, y))
    qtbot.mouseMove(tv, QPoint(x0 + int(0.2 * tv.px_per_s), y))
    qtbot.mouseMove(tv, QPoint(x0 + int(0.4 * tv.px_per_s), y))
    assert tv.marker_span(0)[0] == pytest.approx(0.88, abs=0.05)  # drawn where the drag has it
    qtbot.mouseRelease(tv, Qt.MouseButton.LeftButton, pos=QPoint(x0 + int(0.4 * tv.px_per_s), y))
    m = s.markers[0]
    assert m.start == pytest.approx(0.88, abs=0.05) and m.end - m.start == pytest.approx(0.4, abs=1e-6)
    assert round(m.start * 25, 6) == round(m.start * 25)  # on a frame
    knock = [g for g in s.job("V1/0").segments if g.prompt == "door knock"]
    assert len(knock) == 1 and float(knock[0].start) == pytest.approx(m.start, abs=1e-6)
    panel.undo_stack.undo()
    assert s.markers[0].start == pytest.approx(0.48)
    panel.undo_stack.redo()
    assert s.markers[0].start == pytest.approx(m.start)
    # M adds a marker at the playhead (the dialog asks for its sound event)
    panel.transport.edit_box.setChecked(True)  # across the edit: the playhead goes anywhere
    panel.seek_edit(4.6)
    panel.timeline.setFocus()
    _answer_dialog("glass clink")
    qtbot.keyClick(panel.timeline, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: len(s.markers) == 2, timeout=5000)
    added = next(x for x in s.markers if x.text == "glass clink")
    assert added.start == pytest.approx(4.6, abs=0.02) and added.end == pytest.approx(5.6, abs=0.02)
    assert [g.prompt for g in s.job("V1/4").segments] == ["footsteps", "glass clink"]
    # the right-click menu on the marker row offers add / edit / delete
    ev_pos = QPoint(int(tv.x_of(added.start + 0.5)), y)
    tv.contextMenuEvent(_context_event(tv, ev_pos))
    assert [a.text() for a in tv._menu.actions()] == ["Add foley: marker here", "Edit marker text\u2026",
                                                       "Delete marker"]
    tv._menu.close()
    # retext (double-click opens the same dialog)
    i = s.markers.index(added)
    _answer_dialog("glass shatter")
    qtbot.mouseDClick(tv, Qt.MouseButton.LeftButton, pos=ev_pos)
    qtbot.waitUntil(lambda: any(x.text == "glass shatter" for x in s.markers), timeout=5000)
    assert tv.data.markers[i][2] == "glass shatter"
    # saved: the plugin layer (what melfoley batch builds its jobs with) reads the same markers
    saved = panel.save_settings(tmp_path / "saved.otio")
    assert _segments(saved, "V1/4")[-1][2] == "glass shatter"
    assert _segments(saved, "V1/4")[-1][0] == pytest.approx(0.4, abs=0.02)  # 4.6 s is 0.4 s into V1/4
    assert [g for g in _segments(saved, "V1/0") if g[2] == "door knock"][0][0] == pytest.approx(m.start, abs=1e-3)
    assert _segments(saved, "V1/4") == [(round(float(g.start), 3), round(float(g.end), 3), g.prompt)
                                        for g in s.job("V1/4").segments]
    # and `melfoley batch` on the saved edit renders those ranges (its stems' sidecars say so)
    import json
    from fractions import Fraction

    from melfoley.plugin.cli import main

    main(["batch", str(saved), "-o", str(tmp_path / "batch"), "--engine", "debug", "--takes", "1", "--prompt",
          "footsteps", "--quiet"])  # not 0: the edit's "lost shot" has no media (that clip fails alone)
    docs = {d["clip"]["id"]: d for d in (json.loads(f.read_text()) for f in (tmp_path / "batch").rglob("*.json"))
            if "clip" in d}
    segs = [(round(float(Fraction(g["start"])), 3), g["prompt"]) for g in docs["V1/4"]["settings"]["segments"]]
    assert segs == [(a, t) for a, _b, t in _segments(saved, "V1/4")] and segs[-1][1] == "glass shatter"
    # the edit reopens with the markers where they were left, once each
    s2 = panel.open_timeline(saved, output_dir=tmp_path / "out2")
    assert [(round(x.start, 3), x.text) for x in s2.markers] == [(round(m.start, 3), "door knock"),
                                                                 (round(added.start, 3), "glass shatter")]
    # Delete removes the marker clicked; undo brings it back
    tv.fit()
    qtbot.mouseClick(tv, Qt.MouseButton.LeftButton, pos=QPoint(int(tv.x_of(m.start + 0.2)), y))
    assert tv.selected_marker == 0
    qtbot.keyClick(tv, Qt.Key.Key_Delete)
    assert [x.text for x in s2.markers] == ["glass shatter"]
    assert not any(g.prompt == "door knock" for g in s2.job("V1/0").segments)
    panel.undo_stack.undo()
    assert [x.text for x in s2.markers] == ["door knock", "glass shatter"]


def _context_event(widget, pos):
    from PySide6.QtGui import QContextMenuEvent

    return QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, widget.mapToGlobal(pos))


def test_a_moved_marker_makes_its_clips_takes_stale_and_generation_follows_it(qtbot, panel, edit, tmp_path):
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    s.update("V1/4", prompt="footsteps", takes=1)
    panel.add_marker(4.6, 5.2, "glass clink")
    with qtbot.waitSignal(panel.generation_finished, timeout=60000) as fin:
        panel.generate(["V1/4"])
    assert fin.args[0].get("done") == ["V1/4"], panel.status.text()
    take = s.state("V1/4").takes[0]
    # rendered in the engine process with the panel's marker: two segments, the marker's second
    assert take.metadata.get("segments") == ["footsteps", "glass clink"]
    assert s.state("V1/4").status == "done"
    i = [x.text for x in s.markers].index("glass clink")
    panel.move_marker(i, 4.8, 5.2)
    assert s.state("V1/4").status == "stale" and s.state("V1/0").status == "not generated"
    assert panel.clips.clip_model.get("V1/4").status == "stale"
    panel.undo_stack.undo()
    assert s.state("V1/4").status == "done"
    # a marker over another clip leaves this one current; with an I/O range set, M covers it
    panel.loop_in, panel.loop_out = 0.2, 0.6
    _answer_dialog("cloth")
    panel.add_marker_at_playhead()
    cloth = next(x for x in s.markers if x.text == "cloth")
    assert (cloth.start, cloth.end) == (pytest.approx(0.2), pytest.approx(0.6))
    assert s.state("V1/4").status == "done"
