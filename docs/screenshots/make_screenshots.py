"""Render the panel's main states to PNG at 1440x900: ``python docs/screenshots/make_screenshots.py``.

Runs under Xvfb when it is installed (a real X server: the whole screen is grabbed, popups
included), else on Qt's offscreen platform (the window is grabbed). Uses the debug engine
and an edit over the corpus videos, so it needs no weights and no sound card.
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
W, H = 1440, 900


def start_display() -> subprocess.Popen | None:
    """Xvfb on a free display number, or None (then Qt's offscreen platform is used)."""
    if not shutil.which("Xvfb"):
        return None
    for n in range(97, 110):
        if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{W}x{H}x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        if proc.poll() is None:
            proc.display = f":{n}"
            return proc
    return None


def main() -> int:
    """Start Xvfb, render in a child process (a Qt abort cannot leave Xvfb behind), stop Xvfb."""
    if "--child" in sys.argv:
        return shoot()
    env = dict(os.environ, JACK_NO_START_SERVER="1")
    xvfb = None if env.get("DISPLAY") else start_display()
    if xvfb is not None:
        env.update(DISPLAY=xvfb.display, QT_QPA_PLATFORM="xcb")
    elif not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    try:
        return subprocess.call([sys.executable, __file__, "--child"], env=env)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


def shoot() -> int:
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from melfoley.core.corpus import corpus_root
    from melfoley.ui import theme
    from melfoley.ui.sample_edit import make_edit
    from melfoley.ui.window import FoleyWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply_theme(app)
    work = Path(tempfile.mkdtemp(prefix="melfoley-shots-"))
    os.environ.setdefault("MELFOLEY_CACHE_DIR", str(work / "cache"))
    edit = make_edit(work / "sample edit.otio", corpus_root() / "video", long=True)
    win = FoleyWindow(engine="debug")
    win.setGeometry(0, 0, W, H)
    win.show()
    panel = win.panel
    print(f"platform {app.platformName()}; writing to {HERE}")

    def pump(seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def until(cond, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("screenshot state not reached")
            pump(0.05)

    def shot(name: str) -> None:
        pump(0.4)
        if app.platformName() == "xcb":
            img = app.primaryScreen().grabWindow(0, 0, 0, W, H)
        else:
            img = win.grab()
        path = HERE / f"{name}.png"
        img.save(str(path))
        print(f"  {path.name} {img.width()}x{img.height()}")

    panel.open_timeline(edit, output_dir=work / "out")
    until(lambda: panel.preview("V1/0") is not None)
    until(lambda: not panel.runner.is_busy())
    shot("01_timeline")

    # the prompt with completion open
    panel.editor.prompt.setFocus()
    QTest.keyClicks(panel.editor.prompt, "foot")
    pump(0.6)
    shot("02_prompt_completion")
    panel.editor.prompt.completer().popup().hide()
    panel.editor.prompt.setText("footsteps on gravel")
    panel.editor.prompt.editingFinished.emit()

    # a redrawn curve: a pen stroke, then a scaled selection
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

    for cid in ("V1/2", "V1/4"):
        panel.session.update(cid, prompt="cloth rustle", takes=6)
    panel.session.update("V1/0", takes=4)
    first = []
    job = panel.generate(None)
    job.signals.item_done.connect(lambda cid, _t: first.append(cid))
    until(lambda: bool(first))
    shot("04_generating")
    until(lambda: not panel.is_busy(), 120)

    panel.clips.select_ids(["V1/0"])
    until(lambda: panel.takes.list.count() == 4)
    panel.takes.list.setCurrentRow(2)
    panel.takes.keep_button.click()
    panel.player.play()  # no sound card here: says so, and runs the playhead silently
    pump(0.9)
    panel.player.stop()
    panel.player.seek(1.1)
    shot("05_takes_audition")

    done = []
    panel.exported.connect(done.append)
    panel.export()
    until(lambda: bool(done))
    shot("06_exported")

    panel.open_timeline(corpus_root() / "timelines" / "otio-fcp-adapter" / "premiere_example.xml",
                        output_dir=work / "out2")
    until(lambda: not panel.runner.is_busy())
    shot("07_missing_media")
    panel.session.dirty = False
    panel.shutdown()
    win.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
