"""The theme: charcoal panels, one accent, status colours, a mono timecode font; and a light
variant for hosts with a light palette.

``apply_theme(app)`` sets the Fusion style, a dark palette and a small style sheet for the
standalone window. A docked panel follows its host: ``style_sheet(scheme_for(palette))``
picks the dark or the light sheet from the host's window colour, so labels are never dark
on dark (or light on light). The colour constants are the dark scheme's; the custom-painted
canvases (curve, timeline, viewer) paint their own dark background and so read the same in
either host.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication

BG = "#1e1f22"          # window
PANEL = "#26282c"       # group boxes, lists
BASE = "#16171a"        # text fields, canvases
RAISED = "#32353a"      # buttons
BORDER = "#3c3f45"
TEXT = "#d8dade"
TEXT_DIM = "#8b9099"
ACCENT = "#f0a030"      # amber: the energy curve, selection, focus
ACCENT_DIM = "#7a5418"
MOTION = "#3d7fb8"      # motion envelope under the curve
WAVE = "#4fa36c"        # take waveform
PLAYHEAD = "#ff5a4f"

#: clip status -> (label, colour)
STATUS_COLOURS = {
    "not generated": TEXT_DIM,
    "generating": "#5aa9e6",
    "done": "#59b26a",
    "failed": "#e0564a",
    "stale": "#d9b43c",
    "missing media": "#e0564a",
}

DARK = dict(BG=BG, PANEL=PANEL, BASE=BASE, RAISED=RAISED, BORDER=BORDER, TEXT=TEXT, TEXT_DIM=TEXT_DIM,
            ACCENT=ACCENT, ACCENT_DIM=ACCENT_DIM, STALE=STATUS_COLOURS["stale"])
LIGHT = dict(BG="#eeeff1", PANEL="#e2e4e8", BASE="#ffffff", RAISED="#f7f7f8", BORDER="#b9bdc4", TEXT="#1b1c1f",
             TEXT_DIM="#4f545c", ACCENT="#a85f00", ACCENT_DIM="#f2c98a", STALE="#8a6a00")

_SHEET_TEMPLATE = """
QWidget {{ color: {TEXT}; font-size: 10pt; }}
FoleyPanel, FoleyPanel QWidget#page, QGroupBox {{ background: {BG}; }}
QMainWindow, QDialog {{ background: {BG}; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 4px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {TEXT_DIM}; }}
QPushButton, QToolButton {{ background: {RAISED}; border: 1px solid {BORDER}; border-radius: 3px;
    padding: 4px 10px; }}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed, QToolButton:pressed, QToolButton:checked {{ background: {ACCENT_DIM}; }}
QPushButton:disabled, QToolButton:disabled {{ color: {TEXT_DIM}; background: {PANEL}; }}
QPushButton#primary {{ background: {ACCENT_DIM}; border-color: {ACCENT}; font-weight: bold; }}
QLineEdit, QSpinBox, QComboBox, QPlainTextEdit {{ background: {BASE}; border: 1px solid {BORDER};
    border-radius: 3px; padding: 3px 5px; selection-background-color: {ACCENT_DIM}; }}
QLineEdit:focus, QSpinBox:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QTableView, QListWidget, QListView, QTreeView {{ background: {BASE}; alternate-background-color: {PANEL};
    border: 1px solid {BORDER}; selection-background-color: {ACCENT_DIM}; selection-color: {TEXT};
    gridline-color: {BORDER}; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT_DIM}; border: none;
    border-right: 1px solid {BORDER}; padding: 4px; }}
QProgressBar {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 3px; text-align: center;
    height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT_DIM}; }}
QStatusBar {{ background: {PANEL}; color: {TEXT_DIM}; }}
QToolBar {{ background: {PANEL}; border: none; spacing: 4px; padding: 3px; }}
QSplitter::handle {{ background: {BORDER}; }}
QLabel#hint {{ color: {TEXT_DIM}; }}
QLabel#warning {{ color: {STALE}; }}
QLabel#timecode {{ font-family: monospace; font-size: 13pt; color: {ACCENT}; }}
QMenuBar, QMenu {{ background: {PANEL}; }}
QMenu::item:selected {{ background: {ACCENT_DIM}; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px; }}
"""


def mono_font(point_size: int = 10) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(point_size)
    return font


def palette() -> QPalette:
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: BG, QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE, QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: RAISED,
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.Highlight: ACCENT_DIM,
        QPalette.ColorRole.HighlightedText: TEXT, QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT, QPalette.ColorRole.PlaceholderText: TEXT_DIM,
        QPalette.ColorRole.Link: ACCENT, QPalette.ColorRole.Mid: BORDER,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(TEXT_DIM))
    return pal


def apply_theme(app: QApplication) -> None:
    """Fusion + dark palette + style sheet, for the standalone window (a host keeps its own)."""
    app.setStyle("Fusion")
    app.setPalette(palette())
    app.setStyleSheet(style_sheet())


def scheme_for(host: QPalette | None) -> dict:
    """The light scheme under a light host palette (its window colour is light), else the dark one."""
    if host is None:
        return DARK
    return LIGHT if host.color(QPalette.ColorRole.Window).lightness() > 128 else DARK


def style_sheet(scheme: dict | None = None) -> str:
    """The sheet alone (dark unless told), for a panel docked into a host application."""
    return _SHEET_TEMPLATE.format(**(scheme or DARK))
