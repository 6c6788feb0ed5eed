"""Levels and placement of a clip's take: gain (dB), fade in / out (ms), nudge (frames and ms),
the take's true peak and loudness after them, a "would clip" flag, and a playback meter.

``LevelsBox.load(settings, rate)`` shows a clip's values without emitting; each change is
reported as ``changed(dict)`` with the settings keys (``gain_db``, ``fade_in``, ``fade_out``,
``nudge``, in seconds). ``show_take(take, settings)`` measures what the stem will hold
(:func:`melfoley.core.levels.place_take`, then the -1 dBTP ceiling) and flags a take that
would clip before export. ``Meter.set_level(peak)`` is driven by the panel during playback.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from . import theme

METER_FLOOR_DB = -60.0


class Meter(QWidget):
    """A horizontal peak meter, -60 to 0 dBFS, with a peak hold."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(80, 10)
        self.db = METER_FLOOR_DB
        self.hold = METER_FLOOR_DB

    def sizeHint(self):  # noqa: N802 - Qt API
        return QSize(160, 12)

    def set_level(self, peak: float) -> None:
        self.db = 20 * np.log10(peak) if peak > 1e-6 else METER_FLOOR_DB
        self.hold = max(self.db, self.hold - 0.5)
        self.update()

    def reset(self) -> None:
        self.db = self.hold = METER_FLOOR_DB
        self.update()

    def paintEvent(self, _ev):  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(theme.BASE))
        frac = lambda d: float(np.clip((d - METER_FLOOR_DB) / -METER_FLOOR_DB, 0, 1))  # noqa: E731
        w = self.width()
        colour = theme.STATUS_COLOURS["failed"] if self.db > -1 else (
            theme.STATUS_COLOURS["stale"] if self.db > -12 else theme.WAVE)
        p.fillRect(QRectF(0, 1, frac(self.db) * w, self.height() - 2), QColor(colour))
        p.fillRect(QRectF(frac(self.hold) * w - 1, 0, 2, self.height()), QColor(theme.TEXT))
        p.end()


class LevelsBox(QWidget):
    changed = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._loading = False
        self.rate = 25.0
        self.gain = QDoubleSpinBox()
        self.gain.setRange(-60.0, 24.0)
        self.gain.setSingleStep(0.5)
        self.gain.setSuffix(" dB")
        self.gain.setToolTip("Gain of the take in its stem (batch and panel export apply the same)")
        self.fade_in = QSpinBox()
        self.fade_out = QSpinBox()
        for w, name in ((self.fade_in, "in"), (self.fade_out, "out")):
            w.setRange(0, 10000)
            w.setSingleStep(10)
            w.setSuffix(" ms")
            w.setToolTip(f"Linear fade {name} of the stem")
        self.nudge_frames = QSpinBox()
        self.nudge_frames.setRange(-100, 100)
        self.nudge_frames.setSuffix(" fr")
        self.nudge_ms = QDoubleSpinBox()
        self.nudge_ms.setRange(-2000.0, 2000.0)
        self.nudge_ms.setDecimals(1)
        self.nudge_ms.setSuffix(" ms")
        self.nudge_ms.setToolTip("Slip the take inside the clip: + is later (the clip's length is kept)")
        self.readout = QLabel("")
        self.readout.setObjectName("hint")
        self.meter = Meter()
        from .flow import FlowLayout, pair

        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        flow = FlowLayout(spacing=6)
        for w in (pair("Gain", self.gain), pair("Fade in", self.fade_in), pair("out", self.fade_out),
                  pair("Nudge", self.nudge_frames), self.nudge_ms, pair("Meter", self.meter)):
            flow.addWidget(w)
        rows.addLayout(flow)
        from .flow import fixed_lines

        rows.addWidget(fixed_lines(self.readout))
        self.gain.valueChanged.connect(lambda v: self._emit(gain_db=round(float(v), 3)))
        self.fade_in.valueChanged.connect(lambda v: self._emit(fade_in=v / 1000.0))
        self.fade_out.valueChanged.connect(lambda v: self._emit(fade_out=v / 1000.0))
        self.nudge_ms.valueChanged.connect(self._nudge_ms)
        self.nudge_frames.valueChanged.connect(self._nudge_frames)

    def load(self, settings, rate: float) -> None:
        self._loading = True
        try:
            self.rate = float(rate) or 25.0
            self.gain.setValue(float(settings.gain_db))
            self.fade_in.setValue(int(round(settings.fade_in * 1000)))
            self.fade_out.setValue(int(round(settings.fade_out * 1000)))
            self.nudge_ms.setValue(float(settings.nudge) * 1000.0)
            self.nudge_frames.setValue(int(round(settings.nudge * self.rate)))
        finally:
            self._loading = False

    def _nudge_ms(self, ms: float) -> None:
        if self._loading:
            return
        self._loading = True
        self.nudge_frames.setValue(int(round(ms / 1000.0 * self.rate)))
        self._loading = False
        self._emit(nudge=round(ms / 1000.0, 6))

    def _nudge_frames(self, frames: int) -> None:
        if self._loading:
            return
        self.nudge_ms.setValue(frames * 1000.0 / self.rate)  # emits through _nudge_ms

    def _emit(self, **changes) -> None:
        if not self._loading:
            self.changed.emit(changes)

    def show_take(self, take, settings) -> bool:
        """The take's level as its stem will hold it; True when it would clip (flagged in red).

        The engine process measured the take (true peak, loudness); the gain adds to both, and
        fades and nudge can only lower the peak, so "would clip" is never missed here; the
        export measures the placed take exactly."""
        if take is None or settings is None:
            self.readout.setText("No take to measure")
            self.readout.setStyleSheet("")
            return False
        from melfoley.core.levels import CEILING_DBTP

        from .takes import take_levels

        tp, lufs = take_levels(take)
        tp += float(settings.gain_db)
        clips = tp > CEILING_DBTP
        text = f"with gain: true peak {tp:+.1f} dBTP, " + (
            f"{lufs + float(settings.gain_db):.1f} LUFS" if lufs is not None else "loudness --")
        if clips:
            text += (f"  \u2014 WOULD CLIP: over the {CEILING_DBTP:g} dBTP ceiling; export lowers it by "
                     f"{tp - CEILING_DBTP:.1f} dB (lower the gain)")
        self.readout.setText(text)
        self.readout.setStyleSheet(f"color: {theme.STATUS_COLOURS['failed']};" if clips else "")
        return clips
