"""The takes of one clip: listed with their seeds; one is auditioned, one is kept.

``set_takes(takes, kept)`` fills the list from engine ``Take`` objects (or anything with
``seed``, ``audio`` and ``sample_rate``); selecting a row emits ``current_changed(index)``
(the panel loads it into the curve editor and the player); "Keep" (or a double-click)
emits ``kept_changed(index)``. The kept take is marked with a star.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from . import theme


def describe_take(index: int, take, kept: bool) -> str:
    audio = np.asarray(take.audio)
    dur = audio.shape[0] / float(take.sample_rate) if take.sample_rate else 0.0
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    level = f"{20 * np.log10(peak):.1f} dBFS" if peak > 0 else "silent"
    star = "\u2605 " if kept else "   "
    return f"{star}Take {index + 1}   seed {take.seed}   {dur:.2f} s   peak {level}"


class TakesList(QWidget):
    current_changed = Signal(int)
    kept_changed = Signal(int)
    regenerate_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._takes: list = []
        self._kept: int | None = None
        self.list = QListWidget()
        self.list.setObjectName("takes")
        self.list.setMinimumHeight(70)
        self.list.setFont(theme.mono_font(10))
        self.list.currentRowChanged.connect(self._on_row)
        self.list.itemDoubleClicked.connect(lambda item: self.keep(self.list.row(item)))
        self.keep_button = QPushButton("Keep take")
        self.keep_button.setToolTip("Use the selected take for this clip's stem (double-click a take does the same)")
        self.keep_button.clicked.connect(lambda: self.keep(self.list.currentRow()))
        self.regen_button = QPushButton("Regenerate clip")
        self.regen_button.setToolTip("New takes for this clip only; other clips are untouched")
        self.regen_button.clicked.connect(self.regenerate_requested)
        self.hint = QLabel("No takes yet: generate this clip")
        self.hint.setObjectName("hint")
        row = QHBoxLayout()
        row.addWidget(self.hint, 1)
        row.addWidget(self.regen_button)
        row.addWidget(self.keep_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        lay.addLayout(row)
        self._sync_buttons()

    def set_takes(self, takes, kept: int | None = None) -> None:
        self._takes = list(takes or [])
        self._kept = kept if kept is not None and 0 <= kept < len(self._takes) else None
        self.list.blockSignals(True)
        self.list.clear()
        for i, take in enumerate(self._takes):
            item = QListWidgetItem(describe_take(i, take, i == self._kept))
            if i == self._kept:
                item.setForeground(QColor(theme.ACCENT))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.hint.setText(f"{len(self._takes)} takes" if self._takes else "No takes yet: generate this clip")
        if self._takes:
            self.list.setCurrentRow(self._kept if self._kept is not None else 0)
        self._sync_buttons()

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
        self._kept = index
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setText(describe_take(i, self._takes[i], i == index))
            item.setForeground(QColor(theme.ACCENT if i == index else theme.TEXT))
        self.kept_changed.emit(index)

    def _on_row(self, row: int) -> None:
        self._sync_buttons()
        if 0 <= row < len(self._takes):
            self.current_changed.emit(row)

    def _sync_buttons(self) -> None:
        self.keep_button.setEnabled(0 <= self.list.currentRow() < len(self._takes))

    def set_busy(self, busy: bool) -> None:
        self.regen_button.setEnabled(not busy)
        self.list.setEnabled(not busy or bool(self._takes))
        if busy:
            self.hint.setText("Generating\u2026")
        self.keep_button.setEnabled(not busy and 0 <= self.list.currentRow() < len(self._takes))
