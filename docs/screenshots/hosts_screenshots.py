"""Screenshots for docs/hosts.md, rendered under Xvfb (or offscreen):

- ``hosts_hiero_panel.png`` / ``hosts_hiero_panel_light.png``: the Hiero panel docked 480 px
  wide in a QMainWindow that stands in for Nuke Studio (the host's dark palette, and a light
  one; the host's timeline is a placeholder), after a real round trip over the mocked sequence
  of tests/test_hosts_hiero.py: exported through the mocked Hiero OTIO exporter, foleyed by the
  debug engine, one clip whose media is offline so that the failure list shows.
- ``hosts_hiero_full_panel.png``: melfoley's own panel (``FoleyPanel``, as
  ``hiero_panel.DockedFoleyPanel`` docks it when melfoley's environment fits the host's Python)
  docked 480 px wide in the same stand-in, dark host palette, after loading the mocked
  sequence through the mocked Hiero OTIO exporter and generating with the debug engine (its
  engine process in melfoley's own Python).
- ``hosts_resolve_progress.png``: the progress window of a Resolve job at its end.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/hosts_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parents[1] / "tests")]

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow  # noqa: E402

import test_hosts_hiero as mock  # noqa: E402 - the mocked Hiero objects of the tests
from test_timeline_media import clip, edit, render_media  # noqa: E402


def wait(app, predicate, timeout=180.0):
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def hiero_panel(app, tmp: Path, kind: str) -> None:
    from melfoley.plugin.hosts import install
    from melfoley.plugin.hosts.hiero_panel import HieroFoleyPanel, dock_into

    tmp = tmp / kind
    tmp.mkdir()
    media = render_media(tmp, "plate.mp4", Fraction(25), 3.0)
    seq = mock.Sequence([mock.VideoItem("Door opens", media, 0, 20, 0),
                         mock.VideoItem("Walks in", media, 25, 30, 30),
                         mock.VideoItem("Sits down", media, 60, 20, 10)])
    lost = mock.VideoItem("Pickup shot", media, 85, 15, 0)
    lost.clip.source.path = str(tmp / "A012_C003.mov")  # offline: the file is not there
    seq.video[0]._items.append(lost)
    sys.modules.update(mock.hiero_modules(seq))  # with Hiero's OTIO exporter, as in Nuke Studio 16
    os.environ["MELFOLEY_HOST_OUT"] = str(tmp / "jobs")
    os.environ["MELFOLEY_CACHE_DIR"] = str(tmp / "cache")
    record = install.install("hiero", home=tmp / "home", platform="linux").record

    win = stand_in(kind)
    win.resize(1280, 720)
    from melfoley.plugin.hosts import hiero_panel as hp

    hp.DOCKED = (hp.BRIDGE, "this Python's PySide6 is melfoley's environment's own, not the host's")  # entry()'s
    # verdict for this stand-in, which runs in melfoley's own environment
    panel = HieroFoleyPanel(record=str(record))
    panel.prompt.setText("footsteps on wooden floor")
    panel.engine.setCurrentText("debug")
    dock = dock_into(win, panel)
    panel.start()
    wait(app, lambda: panel.last_result is not None or panel.status.text().startswith("error"))
    app.processEvents()
    name = "hosts_hiero_panel.png" if kind == "dark" else f"hosts_hiero_panel_{kind}.png"
    win.grab().save(str(HERE / name))
    print(f"{name}: dock {dock.width()} px; {panel.status.text()!r}")
    win.close()


def stand_in(kind: str) -> QMainWindow:
    """A QMainWindow standing in for Nuke Studio (which cannot run here), with the host's palette."""
    win = QMainWindow()
    win.setWindowTitle("Nuke Studio (stand-in)")
    win.setPalette(mock.host_palette(kind))
    win.setAutoFillBackground(True)
    label = QLabel("the host's viewer and timeline\n(stand-in: Nuke Studio itself cannot run here)")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    win.setCentralWidget(label)
    return win


def full_panel(app, tmp: Path) -> None:
    from melfoley.plugin.hosts import hiero_panel, install
    from melfoley.plugin.hosts.hiero_panel import DockedFoleyPanel, dock_into

    tmp = tmp / "full"
    tmp.mkdir()
    media = render_media(tmp, "plate.mp4", Fraction(25), 3.0)
    seq = mock.Sequence([mock.VideoItem("Door opens", media, 0, 20, 0),
                         mock.VideoItem("Walks in", media, 25, 30, 30),
                         mock.VideoItem("Sits down", media, 60, 20, 10)])
    sys.modules.update(mock.hiero_modules(seq))
    os.environ["MELFOLEY_HOST_OUT"] = str(tmp / "jobs")
    os.environ["MELFOLEY_CACHE_DIR"] = str(tmp / "cache")
    record = install.install("hiero", home=tmp / "home", platform="linux").record
    hiero_panel.DOCKED = (hiero_panel.FULL, "melfoley's Python 3.11 is the host's, and its packages load with "
                          "the host's PySide6")  # what entry() found (the stand-in is this Python)
    win = stand_in("dark")
    win.resize(1400, 900)
    panel = DockedFoleyPanel(win, record=str(record), engine="debug")
    dock = dock_into(win, panel)
    panel.load_sequence()
    fp = panel.panel
    fp.set_default_prompt("footsteps on wooden floor")
    done = []
    fp.generation_finished.connect(done.append)
    fp.generate(None)
    wait(app, lambda: bool(done))
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    win.grab().save(str(HERE / "hosts_hiero_full_panel.png"))
    print(f"hosts_hiero_full_panel.png: dock {dock.width()} px; {done}; {panel.status.text()!r}")
    panel.shutdown()
    win.close()


def resolve_progress(app, tmp: Path) -> None:
    from melfoley.plugin.hosts.progress_window import ProgressWindow
    from melfoley.plugin.hosts.run import batch_config

    media = render_media(tmp, "reel.mp4", Fraction(25), 3.0)
    items = [clip("Car door", media, 0, 25, 25, media_frames=75), clip("Keys", media, 25, 20, 25, media_frames=75),
             clip("Footsteps", tmp / "missing_A012.mov", 0, 30, 25)]
    src = edit(tmp / "Reel 1.otio", [items], 25, start_frames=90000, name="Reel 1")
    win = ProgressWindow(batch_config(src, tmp / "resolve_out", engine="debug"), title="Reel 1")
    win.setPalette(mock.host_palette("dark"))
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
        for kind in ("dark", "light"):
            hiero_panel(app, Path(tmp), kind)
        full_panel(app, Path(tmp))
        resolve_progress(app, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
