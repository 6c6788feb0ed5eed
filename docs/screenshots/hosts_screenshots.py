"""Screenshots for docs/hosts.md, rendered offscreen (or under xvfb-run):

- ``hosts_hiero_panel.png``: the Hiero panel docked 480 px wide in a QMainWindow that stands in
  for Nuke Studio (a dark host palette; the host's timeline is a placeholder), after a real
  round trip over the mocked sequence of tests/test_hosts_hiero.py (debug engine, one clip
  with its media missing so that the failure list shows).
- ``hosts_resolve_progress.png``: the progress window of a Resolve job at its end.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/hosts_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import types
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[1] / "tests")]

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow  # noqa: E402

import test_hosts_hiero as mock  # noqa: E402 - the mocked Hiero objects of the tests
from test_timeline_media import clip, edit, render_media  # noqa: E402


def host_palette() -> QPalette:
    pal = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#323232"), (QPalette.ColorRole.WindowText, "#cfcfcf"),
                         (QPalette.ColorRole.Base, "#1f1f1f"), (QPalette.ColorRole.AlternateBase, "#2a2a2a"),
                         (QPalette.ColorRole.Text, "#dcdcdc"), (QPalette.ColorRole.Button, "#3d3d3d"),
                         (QPalette.ColorRole.ButtonText, "#dcdcdc"), (QPalette.ColorRole.Highlight, "#f7931e"),
                         (QPalette.ColorRole.HighlightedText, "#101010")):
        pal.setColor(role, QColor(colour))
    return pal


def wait(app, predicate, timeout=180.0):
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def hiero_panel(app, tmp: Path) -> None:
    from melfoley.plugin.hosts import install
    from melfoley.plugin.hosts.hiero_panel import HieroFoleyPanel, dock_into

    media = render_media(tmp, "plate.mp4", Fraction(25), 3.0)
    seq = mock.Sequence([mock.VideoItem("Door opens", media, 0, 20, 0),
                         mock.VideoItem("Walks in", media, 25, 30, 30),
                         mock.VideoItem("Sits down", media, 60, 20, 10)])
    lost = mock.VideoItem("Pickup shot", media, 85, 15, 0)
    lost.source = lambda: (_ for _ in ()).throw(AttributeError("offline"))  # offline media
    seq.video[0]._items.append(lost)
    core = types.ModuleType("hiero.core")
    core.__dict__.update(Bin=mock.Bin, BinItem=mock.BinItem, Clip=mock.Clip, MediaSource=mock.MediaSource,
                         AudioTrack=mock.AudioTrack)
    ui = types.ModuleType("hiero.ui")
    ui.activeSequence = lambda: seq
    pkg = types.ModuleType("hiero")
    pkg.core, pkg.ui = core, ui
    sys.modules.update({"hiero": pkg, "hiero.core": core, "hiero.ui": ui})
    os.environ["MELFOLEY_HOST_OUT"] = str(tmp / "jobs")
    os.environ["MELFOLEY_CACHE_DIR"] = str(tmp / "cache")
    record = install.install("hiero", home=tmp / "home", platform="linux").record

    win = QMainWindow()
    win.setWindowTitle("Nuke Studio (stand-in)")
    win.setPalette(host_palette())
    win.setAutoFillBackground(True)
    stand_in = QLabel("the host's viewer and timeline\n(stand-in: Nuke Studio itself cannot run here)")
    stand_in.setAlignment(Qt.AlignmentFlag.AlignCenter)
    win.setCentralWidget(stand_in)
    win.resize(1280, 720)
    panel = HieroFoleyPanel(record=str(record))
    panel.prompt.setText("footsteps on wooden floor")
    panel.engine.setCurrentText("debug")
    dock = dock_into(win, panel)
    panel.start()
    wait(app, lambda: panel.last_result is not None or panel.status.text().startswith("error"))
    app.processEvents()
    win.grab().save(str(HERE / "hosts_hiero_panel.png"))
    print(f"dock {dock.width()} px; {panel.status.text()!r}")


def resolve_progress(app, tmp: Path) -> None:
    from melfoley.plugin.hosts.progress_window import ProgressWindow
    from melfoley.plugin.hosts.run import batch_config

    media = render_media(tmp, "reel.mp4", Fraction(25), 3.0)
    items = [clip("Car door", media, 0, 25, 25, media_frames=75), clip("Keys", media, 25, 20, 25, media_frames=75),
             clip("Footsteps", tmp / "missing_A012.mov", 0, 30, 25)]
    src = edit(tmp / "Reel 1.otio", [items], 25, start_frames=90000, name="Reel 1")
    win = ProgressWindow(batch_config(src, tmp / "resolve_out", engine="debug"), title="Reel 1")
    win.setPalette(host_palette())
    win.show()
    win.start()
    wait(app, lambda: win.report is not None or win.error is not None)
    app.processEvents()
    win.grab().save(str(HERE / "hosts_resolve_progress.png"))
    print(f"progress window: {win.status.text()!r}")


def main() -> int:
    app = QApplication.instance() or QApplication(["melfoley screenshots"])
    app.setStyle("Fusion")
    with tempfile.TemporaryDirectory() as tmp:
        hiero_panel(app, Path(tmp))
        resolve_progress(app, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
