"""What the panel tests share: the offscreen Qt platform, no JACK server, PySide6 and
pytest-qt present (else the importing test module is skipped), a panel with the debug
engine, and the waits and gestures the tests drive it with."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("JACK_NO_START_SERVER", "1")

import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402


@pytest.fixture
def panel(qtbot):
    """A 1440x900 panel with the debug engine, shut down after the test."""
    p = new_panel(qtbot, (1440, 900))
    yield p
    close_panel(p)


@pytest.fixture
def edit(corpus, tmp_path):
    """The small edit over the corpus videos, with a dialogue track and a ``foley:`` marker."""
    from melfoley.ui.sample_edit import make_edit

    return make_edit(tmp_path / "edit.otio", corpus / "video", extras=True)


def new_panel(qtbot, size=(1440, 860)):
    from melfoley.ui.panel import FoleyPanel

    p = FoleyPanel(engine="debug")
    qtbot.addWidget(p)
    p.resize(*size)
    p.show()
    return p


def close_panel(p) -> None:
    if p.session is not None:
        p.session.dirty = False
    p.shutdown()
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # reports queued by the finished jobs land while the panel still exists


def wait_preview(qtbot, panel, cid):
    qtbot.waitUntil(lambda: panel.preview(cid) is not None and panel.editor.curve.energy().size > 0, timeout=20000)


def draw(qtbot, curve, f0, f1, value):
    a, b = curve.point_for(f0, value).toPoint(), curve.point_for(f1, value).toPoint()
    qtbot.mousePress(curve, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(curve, pos=b)
    qtbot.mouseRelease(curve, Qt.MouseButton.LeftButton, pos=b)


def set_prompt(qtbot, panel, text):
    panel.editor.prompt.clear()
    qtbot.keyClicks(panel.editor.prompt, text)
    qtbot.keyClick(panel.editor.prompt, Qt.Key.Key_Return)
