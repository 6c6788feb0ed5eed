"""The takes of one clip: each with its seed, true peak, loudness and waveform (at its true
level, so a quiet take looks quiet); one is auditioned, one is kept, each can carry a note.

``set_takes(takes, kept, notes)`` fills the list from engine ``Take`` objects (anything with
``seed``, ``audio``, ``sample_rate`` and ``metadata``). Selecting a row emits
``current_changed(index)``; *Keep* (or a double-click) emits ``kept_changed(index)``; keep
is always the artist's choice: nothing is starred until they choose. *A/B* (``toggle_ab``)
flips between the take auditioned now and the one before it, and the panel keeps the
playhead where it was. ``note_changed(index, text)`` reports a take's note. The take's
source files (a library engine's ``metadata["sources"]``) are listed under the take.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

from . import theme

WAVE_ICON = QSize(96, 24)


def take_levels(take) -> tuple[float, float | None]:
    """(true peak dBTP, integrated loudness LUFS or None) of a take: measured by the engine process
    when it rendered the take (``metadata["levels"]``, as the stems are measured); a take without
    them gets its sample peak (no oversampling: never a filter on the UI thread)."""
    lv = (getattr(take, "metadata", None) or {}).get("levels") or {}
    if "true_peak_dbtp" in lv:
        return float(lv["true_peak_dbtp"]), lv.get("loudness_lufs")
    a = np.asarray(take.audio, np.float32)
    peak = float(np.abs(a).max()) if a.size else 0.0
    return (20 * np.log10(peak) if peak > 0 else -200.0), None


def describe_take(index: int, take, kept: bool, note: str = "") -> str:
    audio = np.asarray(take.audio)
    dur = audio.shape[0] / float(take.sample_rate) if take.sample_rate else 0.0
    tp, lufs = take_levels(take)
    level = f"{tp:+.1f} dBTP" if tp > -150 else "silent"
    loud = f"{lufs:.1f} LUFS" if lufs is not None else "-- LUFS"
    star = "\u2605 " if kept else "   "
    text = f"{star}Take {index + 1}  seed {take.seed}  {dur:.2f} s  {level}  {loud}"
    return text + (f"  \u2014 {note}" if note else "")


def sources_text(take) -> str:
    """The library files a take was built from (engine metadata ``sources``), one line each."""
    src = (getattr(take, "metadata", None) or {}).get("sources") or []
    lines = []
    for s in src if isinstance(src, list) else []:
        if isinstance(s, dict) and s.get("file"):
            extra = "".join(f", {k} {s[k]:.2f}" for k in ("offset_s", "gain_db") if isinstance(s.get(k), (int, float)))
            lines.append(f"{s['file']}{extra}")
    return "\n".join(lines)


def wave_icon(audio, size: QSize = WAVE_ICON) -> QPixmap:
    """The take's waveform at true level: full scale fills the icon's half height."""
    from .curve_ops import envelope

    pm = QPixmap(size)
    pm.fill(QColor(theme.BASE))
    a = np.asarray(audio, np.float32).reshape(-1)
    if a.size:
        lo, hi = envelope(a, size.width())
        p = QPainter(pm)
        p.setPen(QColor(theme.WAVE))
        mid, half = size.height() / 2, size.height() / 2 - 1
        for x, (l, h) in enumerate(zip(np.clip(lo, -1, 1).tolist(), np.clip(hi, -1, 1).tolist())):
            p.drawLine(x, int(mid - h * half), x, int(mid - l * half))
        if np.abs(a).max() >= 1.0:  # clipped: a red top and bottom line
            p.setPen(QColor(theme.STATUS_COLOURS["failed"]))
            p.drawLine(0, 0, size.width(), 0)
            p.drawLine(0, size.height() - 1, size.width(), size.height() - 1)
        p.end()
    return pm


class TakesList(QWidget):
    current_changed = Signal(int)
    kept_changed = Signal(int)
    note_changed = Signal(int, str)
    regenerate_requested = Signal()
    ab_requested = Signal(int)   # the index to switch to, playhead kept

    def __init__(self, parent=None):
        super().__init__(parent)
        self._takes: list = []
        self._kept: int | None = None
        self._notes: dict[int, str] = {}
        self._previous: int | None = None
        self.list = QListWidget()
        self.list.setObjectName("takes")
        self.list.setMinimumHeight(70)
        self.list.setIconSize(WAVE_ICON)
        self.list.setFont(theme.mono_font(9))
        self.list.currentRowChanged.connect(self._on_row)
        self.list.itemDoubleClicked.connect(lambda item: self.keep(self.list.row(item)))
        self.keep_button = QPushButton("Keep take")
        self.keep_button.setToolTip("Use the selected take for this clip's stem (double-click a take does the same)")
        self.keep_button.clicked.connect(lambda: self.keep(self.list.currentRow()))
        self.ab_button = QPushButton("A/B")
        self.ab_button.setToolTip("Switch between this take and the one auditioned before it, at the same "
                                  "playhead (key: B)")
        self.ab_button.clicked.connect(self.toggle_ab)
        self.regen_button = QPushButton("Regenerate clip")
        self.regen_button.setToolTip("New takes for this clip only; other clips are untouched")
        self.regen_button.clicked.connect(self.regenerate_requested)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note for this take")
        self.note.editingFinished.connect(self._note_done)
        self.sources = QLabel("")
        self.sources.setObjectName("hint")
        self.sources.setWordWrap(False)
        self.hint = QLabel("No takes yet: generate this clip")
        self.hint.setObjectName("hint")
        row = QHBoxLayout()
        row.addWidget(self.hint, 1)
        row.addWidget(self.ab_button)
        row.addWidget(self.regen_button)
        row.addWidget(self.keep_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.note)
        lay.addWidget(self.sources)
        lay.addLayout(row)
        self._sync_buttons()

    def set_takes(self, takes, kept: int | None = None, notes: dict[int, str] | None = None) -> None:
        """``notes``: seed -> text."""
        self._takes = list(takes or [])
        self._kept = kept if kept is not None and 0 <= kept < len(self._takes) else None
        self._notes = dict(notes or {})
        self._previous = None
        self.list.blockSignals(True)
        self.list.clear()
        for i, take in enumerate(self._takes):
            item = QListWidgetItem(QIcon(wave_icon(take.audio)), "")
            self.list.addItem(item)
            self._refresh(i)
        self.list.blockSignals(False)
        self._hint()
        if self._takes:
            self.list.setCurrentRow(self._kept if self._kept is not None else 0)
        self._show_current()
        self._sync_buttons()

    def _hint(self) -> None:
        n = len(self._takes)
        self.hint.setText("No takes yet: generate this clip" if not n else
                          f"{n} takes; take {self._kept + 1} kept" if self._kept is not None else
                          f"{n} takes; none kept yet (double-click one to keep it)")

    def _refresh(self, i: int) -> None:
        take = self._takes[i]
        item = self.list.item(i)
        item.setText(describe_take(i, take, i == self._kept, self._notes.get(int(take.seed), "")))
        item.setForeground(QColor(theme.ACCENT if i == self._kept else theme.TEXT))
        src = sources_text(take)
        item.setToolTip(f"sources:\n{src}" if src else f"seed {take.seed}")

    def takes(self) -> list:
        return list(self._takes)

    def kept(self) -> int | None:
        return self._kept

    def current(self) -> int:
        return self.list.currentRow()

    def current_take(self):
        i = self.list.currentRow()
        return self._takes[i] if 0 <= i < len(self._takes) else None

    def keep(self, index: int) -> None:
        if not 0 <= index < len(self._takes):
            return
        self.show_kept(index)
        self.kept_changed.emit(index)

    def show_kept(self, index: int | None) -> None:
        """Mark ``index`` kept without emitting (undo / redo)."""
        self._kept = index if index is not None and 0 <= index < len(self._takes) else None
        for i in range(self.list.count()):
            self._refresh(i)
        self._hint()

    def show_notes(self, notes: dict[int, str]) -> None:
        self._notes = dict(notes)
        for i in range(self.list.count()):
            self._refresh(i)
        self._show_current()

    def toggle_ab(self) -> None:
        """Flip to the take auditioned before this one (or take 2 / take 1 when there is none yet)."""
        if len(self._takes) < 2:
            return
        now = self.list.currentRow()
        other = self._previous if self._previous is not None and self._previous != now else (1 if now == 0 else 0)
        self.ab_requested.emit(other)
        self.list.setCurrentRow(other)

    def _on_row(self, row: int) -> None:
        self._sync_buttons()
        self._show_current()
        if 0 <= row < len(self._takes):
            self.current_changed.emit(row)

    def _show_current(self) -> None:
        take = self.current_take()
        self.note.blockSignals(True)
        self.note.setText("" if take is None else self._notes.get(int(take.seed), ""))
        self.note.blockSignals(False)
        self.note.setEnabled(take is not None)
        src = "" if take is None else sources_text(take)
        self.sources.setText(f"Sources: {src.replace(chr(10), '; ')}" if src else "")
        self.sources.setToolTip(src)
        row = self.list.currentRow()
        if getattr(self, "_last_row", None) is not None and self._last_row != row:
            self._previous = self._last_row
        self._last_row = row

    def _note_done(self) -> None:
        i = self.list.currentRow()
        if 0 <= i < len(self._takes):
            text = self.note.text().strip()
            if text != self._notes.get(int(self._takes[i].seed), ""):
                self.note_changed.emit(i, text)

    def _sync_buttons(self) -> None:
        ok = 0 <= self.list.currentRow() < len(self._takes)
        self.keep_button.setEnabled(ok)
        self.ab_button.setEnabled(len(self._takes) > 1)

    def set_busy(self, busy: bool) -> None:
        self.regen_button.setEnabled(not busy)
        self.list.setEnabled(not busy or bool(self._takes))
        if busy:
            self.hint.setText("Generating\u2026")
        self.keep_button.setEnabled(not busy and 0 <= self.list.currentRow() < len(self._takes))
