"""The energy-curve editor: ``E_t`` drawn over the clip's motion and the take's waveform.

Tools (``set_tool``): ``draw`` (the pen: drag to draw the curve), ``drag`` (grab the curve
and move it; neighbours follow with a soft falloff), ``select`` (drag a time range).
Actions: ``smooth()`` and ``scale_selection(f)`` act on the selection (or the whole clip),
``reset()`` restores the predicted curve, ``undo()`` steps back (the panel's Ctrl+Z is its
undo stack, which covers the curve with every other edit). Right-drag always selects.
Every finished edit emits ``edited(np.ndarray)``. A playhead (seconds) is drawn on top.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import curve_ops, theme
from .layer import CachedLayer

MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 34, 10, 20, 20  # the legend sits in the top margin
DRAG_RADIUS_S = 0.25  # falloff radius of the drag tool, seconds
TOOLS = ("draw", "drag", "select")


class CurveEditor(QWidget):
    edited = Signal(object)            # np.ndarray, the new curve
    seek_requested = Signal(float)     # seconds (click on the time ruler)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(320, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._energy = np.zeros(0, np.float32)
        self._predicted = np.zeros(0, np.float32)
        self._motion = np.zeros(0, np.float32)
        self._audio = np.zeros(0, np.float32)
        self._duration = 0.0
        self._tool = "draw"
        self._selection: tuple[int, int] | None = None
        self._undo: list[np.ndarray] = []
        self._press: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None
        self._selecting = False
        self._playhead: float | None = None
        self._message = "Select a clip to see its energy curve"
        self._version = 0
        self._layer = CachedLayer()   # everything but the playhead, redrawn only on change

    def _dirty(self) -> None:
        self._version += 1
        self.update()

    # ------------------------------------------------------------------ data
    def set_curve(self, energy, predicted=None, duration: float | None = None) -> None:
        """Show ``energy`` (the artist's curve) against ``predicted`` (the model's)."""
        self._energy = curve_ops._clean(energy)
        self._predicted = curve_ops._clean(self._energy if predicted is None else predicted)
        if duration is not None:
            self._duration = float(duration)
        self._selection = None
        self._undo.clear()
        self._dirty()

    def set_motion(self, motion) -> None:
        m = np.asarray(motion if motion is not None else [], dtype=np.float32).reshape(-1)
        peak = float(m.max()) if m.size else 0.0
        self._motion = m / peak if peak > 0 else m
        self._dirty()

    def set_waveform(self, audio) -> None:
        self._audio = np.asarray(audio if audio is not None else [], dtype=np.float32).reshape(-1)
        self._dirty()

    def clear(self, message: str = "") -> None:
        self._energy = self._predicted = self._motion = self._audio = np.zeros(0, np.float32)
        self._duration, self._selection, self._playhead = 0.0, None, None
        self._message = message or self._message
        self._dirty()

    def energy(self) -> np.ndarray:
        return self._energy.copy()

    def predicted(self) -> np.ndarray:
        return self._predicted.copy()

    def is_edited(self) -> bool:
        return self._energy.shape != self._predicted.shape or not np.allclose(self._energy, self._predicted, atol=1e-4)

    def selection(self) -> tuple[int, int] | None:
        return self._selection

    def set_selection(self, lo: int, hi: int) -> None:
        lo, hi = sorted((int(lo), int(hi)))
        self._selection = (max(0, lo), min(self._energy.shape[0], hi)) if hi > lo else None
        self._dirty()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown curve tool {tool!r}; choose one of {', '.join(TOOLS)}")
        self._tool = tool
        self.setCursor(Qt.CursorShape.CrossCursor if tool != "drag" else Qt.CursorShape.SizeVerCursor)

    def tool(self) -> str:
        return self._tool

    def set_playhead(self, seconds: float | None) -> None:
        self._playhead = seconds
        self.update()

    # ------------------------------------------------------------------ actions
    def _range(self) -> tuple[int, int]:
        return self._selection or (0, self._energy.shape[0])

    def _commit(self, new: np.ndarray, *, push: bool = True) -> None:
        if push:
            self._undo.append(self._energy.copy())
            del self._undo[:-50]
        self._energy = new.astype(np.float32)
        self._dirty()
        self.edited.emit(self._energy.copy())

    def smooth(self, width: int = 9) -> None:
        if self._energy.size:
            self._commit(curve_ops.smooth(self._energy, *self._range(), width=width))

    def scale_selection(self, factor: float) -> None:
        if self._energy.size:
            self._commit(curve_ops.scale(self._energy, *self._range(), factor))

    def reset(self) -> None:
        if self._energy.size:
            self._commit(self._predicted.copy())

    def undo(self) -> None:
        if self._undo:
            self._commit(self._undo.pop(), push=False)

    # ------------------------------------------------------------------ geometry
    def plot_rect(self) -> QRectF:
        return QRectF(MARGIN_L, MARGIN_T, max(1, self.width() - MARGIN_L - MARGIN_R),
                      max(1, self.height() - MARGIN_T - MARGIN_B))

    def frame_at(self, x: float) -> int:
        r, n = self.plot_rect(), self._energy.shape[0]
        if n == 0:
            return 0
        return int(np.clip(round((x - r.left()) / r.width() * (n - 1)), 0, n - 1))

    def value_at(self, y: float) -> float:
        r = self.plot_rect()
        return float(np.clip((r.bottom() - y) / r.height(), 0.0, 1.0))

    def point_for(self, frame: int, value: float) -> QPointF:
        """Widget coordinates of (frame, value): what a test clicks to draw at a frame."""
        r, n = self.plot_rect(), max(2, self._energy.shape[0])
        return QPointF(r.left() + frame / (n - 1) * r.width(), r.bottom() - value * r.height())

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, ev):
        if not self._energy.size:
            return
        pos = ev.position()
        if pos.y() > self.plot_rect().bottom() + 2 and self._duration > 0:
            frac = (pos.x() - self.plot_rect().left()) / self.plot_rect().width()
            self.seek_requested.emit(float(np.clip(frac, 0, 1)) * self._duration)
            return
        i, v = self.frame_at(pos.x()), self.value_at(pos.y())
        self._press = self._last = (i, v)
        self._selecting = ev.button() == Qt.MouseButton.RightButton or self._tool == "select"
        if self._selecting:
            self._selection = None
        else:
            self._undo.append(self._energy.copy())
            self._apply_stroke(i, v, i, v)
        self._dirty()

    def mouseMoveEvent(self, ev):
        if self._press is None:
            return
        i, v = self.frame_at(ev.position().x()), self.value_at(ev.position().y())
        if self._selecting:
            self.set_selection(self._press[0], i + 1)
        else:
            self._apply_stroke(*self._last, i, v)
        self._last = (i, v)

    def mouseReleaseEvent(self, ev):
        if self._press is None:
            return
        was_selecting, self._press, self._selecting = self._selecting, None, False
        if not was_selecting:
            self.edited.emit(self._energy.copy())

    def _apply_stroke(self, i0: int, v0: float, i1: int, v1: float) -> None:
        if self._tool == "drag":
            radius = max(1, int(DRAG_RADIUS_S / max(self._duration, 1e-6) * self._energy.shape[0]))
            self._energy = curve_ops.drag_point(self._energy, i1, v1, radius)
        else:
            self._energy = curve_ops.draw_segment(self._energy, i0, v0, i1, v1)
        self._dirty()

    def wheelEvent(self, ev):
        """Wheel over a selection scales it by 5 % per notch (the quick way to ride a level)."""
        if self._selection and self._energy.size:
            steps = ev.angleDelta().y() / 120.0
            self.scale_selection(1.05 ** steps)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _ev):
        layer = self._layer.get(self, self._version, self._paint_layer)
        p = QPainter(self)
        try:
            p.drawPixmap(0, 0, layer)
            r = self.plot_rect()
            if self._energy.size and self._playhead is not None and self._duration > 0:
                x = r.left() + min(1.0, self._playhead / self._duration) * r.width()
                p.setPen(QPen(QColor(theme.PLAYHEAD), 2))
                p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        finally:
            p.end()

    def _paint_layer(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(theme.BASE))
        r = self.plot_rect()
        p.setPen(QPen(QColor(theme.BORDER), 1))
        p.drawRect(r)
        n = self._energy.shape[0]
        if n == 0:
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(r.adjusted(24, 8, -24, -8), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                       self._message)
            return
        self._paint_grid(p, r)
        if self._selection:
            x0, x1 = self.point_for(self._selection[0], 0).x(), self.point_for(self._selection[1] - 1, 0).x()
            p.fillRect(QRectF(x0, r.top(), max(2.0, x1 - x0), r.height()), QColor(240, 160, 48, 40))
        if self._motion.size:
            self._paint_fill(p, r, curve_ops.resample(self._motion, max(2, int(r.width()))), theme.MOTION, 90)
        if self._audio.size:
            lo, hi = curve_ops.envelope(self._audio, int(r.width()))
            mid, half = r.center().y(), r.height() * 0.5  # true level: full scale fills the plot
            xs = r.left() + np.arange(lo.shape[0], dtype=np.float64)
            top, bottom = mid - np.clip(hi, -1, 1) * half, mid - np.clip(lo, -1, 1) * half
            p.setPen(QPen(QColor(theme.WAVE), 1))
            p.drawLines([QLineF(x, a, x, b) for x, a, b in zip(xs.tolist(), top.tolist(), bottom.tolist())])
        self._paint_line(p, r, self._predicted, QPen(QColor(theme.TEXT_DIM), 1, Qt.PenStyle.DashLine))
        self._paint_fill(p, r, self._energy, theme.ACCENT, 35)
        self._paint_line(p, r, self._energy, QPen(QColor(theme.ACCENT), 2))
        self._paint_legend(p, r)

    def _paint_legend(self, p: QPainter, r: QRectF) -> None:
        items = [("energy", theme.ACCENT), ("predicted", theme.TEXT_DIM)]
        if self._motion.size:
            items.append(("motion", theme.MOTION))
        if self._audio.size:
            items.append(("take", theme.WAVE))
        fm = p.fontMetrics()
        x = max(r.left(), r.right() - 8 - sum(fm.horizontalAdvance(t) + 26 for t, _ in items))
        y = max(0.0, r.top() - fm.height() - 2)  # above the plot: never over the curve
        for text, colour in items:
            p.fillRect(QRectF(x, y + fm.height() / 2 - 2, 12, 4), QColor(colour))
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(QRectF(x + 16, y, fm.horizontalAdvance(text) + 4, fm.height()), text)
            x += fm.horizontalAdvance(text) + 26

    def _paint_grid(self, p: QPainter, r: QRectF) -> None:
        p.setPen(QColor(theme.TEXT_DIM))
        for v in (0.0, 0.5, 1.0):
            y = r.bottom() - v * r.height()
            p.drawText(QRectF(0, y - 8, MARGIN_L - 4, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       f"{v:.1f}")
        if self._duration <= 0:
            return
        step = next(s for s in (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 1e9) if self._duration / s <= 12)
        t = 0.0
        while t <= self._duration + 1e-9:
            x = r.left() + t / self._duration * r.width()
            p.setPen(QPen(QColor(theme.BORDER), 1, Qt.PenStyle.DotLine))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(QRectF(x - 30, r.bottom() + 2, 60, MARGIN_B - 2), Qt.AlignmentFlag.AlignCenter, f"{t:g}s")
            t += step

    def _path(self, r: QRectF, curve: np.ndarray) -> QPainterPath:
        path = QPainterPath()
        n = curve.shape[0]
        xs = r.left() + np.arange(n) / max(1, n - 1) * r.width()
        ys = r.bottom() - curve * r.height()
        path.moveTo(xs[0], ys[0])
        for x, y in zip(xs[1:].tolist(), ys[1:].tolist()):
            path.lineTo(x, y)
        return path

    def _paint_line(self, p: QPainter, r: QRectF, curve: np.ndarray, pen: QPen) -> None:
        if curve.size:
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(self._path(r, curve))

    def _paint_fill(self, p: QPainter, r: QRectF, curve: np.ndarray, colour: str, alpha: int) -> None:
        if not curve.size:
            return
        path = self._path(r, curve)
        path.lineTo(r.right(), r.bottom())
        path.lineTo(r.left(), r.bottom())
        path.closeSubpath()
        c = QColor(colour)
        c.setAlpha(alpha)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(c)
        p.drawPath(path)
