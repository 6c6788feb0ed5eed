"""The panel's building blocks driven as real widgets (pytest-qt, offscreen platform)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from melfoley.core.engine import Take  # noqa: E402
from melfoley.core.control import QCDControl  # noqa: E402
from melfoley.ui import curve_ops  # noqa: E402
from melfoley.ui.curve_editor import CurveEditor  # noqa: E402
from melfoley.ui.prompt import PromptEdit, load_vocabulary  # noqa: E402
from melfoley.ui.takes import TakesList  # noqa: E402


# ---------------------------------------------------------------------------- pure curve edits
def test_draw_segment_is_a_straight_stroke_and_leaves_the_rest():
    e = np.full(100, 0.2, np.float32)
    out = curve_ops.draw_segment(e, 10, 0.0, 20, 1.0)
    assert out[10] == pytest.approx(0.0) and out[20] == pytest.approx(1.0)
    assert out[15] == pytest.approx(0.5)
    assert np.all(out[:10] == 0.2) and np.all(out[21:] == 0.2)
    assert np.all(e == 0.2)  # input untouched
    # reversed stroke gives the same line
    assert np.allclose(curve_ops.draw_segment(e, 20, 1.0, 10, 0.0), out)


def test_drag_point_moves_the_point_and_falls_off():
    e = np.full(200, 0.3, np.float32)
    out = curve_ops.drag_point(e, 100, 0.9, radius=10)
    assert out[100] == pytest.approx(0.9)
    assert 0.3 < out[105] < 0.9
    assert out[120] == pytest.approx(0.3) and out[80] == pytest.approx(0.3)


def test_smooth_and_scale_act_on_the_range_only():
    rng = np.random.default_rng(0)
    e = rng.uniform(0, 1, 300).astype(np.float32)
    sm = curve_ops.smooth(e, 100, 200, width=9)
    assert np.array_equal(sm[:100], e[:100]) and np.array_equal(sm[200:], e[200:])
    assert np.std(np.diff(sm[110:190])) < 0.5 * np.std(np.diff(e[110:190]))
    sc = curve_ops.scale(e, 50, 60, 0.5)
    assert np.allclose(sc[50:60], e[50:60] * 0.5) and np.array_equal(sc[60:], e[60:])
    assert curve_ops.scale(e, 0, 300, 10.0).max() <= 1.0


def test_resample_and_envelope():
    assert curve_ops.resample([0, 1], 5).tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    audio = np.sin(np.linspace(0, 40 * np.pi, 10000)).astype(np.float32)
    lo, hi = curve_ops.envelope(audio, 50)
    assert lo.shape == hi.shape == (50,)
    assert np.all(hi >= lo) and hi.max() > 0.99 and lo.min() < -0.99


# ---------------------------------------------------------------------------- curve editor
@pytest.fixture
def editor(qtbot):
    w = CurveEditor()
    qtbot.addWidget(w)
    w.resize(600, 240)
    w.show()
    predicted = np.full(200, 0.4, np.float32)
    w.set_curve(predicted, predicted, duration=2.0)
    w.set_motion(np.abs(np.sin(np.linspace(0, 6, 50))))
    return w


def test_editor_pen_stroke_changes_the_curve_and_emits(editor, qtbot):
    with qtbot.waitSignal(editor.edited, timeout=1000) as sig:
        a, b = editor.point_for(50, 0.9).toPoint(), editor.point_for(80, 0.9).toPoint()
        qtbot.mousePress(editor, Qt.MouseButton.LeftButton, pos=a)
        qtbot.mouseMove(editor, pos=QPoint((a.x() + b.x()) // 2, a.y()))
        qtbot.mouseMove(editor, pos=b)
        qtbot.mouseRelease(editor, Qt.MouseButton.LeftButton, pos=b)
    curve = sig.args[0]
    assert curve[55:78].mean() == pytest.approx(0.9, abs=0.02)
    assert curve[150] == pytest.approx(0.4)
    assert editor.is_edited()
    editor.undo()
    assert not editor.is_edited()


def test_editor_select_scale_smooth_reset(editor, qtbot):
    editor.set_tool("select")
    a, b = editor.point_for(100, 0.5).toPoint(), editor.point_for(150, 0.5).toPoint()
    qtbot.mousePress(editor, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(editor, pos=b)
    qtbot.mouseRelease(editor, Qt.MouseButton.LeftButton, pos=b)
    lo, hi = editor.selection()
    assert abs(lo - 100) <= 1 and abs(hi - 151) <= 1
    editor.scale_selection(2.0)
    e = editor.energy()
    assert e[lo:hi].mean() == pytest.approx(0.8, abs=1e-4) and e[50] == pytest.approx(0.4)
    editor.smooth()
    e2 = editor.energy()
    assert 0.4 < e2[lo] < 0.8 and e2[lo - 1] == pytest.approx(0.4)  # softened inside the selection only
    editor.reset()
    assert np.allclose(editor.energy(), editor.predicted()) and not editor.is_edited()


def test_editor_drag_tool_and_paint(editor, qtbot):
    editor.set_tool("drag")
    p = editor.point_for(100, 0.4).toPoint()
    q = editor.point_for(100, 1.0).toPoint()
    qtbot.mousePress(editor, Qt.MouseButton.LeftButton, pos=p)
    qtbot.mouseMove(editor, pos=q)
    qtbot.mouseRelease(editor, Qt.MouseButton.LeftButton, pos=q)
    e = editor.energy()
    assert e[100] > 0.95 and 0.4 < e[105] < e[100] and e[10] == pytest.approx(0.4)
    editor.set_waveform(np.random.default_rng(1).normal(0, 0.1, 44100))
    editor.set_playhead(1.0)
    img = editor.grab().toImage()
    assert img.width() == 600
    with pytest.raises(ValueError):
        editor.set_tool("eraser")


def _wheel(widget, pos, steps, mods):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    ev = QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, int(120 * steps)),
                     Qt.MouseButton.NoButton, mods, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_curve_zoom_keys_wheel_scroll_and_exact_strokes(editor, qtbot):
    r = editor.plot_rect()
    assert editor.view() == (0.0, 199.0) and not editor.scroll.isEnabled()
    # Ctrl+wheel zooms around the pointer: the frame under it stays under it
    x = editor.point_for(120, 0.5).x()
    _wheel(editor, editor.point_for(120, 0.5).toPoint(), 4, Qt.KeyboardModifier.ControlModifier)
    assert editor.zoom_factor() == pytest.approx(1.25 ** 4, rel=1e-3)
    assert editor.frame_at(x) == 120 and editor.scroll.isEnabled()
    # keys: + / - around the middle, F fits, Z zooms to the selection
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_Plus)
    assert editor.zoom_factor() == pytest.approx(1.25 ** 4 * 1.5, rel=1e-3)
    qtbot.keyClick(editor, Qt.Key.Key_Minus)
    assert editor.zoom_factor() == pytest.approx(1.25 ** 4, rel=1e-3)
    qtbot.keyClick(editor, Qt.Key.Key_F)
    assert editor.view() == (0.0, 199.0)
    editor.set_selection(40, 60)
    qtbot.keyClick(editor, Qt.Key.Key_Z)
    a, b = editor.view()
    assert 37 <= a <= 40 and 59 <= b <= 62  # 20 frames fill the plot
    # zoomed in, a pen stroke lands on exactly the frames under the pen, at the values drawn
    editor.set_selection(0, 0)
    before = editor.energy()
    p0, p1 = editor.point_for(45, 0.8).toPoint(), editor.point_for(55, 0.2).toPoint()
    assert p1.x() - p0.x() > 10 * (r.width() / 30)  # well over a pixel per frame: really zoomed
    qtbot.mousePress(editor, Qt.MouseButton.LeftButton, pos=p0)
    qtbot.mouseMove(editor, pos=p1)
    qtbot.mouseRelease(editor, Qt.MouseButton.LeftButton, pos=p1)
    after = editor.energy()
    changed = np.flatnonzero(np.abs(after - before) > 1e-6)
    assert changed.min() == 45 and changed.max() == 55
    assert after[45] == pytest.approx(editor.value_at(p0.y()), abs=1e-6)
    assert after[55] == pytest.approx(editor.value_at(p1.y()), abs=1e-6)
    assert after[50] == pytest.approx((after[45] + after[55]) / 2, abs=1e-3)  # a straight line between
    # the curve round-trips through the panel after an edit: the same clip keeps its zoom
    view = editor.view()
    editor.set_curve(after, editor.predicted(), duration=2.0)
    assert editor.view() == view
    # Shift+wheel and the scroll bar move along; the ruler seeks through the view
    _wheel(editor, editor.point_for(50, 0.5).toPoint(), -2, Qt.KeyboardModifier.ShiftModifier)
    assert editor.view()[0] > a
    editor.scroll.setValue(editor.scroll.maximum())
    assert editor.view()[1] == pytest.approx(199.0, abs=0.05)
    first = editor.view()[0]
    with qtbot.waitSignal(editor.seek_requested, timeout=1000) as sig:
        qtbot.mousePress(editor, Qt.MouseButton.LeftButton, pos=QPoint(int(r.left()), int(r.bottom() + 8)))
    assert sig.args[0] == pytest.approx(first / 199.0 * 2.0, abs=0.01)
    with qtbot.waitSignal(editor.seek_requested, timeout=1000) as sig:  # dragging along the ruler scrubs
        qtbot.mouseMove(editor, QPoint(int(r.right()), int(r.bottom() + 8)))
    assert sig.args[0] == pytest.approx(2.0, abs=0.01)
    qtbot.mouseRelease(editor, Qt.MouseButton.LeftButton, pos=QPoint(int(r.right()), int(r.bottom() + 8)))
    # a new clip (another length) opens fitted; a zoomed paint draws
    editor.set_curve(np.full(120, 0.3, np.float32), None, duration=1.2)
    assert editor.view() == (0.0, 119.0)
    editor.zoom(6.0)
    editor.set_waveform(np.random.default_rng(2).normal(0, 0.2, 26460))
    editor.set_playhead(0.6)
    assert editor.grab().toImage().width() == 600


# ---------------------------------------------------------------------------- prompt, takes
def test_prompt_completes_from_vocabulary_and_accepts_free_text(qtbot, tmp_path):
    vocab = tmp_path / "v.json"
    vocab.write_text('{"events": [{"name": "footsteps_gravel"}, {"name": "door slam"}, "glass break"]}')
    names = load_vocabulary(vocab)
    assert names == ["footsteps gravel", "door slam", "glass break"]
    w = PromptEdit(names)
    qtbot.addWidget(w)
    assert w.completions("grav") == ["footsteps gravel"]
    assert set(w.completions("S")) == set(names)
    qtbot.keyClicks(w, "squeaky hinge")
    assert w.text() == "squeaky hinge"
    assert load_vocabulary(tmp_path / "missing.json") == []


def _take(seed, n=22050, amp=0.5):
    audio = (amp * np.random.default_rng(seed).uniform(-1, 1, n)).astype(np.float32)
    return Take(audio, 22050, QCDControl.silent(10, "hifigan22k"), seed)


def test_takes_list_shows_seeds_and_keeps_one(qtbot):
    w = TakesList()
    qtbot.addWidget(w)
    w.set_takes([_take(7), _take(8), _take(9)])
    assert w.list.count() == 3 and "seed 8" in w.list.item(1).text()
    assert w.kept() is None and w.current() == 0
    with qtbot.waitSignal(w.current_changed) as cur:
        w.list.setCurrentRow(2)
    assert cur.args == [2]
    with qtbot.waitSignal(w.kept_changed) as kept:
        w.keep_button.click()
    assert kept.args == [2] and w.kept() == 2 and w.list.item(2).text().startswith("\u2605")
    w.set_takes([_take(1)], kept=0)
    assert w.kept() == 0 and w.current_take().seed == 1


def test_takes_list_names_a_library_take_sources(qtbot):
    w = TakesList()
    qtbot.addWidget(w)
    take = _take(3)
    take.metadata["sources"] = [{"file": "/lib/FOLYFeet_Gravel Step 01.wav", "offset_s": 0.25, "gain_db": -3.0},
                                {"file": "/lib/FOLYFeet_Gravel Step 07.wav", "offset_s": 1.5, "gain_db": 0.0}]
    w.set_takes([_take(1), take])
    assert not w.sources.text()  # take 1 has no sources
    w.list.setCurrentRow(1)
    assert "Gravel Step 01.wav, offset_s 0.25, gain_db -3.00" in w.sources.text()
    assert "Gravel Step 07.wav" in w.list.item(1).toolTip()


def test_file_menu_offers_the_sound_library_when_installed(qtbot):
    from importlib.util import find_spec

    from melfoley.ui.window import FoleyWindow

    win = FoleyWindow(engine="debug")
    qtbot.addWidget(win)
    installed = find_spec("melfoley.ui.library_dialog") is not None
    assert win.library_action.isEnabled() == installed
    assert win.library_action.text().startswith("Add sound &library")
    win.panel.shutdown()
