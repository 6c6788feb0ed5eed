"""The picture viewer: as large as the artist makes it, sharp at that size, with SMPTE
timecode at the edit's rate, the frame number, and the energy curve's hits marked.

``Viewer.show_frame(frame, seconds)`` paints an RGB frame fitted to the widget (aspect
kept). The panel decodes frames at the size shown (``wanted_size()``, through the engine
process, ahead of the playhead while playing) and shows the preview frame only where a
decode has not landed yet, so nothing is blown up from a thumbnail (``sharp`` says which is
showing; ``shown`` counts both kinds). ``resized`` tells the panel to decode at a new size.
``set_hits(times)`` marks the hits (seconds of the clip) on a strip under the picture; the
strip lights when the playhead is within one frame of a hit.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme
from .timecode import frame_of, smpte

TC_H, HIT_H = 22, 10
MAX_DECODE = 720  # short side of a decoded frame: sharp at any viewer size on a 1440 px screen


def find_hits(energy, duration: float, *, rise: float = 0.12) -> list[float]:
    """Hit times (seconds) of an energy curve: local maxima that rise at least ``rise`` above the
    lowest point since the previous hit."""
    e = np.asarray(energy, np.float64).reshape(-1)
    if e.size < 3 or duration <= 0:
        return []
    out, low = [], e[0]
    for i in range(1, e.size - 1):
        low = min(low, e[i])
        if e[i] >= e[i - 1] and e[i] > e[i + 1] and e[i] - low >= rise:
            out.append(i / (e.size - 1) * duration)
            low = e[i]
    return out


class Viewer(QWidget):
    resized = Signal()  # the panel decodes the frame again at the new size

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(160, 90 + TC_H + HIT_H)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._img: QImage | None = None
        self.seconds = 0.0        # clip seconds of the frame shown
        self.record_in = 0.0      # absolute record-in of the clip (global start included)
        self.rate = Fraction(25)
        self.duration = 0.0
        self.hits: list[float] = []
        self.show_hits = True
        self.sharp = False
        self.message = "no picture"
        self.shown = {"sharp": 0, "preview": 0}  # frames painted of each kind (playback is judged by it)

    def set_clip(self, record_in: float, duration: float, rate) -> None:
        self.record_in, self.duration, self.rate = float(record_in), float(duration), Fraction(rate)
        self.update()

    def set_hits(self, times) -> None:
        self.hits = [float(t) for t in times]
        self.update()

    def wanted_size(self) -> int:
        """The picture height to decode for the size shown (device pixels)."""
        r = self.picture_rect()
        return int(max(64, min(MAX_DECODE, r.height() * self.devicePixelRatioF())))

    def picture_rect(self) -> QRectF:
        return QRectF(0, 0, self.width(), max(1, self.height() - TC_H - HIT_H))

    def show_frame(self, frame, seconds: float, *, sharp: bool = False) -> None:
        self.seconds = float(seconds)
        if frame is None:
            self._img, self.sharp = None, False
        else:
            f = np.ascontiguousarray(np.asarray(frame)[..., :3], dtype=np.uint8)
            h, w = f.shape[:2]
            self._img = QImage(f.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            self.sharp = sharp
            self.shown["sharp" if sharp else "preview"] += 1
        self.update()

    def resizeEvent(self, ev):  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        self.resized.emit()

    def set_time(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.update()

    def timecode(self) -> str:
        return self.timecode_at(self.seconds)

    def timecode_at(self, seconds: float) -> str:
        return smpte(self.record_in + seconds, self.rate)

    def frame_number(self) -> int:
        return frame_of(self.seconds, self.rate)

    def sizeHint(self):  # noqa: N802 - Qt API
        return QSize(384, 216 + TC_H + HIT_H)

    def paintEvent(self, _ev):  # noqa: N802 - Qt API
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), QColor("#000000"))
            r = self.picture_rect()
            if self._img is not None:
                iw, ih = self._img.width(), self._img.height()
                s = min(r.width() / iw, r.height() / ih)
                target = QRectF(r.center().x() - iw * s / 2, r.center().y() - ih * s / 2, iw * s, ih * s)
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                p.drawImage(target, self._img)
            else:
                p.setPen(QColor(theme.TEXT_DIM))
                p.drawText(r, int(Qt.AlignmentFlag.AlignCenter), self.message)
            strip = QRectF(0, r.bottom(), self.width(), HIT_H)
            p.fillRect(strip, QColor(theme.PANEL))
            if self.show_hits and self.duration > 0:
                near = 1.0 / float(self.rate)
                for t in self.hits:
                    x = t / self.duration * self.width()
                    lit = abs(t - self.seconds) <= near
                    p.setPen(QPen(QColor(theme.PLAYHEAD if lit else theme.ACCENT), 3 if lit else 1))
                    p.drawLine(int(x), int(strip.top()), int(x), int(strip.bottom()))
                if self.duration:
                    x = self.seconds / self.duration * self.width()
                    p.setPen(QPen(QColor(theme.TEXT), 1))
                    p.drawLine(int(x), int(strip.top()), int(x), int(strip.bottom()))
            bar = QRectF(0, strip.bottom(), self.width(), TC_H)
            p.fillRect(bar, QColor(theme.BASE))
            p.setFont(theme.mono_font(12))
            p.setPen(QColor(theme.ACCENT))
            p.drawText(bar.adjusted(6, 0, -6, 0), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                       self.timecode())
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(bar.adjusted(6, 0, -6, 0), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight),
                       f"frame {self.frame_number()}")
        finally:
            p.end()
