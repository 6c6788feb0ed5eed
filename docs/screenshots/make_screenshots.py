"""Render the panel's states to PNG at 1440x900, 1100x700 and docked at 480 px:
``python docs/screenshots/make_screenshots.py [--layout full|small|docked]``.

Runs under Xvfb when it is installed (a real X server: the window's screen area is grabbed,
popups included), else on Qt's offscreen platform (the window is grabbed). Uses the debug
engine and an edit over the corpus videos (a dialogue track and a ``foley:`` marker
included), so it needs no weights and no sound card. Each layout runs in its own child
process; files are ``<state>.png`` (1440x900), ``small_<state>.png`` (1100x700) and
``docked_<state>.png`` (the panel docked at 480 px in a stand-in host window, light palette).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYOUTS = {"full": (1440, 900, ""), "small": (1100, 700, "small_"), "docked": (1100, 900, "docked_")}
DOCK_W = 480


def start_display(w: int, h: int) -> subprocess.Popen | None:
    """Xvfb on a free display number, or None (then Qt's offscreen platform is used)."""
    if not shutil.which("Xvfb"):
        return None
    for n in range(97, 120):
        if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{w}x{h}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        if proc.poll() is None:
            proc.display = f":{n}"
            return proc
    return None


def main() -> int:
    """Per layout: start Xvfb, render in a child process (a Qt abort cannot leave Xvfb behind), stop it."""
    if "--child" in sys.argv:
        return shoot(sys.argv[sys.argv.index("--child") + 1])
    wanted = [sys.argv[sys.argv.index("--layout") + 1]] if "--layout" in sys.argv else list(LAYOUTS)
    rc = 0
    for layout in wanted:
        w, h, _ = LAYOUTS[layout]
        env = dict(os.environ, JACK_NO_START_SERVER="1")
        xvfb = None if env.get("DISPLAY") else start_display(w, h)
        if xvfb is not None:
            env.update(DISPLAY=xvfb.display, QT_QPA_PLATFORM="xcb")
        elif not env.get("DISPLAY"):
            env["QT_QPA_PLATFORM"] = "offscreen"
        try:
            rc |= subprocess.call([sys.executable, __file__, "--child", layout], env=env)
        finally:
            if xvfb is not None:
                xvfb.terminate()
                xvfb.wait(5)
    return rc


def shoot(layout: str) -> int:
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QColor, QImage, QPalette
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    from melfoley.core.corpus import corpus_root
    from melfoley.ui import theme
    from melfoley.ui.sample_edit import make_edit
    from melfoley.ui.window import FoleyWindow, dock

    W, H, prefix = LAYOUTS[layout]
    app = QApplication.instance() or QApplication(sys.argv[:1])
    work = Path(tempfile.mkdtemp(prefix="melfoley-shots-"))
    os.environ.setdefault("MELFOLEY_CACHE_DIR", str(work / "cache"))
    edit = make_edit(work / "sample edit.otio", corpus_root() / "video", long=True, extras=True)
    if layout == "docked":  # a light host (as Hiero / Resolve can be), the panel docked at 480 px
        app.setStyle("Fusion")
        win = QMainWindow()
        pal = win.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor("#ececec"))
        pal.setColor(QPalette.ColorRole.WindowText, QColor("#101010"))
        win.setPalette(pal)
        host_view = QLabel("host application: its own viewer and timeline")
        host_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        win.setCentralWidget(host_view)
        from melfoley.ui.panel import FoleyPanel

        panel = FoleyPanel(engine="debug")
        dw = dock(panel, win)
        win.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dw)
        win.resizeDocks([dw], [DOCK_W], Qt.Orientation.Horizontal)
        target = dw
    else:
        theme.apply_theme(app)
        win = FoleyWindow(engine="debug")
        panel = win.panel
        target = win
    win.setGeometry(0, 0, W, H)
    win.show()
    print(f"{layout}: platform {app.platformName()}; writing to {HERE}")

    def pump(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def until(cond, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("screenshot state not reached")
            pump(0.05)

    def shot(name: str) -> None:
        pump(0.5)
        if app.platformName() == "xcb":
            g = target.frameGeometry() if target is win else target.geometry()
            top = target.mapToGlobal(QPoint(0, 0)) if target is not win else g.topLeft()
            img = app.primaryScreen().grabWindow(0, top.x(), top.y(), target.width(), target.height()).toImage()
        else:
            img = target.grab().toImage()
        img = img.convertToFormat(QImage.Format.Format_RGB888)
        path = HERE / f"{prefix}{name}.png"
        img.save(str(path), "PNG", 9)
        print(f"  {path.name} {img.width()}x{img.height()} {path.stat().st_size // 1024} KB")

    def idle() -> None:
        until(lambda: not panel.runner.is_busy())

    panel.open_timeline(edit, output_dir=work / "out")
    until(lambda: panel.preview("V1/0") is not None)
    idle()
    shot("01_timeline")

    panel.editor.prompt.setFocus()
    QTest.keyClicks(panel.editor.prompt, "foot")
    pump(0.6)
    shot("02_prompt_completion")
    panel.editor.prompt.completer().popup().hide()
    panel.editor.prompt.setText("footsteps on gravel")
    panel.editor.prompt.editingFinished.emit()

    curve = panel.editor.curve
    n = curve.energy().size
    a, b = curve.point_for(int(n * 0.62), 0.8).toPoint(), curve.point_for(int(n * 0.72), 0.75).toPoint()
    QTest.mousePress(curve, Qt.MouseButton.LeftButton, pos=a)
    for k in range(1, 11):
        QTest.mouseMove(curve, QPoint(a.x() + (b.x() - a.x()) * k // 10, a.y() + (b.y() - a.y()) * k // 10))
    QTest.mouseRelease(curve, Qt.MouseButton.LeftButton, pos=b)
    curve.set_selection(int(n * 0.05), int(n * 0.3))
    curve.scale_selection(0.6)
    shot("03_curve_edit")

    # several clips selected: one event typed for all of them
    panel.clips.select_ids(["V1/2", "V1/4"])
    pump(0.3)
    panel.editor.prompt.setText("cloth rustle")
    panel.editor.prompt.editingFinished.emit()
    panel.editor.takes.setValue(6)
    shot("08_many_clips")
    panel.session.update("V1/0", takes=4)
    first = []
    job = panel.generate(None)
    job.signals.item_done.connect(lambda cid, _t: first.append(cid))
    until(lambda: bool(first))
    shot("04_generating")
    until(lambda: not panel.is_busy(), 120)
    idle()

    panel.clips.select_ids(["V1/0"])
    until(lambda: panel.takes.list.count() == 4)
    panel.takes.list.setCurrentRow(2)
    panel.takes.keep_button.click()
    panel.takes.note.setText("heel strikes land; keep")
    panel.takes.note.editingFinished.emit()
    panel.editor.levels.gain.setValue(-3.0)
    panel.editor.levels.fade_out.setValue(120)
    panel.player.seek(1.1)
    idle()
    pump(1.0)
    bar = panel.controls.verticalScrollBar()
    bar.setValue(bar.maximum())  # the clip's controls scrolled down to the takes
    shot("05_takes_audition")
    bar.setValue(0)

    # J J: backwards at 2x, heard (reversed audio; here no sound card, so the meter shows it), the
    # picture decoded ahead of the playhead at the size shown
    panel.player.seek(2.8)
    until(lambda: panel.viewer.sharp)
    pump(1.5)  # paused: the runs before and after the frame are decoded too
    panel.transport_key("j")
    panel.transport_key("j")
    pump(0.4)
    shot("12_reverse_shuttle")
    panel.transport_key("k")

    # the curve zoomed in on the drawn hit (Z on a selection), the scroll bar under the ruler; the
    # Takes pane dragged smaller so the curve has the room (as an artist drags the splitter)
    right = panel.controls.widget()
    sizes = right.sizes()
    right.setSizes([sum(sizes) - 150, 150])
    pump(0.2)
    top = curve.mapTo(panel.controls.widget(), QPoint(0, 0)).y()  # the curve's bottom at the view's bottom
    panel.controls.verticalScrollBar().setValue(max(0, top + curve.height() - panel.controls.viewport().height() + 6))
    curve.set_selection(int(n * 0.55), int(n * 0.8))
    curve.zoom_to_selection()
    curve.set_selection(0, 0)
    panel.player.seek(0.66 * float(panel.session.state("V1/0").clip.duration))
    idle()
    shot("13_curve_zoom")
    curve.fit()
    right.setSizes(sizes)
    panel.controls.verticalScrollBar().setValue(0)

    # foley: markers edited on the timeline: the edit's marker dragged later, one added over the
    # last clip, its right-click menu open
    from PySide6.QtGui import QContextMenuEvent

    tv = panel.timeline
    tv.fit()
    m0 = panel.session.markers[0]
    panel.move_marker(0, m0.start + 0.4, m0.end + 0.4)
    panel.add_marker(6.0, 7.0, "glass clink")
    i = [m.text for m in panel.session.markers].index("glass clink")
    tv.selected_marker = i
    tv._dirty()
    at = QPoint(int(tv.x_of(6.4)), 20 + 7)
    tv.contextMenuEvent(QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at, tv.mapToGlobal(at)))
    pump(0.4)
    shot("14_markers")
    tv._menu.close()

    panel.transport.edit_box.setChecked(True)
    panel.transport_key("l")  # no sound card here: it says so, and runs the playhead silently
    pump(1.5)
    panel.transport_key("k")
    panel.seek_edit(4.6)
    idle()
    pump(0.8)
    shot("09_edit_playback")
    panel.transport.edit_box.setChecked(False)

    done = []
    panel.exported.connect(done.append)
    panel.export()
    until(lambda: bool(done))
    shot("06_exported")

    panel.open_timeline(done[0].timeline)  # the round trip: the Foley tracks are the takes again
    idle()
    panel.clips.select_ids(["V1/0"])
    idle()
    pump(0.8)
    shot("10_reopened")

    panel.open_timeline(edit, output_dir=work / "out3")
    until(lambda: panel.preview("V1/0") is not None)
    panel.editor.engine.setCurrentText("paper")  # no weights here: the chooser is offered
    until(lambda: ("V1/0", "paper") in panel.preview_errors, 120)
    shot("11_engine_needs_weights")

    panel.open_timeline(corpus_root() / "timelines" / "otio-fcp-adapter" / "premiere_example.xml",
                        output_dir=work / "out2")
    idle()
    shot("07_missing_media")
    panel.session.dirty = False
    panel.shutdown()
    win.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
