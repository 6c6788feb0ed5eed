"""The energy-curve editor: ``E_t`` drawn over the clip's motion and the take's waveform.

Tools (``set_tool``): ``draw`` (the pen: drag to draw the curve), ``drag`` (grab the curve
and move it; neighbours follow with a soft falloff), ``select`` (drag a time range).
Actions: ``smooth()`` and ``scale_selection(f)`` act on the selection (or the whole clip),
``reset()`` restores the predicted curve, ``undo()`` steps back (the panel's Ctrl+Z is its
undo stack, which covers the curve with every other edit). Right-drag always selects.
Every finished edit emits ``edited(np.ndarray)``. A playhead (seconds) is drawn on top.

Zoom is horizontal: Ctrl+wheel zooms around the pointer, ``+`` / ``-`` around the playhead
(or the middle), ``Z`` to the selection, ``F`` fits the clip; Shift+wheel and the scroll bar
under the time ruler move along. ``set_view(first, last)`` shows control frames
[first, last]. Every mapping between pixels and frames goes through the view, so a stroke
drawn zoomed in lands on exactly the frames under the pen. A click or drag on the time ruler
asks to seek (``seek_requested``: the panel scrubs there).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QScrollBar, QSizePolicy, QWidget

from . import curve_ops, theme
from .layer import CachedLayer

MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 34, 10, 20, 32  # the legend sits in the top margin
SCROLL_H = 11       # the scroll bar under the time ruler
MIN_VIEW = 8        # control frames: the closest zoom
ZOOM_STEP = 1.5     # + / -
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
        self._view = (0.0, 1.0)       # control frames shown, first and last (fit: 0 .. n - 1)
        self._scrubbing = False
        self.scroll = QScrollBar(Qt.Orientation.Horizontal, self)
        self.scroll.valueChanged.connect(self._scrolled)
        self._message = "Select a clip to see its energy curve"
        self._version = 0
        self._layer = CachedLayer()   # everything but the playhead, redrawn only on change

    def _dirty(self) -> None:
        self._version += 1
        self.update()

    # ------------------------------------------------------------------ data
    def set_curve(self, energy, predicted=None, duration: float | None = None) -> None:
        """Show ``energy`` (the artist's curve) against ``predicted`` (the model's)."""
        same = self._energy.shape[0] == np.asarray(energy).reshape(-1).shape[0] and (
            duration is None or float(duration) == self._duration)
        self._energy = curve_ops._clean(energy)
        self._predicted = curve_ops._clean(self._energy if predicted is None else predicted)
        if duration is not None:
            self._duration = float(duration)
        if not same:
            self.fit()  # a new clip; the same clip after an edit keeps its zoom
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
        self.fit()

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

    # ------------------------------------------------------------------ zoom
    def view(self) -> tuple[float, float]:
        """The control frames shown at the plot's left and right edges."""
        return self._view

    def set_view(self, first: float, last: float) -> None:
        n1 = max(1.0, float(self._energy.shape[0] - 1))
        span = float(np.clip(last - first, min(MIN_VIEW, n1), n1))
        first = float(np.clip(first, 0.0, n1 - span))
        self._view = (first, first + span)
        self._sync_scroll()
        self._dirty()

    def fit(self) -> None:
        self.set_view(0.0, max(1.0, float(self._energy.shape[0] - 1)))

    def zoom_factor(self) -> float:
        """How many times closer than the whole clip (1 = fitted)."""
        return max(1.0, float(self._energy.shape[0] - 1)) / (self._view[1] - self._view[0])

    def zoom(self, factor: float, around_x: float | None = None) -> None:
        """Zoom by ``factor`` (> 1 closer) keeping the frame under ``around_x`` (pixels) still."""
        a, b = self._view
        r = self.plot_rect()
        if around_x is None:
            at = (self._frame_of_time(self._playhead) if self._playhead is not None
                  and a <= self._frame_of_time(self._playhead) <= b else (a + b) / 2)
            frac = (at - a) / (b - a)
        else:
            frac = float(np.clip((around_x - r.left()) / r.width(), 0.0, 1.0))
            at = a + frac * (b - a)
        span = (b - a) / factor
        self.set_view(at - frac * span, at - frac * span + span)

    def zoom_to_selection(self) -> None:
        if self._selection:
            lo, hi = self._selection
            pad = 0.05 * (hi - lo)
            self.set_view(lo - pad, hi - 1 + pad)

    def _frame_of_time(self, seconds: float) -> float:
        return seconds / self._duration * max(1, self._energy.shape[0] - 1) if self._duration > 0 else 0.0

    def _sync_scroll(self) -> None:
        a, b = self._view
        n1 = max(1.0, float(self._energy.shape[0] - 1))
        k = 1000.0 / (b - a)  # scroll units per frame: a page is 1000
        self.scroll.blockSignals(True)
        self.scroll.setRange(0, int(round((n1 - (b - a)) * k)))
        self.scroll.setPageStep(1000)
        self.scroll.setSingleStep(100)
        self.scroll.setValue(int(round(a * k)))
        self.scroll.setEnabled(b - a < n1 - 1e-6)
        self.scroll.blockSignals(False)

    def _scrolled(self, value: int) -> None:
        a, b = self._view
        first = value * (b - a) / 1000.0
        self._view = (first, first + b - a)
        self._dirty()

    def resizeEvent(self, ev):  # noqa: N802 - Qt API
        r = self.plot_rect()
        self.scroll.setGeometry(int(r.left()), int(self.height() - SCROLL_H), int(r.width()), SCROLL_H)
        super().resizeEvent(ev)

    def x_of_frame(self, frame) -> np.ndarray | float:
        """Widget x of control frame(s), through the view."""
        r, (a, b) = self.plot_rect(), self._view
        return r.left() + (np.asarray(frame, np.float64) - a) / (b - a) * r.width()

    def time_at(self, x: float) -> float:
        """Clip seconds under widget x (the ruler's seek)."""
        r, (a, b) = self.plot_rect(), self._view
        f = a + (x - r.left()) / r.width() * (b - a)
        return float(np.clip(f / max(1, self._energy.shape[0] - 1), 0.0, 1.0)) * self._duration

    def frame_at(self, x: float) -> int:
        r, n = self.plot_rect(), self._energy.shape[0]
        if n == 0:
            return 0
        a, b = self._view
        return int(np.clip(round(a + (x - r.left()) / r.width() * (b - a)), 0, n - 1))

    def value_at(self, y: float) -> float:
        r = self.plot_rect()
        return float(np.clip((r.bottom() - y) / r.height(), 0.0, 1.0))

    def point_for(self, frame: int, value: float) -> QPointF:
        """Widget coordinates of (frame, value): what a test clicks to draw at a frame."""
        r = self.plot_rect()
        return QPointF(float(self.x_of_frame(frame)), r.bottom() - value * r.height())

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, ev):
        if not self._energy.size:
            return
        pos = ev.position()
        if pos.y() > self.plot_rect().bottom() + 2 and self._duration > 0:
            self._scrubbing = True  # the time ruler: seek, and scrub while dragging
            self.seek_requested.emit(self.time_at(pos.x()))
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
        if self._scrubbing:
            self.seek_requested.emit(self.time_at(ev.position().x()))
            return
        if self._press is None:
            return
        i, v = self.frame_at(ev.position().x()), self.value_at(ev.position().y())
        if self._selecting:
            self.set_selection(self._press[0], i + 1)
        else:
            self._apply_stroke(*self._last, i, v)
        self._last = (i, v)

    def mouseReleaseEvent(self, ev):
        self._scrubbing = False
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
        """Ctrl+wheel zooms around the pointer, Shift+wheel scrolls; the plain wheel over a
        selection scales it by 5 % per notch (the quick way to ride a level)."""
        if not self._energy.size:
            return
        steps = (ev.angleDelta().y() or ev.angleDelta().x()) / 120.0
        mods = ev.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.25 ** steps, ev.position().x())
        elif mods & Qt.KeyboardModifier.ShiftModifier:
            a, b = self._view
            self.set_view(a - steps * 0.1 * (b - a), b - steps * 0.1 * (b - a))
        elif self._selection:
            self.scale_selection(1.05 ** steps)

    def keyPressEvent(self, ev):  # noqa: N802 - Qt API
        key = ev.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.zoom(1 / ZOOM_STEP)
        elif key == Qt.Key.Key_F:
            self.fit()
        elif key == Qt.Key.Key_Z:
            self.zoom_to_selection()
        else:
            super().keyPressEvent(ev)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _ev):
        layer = self._layer.get(self, self._version, self._paint_layer)
        p = QPainter(self)
        try:
            p.drawPixmap(0, 0, layer)
            r = self.plot_rect()
            if self._energy.size and self._playhead is not None and self._duration > 0:
                x = float(self.x_of_frame(self._frame_of_time(min(self._playhead, self._duration))))
                if r.left() <= x <= r.right():
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
        p.setClipRect(r.adjusted(-1, -2, 1, 2))  # zoomed in, the curve runs past the plot's edges
        if self._selection:
            x0, x1 = self.point_for(self._selection[0], 0).x(), self.point_for(self._selection[1] - 1, 0).x()
            p.fillRect(QRectF(x0, r.top(), max(2.0, x1 - x0), r.height()), QColor(240, 160, 48, 40))
        a, b = self._view
        n1 = max(1.0, float(n - 1))
        if self._motion.size:
            self._paint_fill(p, r, self._visible(self._motion, a / n1, b / n1, max(2, int(r.width()))),
                             theme.MOTION, 90, whole=True)
        if self._audio.size:
            k0 = int(np.floor(a / n1 * self._audio.size))
            k1 = max(k0 + 1, int(np.ceil(b / n1 * self._audio.size)))
            lo, hi = curve_ops.envelope(self._audio[k0:k1], int(r.width()))
            mid, half = r.center().y(), r.height() * 0.5  # true level: full scale fills the plot
            xs = r.left() + np.arange(lo.shape[0], dtype=np.float64)
            top, bottom = mid - np.clip(hi, -1, 1) * half, mid - np.clip(lo, -1, 1) * half
            p.setPen(QPen(QColor(theme.WAVE), 1))
            p.drawLines([QLineF(x, a, x, b) for x, a, b in zip(xs.tolist(), top.tolist(), bottom.tolist())])
        self._paint_line(p, r, self._predicted, QPen(QColor(theme.TEXT_DIM), 1, Qt.PenStyle.DashLine))
        self._paint_fill(p, r, self._energy, theme.ACCENT, 35)
        self._paint_line(p, r, self._energy, QPen(QColor(theme.ACCENT), 2))
        p.setClipping(False)
        self._paint_legend(p, r)

    @staticmethod
    def _visible(curve: np.ndarray, f0: float, f1: float, points: int) -> np.ndarray:
        """``curve`` (any length, spanning the clip) between fractions f0 and f1 of the clip, on ``points``."""
        src = np.linspace(0.0, 1.0, curve.shape[0]) if curve.shape[0] > 1 else np.zeros(1)
        return np.interp(np.linspace(f0, f1, points), src, curve).astype(np.float32)

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
        n1 = max(1, self._energy.shape[0] - 1)
        t0, t1 = self._view[0] / n1 * self._duration, self._view[1] / n1 * self._duration
        step = next(s for s in (0.01, 0.02, 0.04, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 1e9)
                    if (t1 - t0) / s <= 12)
        t = max(0.0, float(np.ceil(t0 / step - 1e-9) * step))
        while t <= t1 + 1e-9:
            x = float(self.x_of_frame(self._frame_of_time(t)))
            p.setPen(QPen(QColor(theme.BORDER), 1, Qt.PenStyle.DotLine))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(QRectF(x - 30, r.bottom() + 2, 60, MARGIN_B - SCROLL_H - 2), Qt.AlignmentFlag.AlignCenter,
                       f"{round(t, 3) + 0.0:g}s")  # + 0.0: never "-0s"
            t += step

    def _path(self, r: QRectF, curve: np.ndarray, *, whole: bool = False) -> QPainterPath:
        """The curve through the view (control frames), or ``whole``: already resampled to the view."""
        path = QPainterPath()
        n = curve.shape[0]
        if whole:
            xs = r.left() + np.arange(n) / max(1, n - 1) * r.width()
        else:
            a, b = self._view  # only the visible frames, one past each edge
            lo, hi = max(0, int(np.floor(a)) - 1), min(n, int(np.ceil(b)) + 2)
            curve = curve[lo:hi]
            xs = self.x_of_frame(np.arange(lo, lo + curve.shape[0]))
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

    def _paint_fill(self, p: QPainter, r: QRectF, curve: np.ndarray, colour: str, alpha: int, *,
                    whole: bool = False) -> None:
        if not curve.size:
            return
        path = self._path(r, curve, whole=whole)
        end = path.currentPosition().x()
        path.lineTo(end, r.bottom())
        path.lineTo(path.elementAt(0).x, r.bottom())
        path.closeSubpath()
        c = QColor(colour)
        c.setAlpha(alpha)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(c)
        p.drawPath(path)
