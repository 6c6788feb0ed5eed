"""The standalone window of ``melfoley panel``: the panel in a QMainWindow with a menu.

Closing with unsaved settings asks Save / Discard / Cancel; the settings are autosaved
beside the output either way, so even "Discard" can be undone by reopening the edit.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMessageBox

from . import theme
from .panel import FoleyPanel

TITLE = "melfoley \u2014 Foley panel"


class FoleyWindow(QMainWindow):
    def __init__(self, *, engine: str | None = None):
        super().__init__()
        self.setWindowTitle(TITLE)
        self.panel = FoleyPanel(self, engine=engine)
        self.setCentralWidget(self.panel)
        self.resize(1440, 900)
        m = self.menuBar().addMenu("&File")
        for text, key, slot in (("&Open edit\u2026", QKeySequence.StandardKey.Open, self.panel._ask_open),
                                ("&Save settings", QKeySequence.StandardKey.Save, self.panel.save_settings),
                                ("&Export stems + timeline\u2026", "Ctrl+E", self.panel._ask_export),
                                ("&Media folder\u2026", None, self.ask_media_folder),
                                ("&Quit", QKeySequence.StandardKey.Quit, self.close)):
            act = QAction(text, self)
            if key is not None:
                act.setShortcut(QKeySequence(key))
            act.triggered.connect(slot)
            m.addAction(act)
        self.library_action = library_action(self, m)
        e = self.menuBar().addMenu("&Edit")
        for text, slot in (("&Undo", self.panel.undo_stack.undo), ("&Redo", self.panel.undo_stack.redo),
                           ("&Copy clip settings (Ctrl+Shift+C)", self.panel.copy_settings),
                           ("&Paste clip settings (Ctrl+Shift+V)", self.panel.paste_settings)):
            act = QAction(text, self)
            act.triggered.connect(slot)
            e.addAction(act)
        g = self.menuBar().addMenu("&Generate")
        for text, key, slot in (("Generate &selected", "Ctrl+G", lambda: self.panel.generate(
                                    self.panel.clips.selected_ids())),
                                ("Generate &all", "Ctrl+Shift+G", lambda: self.panel.generate(None)),
                                ("&Cancel", "Esc", self.panel.cancel)):
            act = QAction(text, self)
            act.setShortcut(QKeySequence(key))
            act.triggered.connect(slot)
            g.addAction(act)
        self.panel.timeline_opened.connect(lambda path: self.setWindowTitle(f"{TITLE} \u2014 {path}"))

    def ask_media_folder(self) -> None:
        """Reopen the edit with its media looked for in a folder (the panel's --media-root)."""
        from PySide6.QtWidgets import QFileDialog

        s = self.panel.session
        if s is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder holding the edit's media", "")
        if folder:
            self.panel.open_timeline(s.path, media_root=folder, output_dir=s.output_dir)

    def ask_unsaved(self) -> QMessageBox.StandardButton:
        """Save / Discard / Cancel (a method, so tests and hosts can answer it)."""
        return QMessageBox.question(
            self, "Unsaved settings",
            "Some clip settings (prompts, curves, kept takes) are not saved.\n"
            "Save them beside the output before closing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)

    def closeEvent(self, ev):  # noqa: N802 - Qt API
        if self.panel.has_unsaved():
            self.panel.autosave()  # whatever the answer, nothing is lost silently
            answer = self.ask_unsaved()
            if answer == QMessageBox.StandardButton.Cancel:
                ev.ignore()
                return
            if answer == QMessageBox.StandardButton.Save and self.panel.save_settings() is None:
                ev.ignore()
                return
        self.panel.shutdown()
        ev.accept()


def library_action(window, menu) -> QAction:
    """File > Add sound library... (the library engine's folder indexer), disabled with the reason
    when that module is not installed."""
    act = QAction("Add sound &library\u2026", window)
    try:
        from importlib.util import find_spec

        ok = find_spec("melfoley.ui.library_dialog") is not None
    except (ImportError, ValueError):
        ok = False
    if ok:
        def run():
            from .library_dialog import add_library_folder  # lazy: indexing code loads only when asked

            add_library_folder(window)

        act.triggered.connect(run)
    else:
        act.setEnabled(False)
        act.setToolTip("The sound-library engine is not installed in this melfoley")
    menu.setToolTipsVisible(True)
    menu.addAction(act)
    return act


def dock(panel: FoleyPanel | None = None, parent=None) -> QDockWidget:
    """The panel in a QDockWidget, for hosts (Nuke Studio / Hiero, Resolve's Qt, any PySide6 app).
    The panel's sheet follows the host's palette (light or dark), and it is usable at 480 px."""
    w = QDockWidget("melfoley Foley", parent)
    panel = panel or FoleyPanel(w)
    host = parent.palette() if parent is not None else QApplication.palette()
    panel.setStyleSheet(theme.style_sheet(theme.scheme_for(host)))
    w.setWidget(panel)
    w.setObjectName("melfoley_foley_panel")
    return w


def run_app(timeline: str | None = None, *, media_root=None, output_dir=None, engine: str | None = None,
            argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv or ["melfoley panel"])
    theme.apply_theme(app)
    win = FoleyWindow(engine=engine)
    win.show()
    if timeline:
        win.panel.open_timeline(timeline, media_root=media_root, output_dir=output_dir)
    return app.exec()
