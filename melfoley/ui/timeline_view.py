"""The time-based view of the whole edit: picture tracks with thumbnails at their record
positions (gaps are gaps), the edit's own audio tracks, ``foley:`` markers, and one Foley
lane per picture track with each clip's take drawn at its true level (full scale = the
lane's half height: a -30 dBFS take looks quiet, a clipped one fills the lane).

``TimelineData.from_session(session)`` flattens the edit once into sorted arrays, so a
repaint only visits what is on screen (a binary search per lane). ``TimelineView`` paints
into a cached layer (the playhead is drawn over it, so playback costs a line) and emits:
``selection_changed(list[str])`` (click, Ctrl/Shift-click, rubber band), ``seek_requested
(float)`` (click or drag on the ruler: scrubbing, seconds from the edit's start). Zoom: the
mouse wheel (around the pointer), ``+`` / ``-``, ``F`` fits the edit, ``Z`` zooms to the
selection; Shift+wheel or the scroll bar moves along the edit.

The ``foley:`` markers have their own row under the ruler, where they are edited: drag a
marker to move it (its edges to change its range: ``marker_moved(index, start, end)`` on
release, whole frames), double-click it to retext it (``marker_edit_requested(index)``),
double-click the empty row to add one there (``marker_add_requested(seconds)``), Delete
removes the marker clicked (``marker_delete_requested(index)``); a right-click offers the
same. The panel puts every change through its undo stack.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QScrollBar, QSizePolicy, QWidget

from . import theme
from .layer import CachedLayer

GUTTER, RULER, MARKER_ROW, PIC_H, AUDIO_H, FOLEY_H, SCROLL_H = 64, 20, 14, 40, 18, 40, 14
ENV_BINS = 1024  # envelope points per take (enough for any zoom a 10 s clip is edited at)
OVERVIEW_PX = 4.0  # clips narrower than this on average: the lane is drawn per pixel column (numpy)


@dataclass
class Lane:
    kind: str                       # "picture", "audio", "foley"
    name: str
    starts: list = field(default_factory=list)   # seconds from the edit's start, ascending
    ends: list = field(default_factory=list)
    ids: list = field(default_factory=list)      # clip id (picture, foley) or clip name (audio)
    max_len: float = 0.0

    def add(self, start: float, end: float, ident: str) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.ids.append(ident)
        self.max_len = max(self.max_len, end - start)

    def sort(self) -> None:
        order = sorted(range(len(self.starts)), key=self.starts.__getitem__)
        self.starts = [self.starts[i] for i in order]
        self.ends = [self.ends[i] for i in order]
        self.ids = [self.ids[i] for i in order]
        self.a = np.asarray(self.starts, np.float64)
        self.b = np.asarray(self.ends, np.float64)

    def visible(self, t0: float, t1: float) -> range:
        """Indices of the items that overlap [t0, t1]."""
        return range(bisect_left(self.starts, t0 - self.max_len), bisect_right(self.starts, t1))


@dataclass
class TimelineData:
    lanes: list[Lane] = field(default_factory=list)
    duration: float = 0.0
    markers: list[tuple[float, float, str, int]] = field(default_factory=list)  # start, end, text, index
    rate: float = 25.0  # the edit's frame rate (markers move by whole frames)
    envelopes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # cid -> (lo, hi)
    status: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)  # cid -> peak of its take (the overview's level)

    @classmethod
    def from_session(cls, session) -> "TimelineData":
        import opentimelineio as otio

        data = cls()
        data.rate = float(session.source.rate)
        data.set_markers(session.markers)
        tracks: dict[str, Lane] = {}
        for cid, st in session.states.items():
            c = st.clip
            a = float(c.record_offset)
            b = a + float(c.duration)
            tracks.setdefault(c.track, Lane("picture", c.track)).add(a, b, cid)
            data.status[cid] = st.status
            data.names[cid] = c.name or cid
            data.duration = max(data.duration, b)
        pictures = list(tracks.values())
        audio = []
        for t in session.source.timeline.audio_tracks():
            if "melfoley" in t.metadata:
                continue  # melfoley's own tracks are shown as the Foley lanes
            lane, cursor = Lane("audio", t.name or "audio"), 0.0
            for item in t:
                d = float(item.duration().to_seconds())
                if isinstance(item, otio.schema.Clip):
                    lane.add(cursor, cursor + d, item.name or "audio")
                if not isinstance(item, otio.schema.Transition):
                    cursor += d
            data.duration = max(data.duration, cursor)
            audio.append(lane)
        foley = []
        for pic in pictures:
            lane = Lane("foley", f"FOLEY {pic.name}")
            for a, b, cid in zip(pic.starts, pic.ends, pic.ids):
                lane.add(a, b, cid)
            foley.append(lane)
        data.lanes = pictures + audio + foley
        for lane in data.lanes:
            lane.sort()
        for cid in session.states:
            data.set_take(cid, playback_take(session, cid), session.state(cid).settings)
        return data

    def set_markers(self, markers) -> None:
        """The edit's prompt markers (melfoley.ui.markers.Marker), in order."""
        self.markers = [(float(a), float(b), str(t), i) for i, (a, b, t) in enumerate(markers)]

    def set_take(self, cid: str, take, settings=None) -> None:
        """The clip's take envelope at true level (with its gain, fades and nudge), or none."""
        if take is None:
            self.envelopes.pop(cid, None)
            self.peaks.pop(cid, None)
            return
        from melfoley.core.levels import place_take

        from .curve_ops import envelope
        from .export import placement_of

        audio = np.asarray(take.audio, np.float32).reshape(-1)
        if settings is not None:
            audio = place_take(audio, take.sample_rate, **placement_of(settings))
        bins = int(min(ENV_BINS, max(2, audio.shape[0] // 16)))
        self.envelopes[cid] = envelope(audio, bins) if audio.size else (np.zeros(2), np.zeros(2))
        self.peaks[cid] = float(np.clip(max(self.envelopes[cid][1].max(), -self.envelopes[cid][0].min()), 0, 1))


def playback_take(session, cid: str):
    """The take a clip plays and exports with: the kept one, else take 1 (None before generating)."""
    st = session.state(cid)
    if not st.takes:
        return None
    k = st.settings.kept if st.settings.kept is not None else 0
    return st.takes[min(k, len(st.takes) - 1)]


class TimelineView(QWidget):
    selection_changed = Signal(list)
    seek_requested = Signal(float)
    marker_edit_requested = Signal(int)
    marker_add_requested = Signal(float)
    marker_moved = Signal(int, float, float)
    marker_delete_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(RULER + MARKER_ROW + PIC_H + FOLEY_H + SCROLL_H + 4)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.data = TimelineData()
        self.t0 = 0.0                 # seconds at the left edge of the lanes
        self.px_per_s = 40.0
        self.playhead: float | None = None
        self.selected: list[str] = []
        self.thumbs: dict[str, QPixmap] = {}
        self._version = 0
        self._layer = CachedLayer()
        self._press: QPointF | None = None
        self._band: QRectF | None = None
        self._scrubbing = False
        self.selected_marker: int | None = None
        self._marker_drag: tuple[int, str, float] | None = None  # index, "move"/"start"/"end", grab time
        self._marker_live: tuple[int, float, float] | None = None  # the dragged marker where it is now
        self.scroll = QScrollBar(Qt.Orientation.Horizontal, self)
        self.scroll.valueChanged.connect(self._scrolled)

    # ------------------------------------------------------------------ data
    def set_data(self, data: TimelineData) -> None:
        self.data = data
        self.selected_marker = None
        self.selected = [c for c in self.selected if c in data.status]
        self.setMinimumHeight(min(210, self.sizeHint().height()))  # the lanes show, docked or not
        self.fit()

    def set_status(self, cid: str, status: str) -> None:
        if self.data.status.get(cid) != status:
            self.data.status[cid] = status
            self._dirty()

    def set_take(self, cid: str, take, settings=None) -> None:
        self.data.set_take(cid, take, settings)
        self._dirty()

    def set_thumbnail(self, cid: str, pixmap: QPixmap) -> None:
        self.thumbs[cid] = pixmap
        self._dirty()

    def set_markers(self, markers) -> None:
        self.data.set_markers(markers)
        if self.selected_marker is not None and self.selected_marker >= len(self.data.markers):
            self.selected_marker = None
        self._dirty()

    def set_selected(self, ids: list[str]) -> None:
        if list(ids) != self.selected:
            self.selected = list(ids)
            self._dirty()

    def set_playhead(self, seconds: float | None) -> None:
        self.playhead = seconds
        if seconds is not None and not self.t0 <= seconds <= self.t1():
            self.t0 = max(0.0, seconds - 0.1 * self.lanes_width() / self.px_per_s)
            self._sync_scroll()
            self._dirty()
        self.update()

    def _dirty(self) -> None:
        self._version += 1
        self.update()

    # ------------------------------------------------------------------ geometry and zoom
    def lanes_width(self) -> float:
        return max(1.0, self.width() - GUTTER)

    def t1(self) -> float:
        return self.t0 + self.lanes_width() / self.px_per_s

    def x_of(self, t: float) -> float:
        return GUTTER + (t - self.t0) * self.px_per_s

    def t_of(self, x: float) -> float:
        return self.t0 + (x - GUTTER) / self.px_per_s

    def lane_rects(self) -> list[tuple[Lane, QRectF]]:
        y, out = float(RULER + MARKER_ROW), []
        for lane in self.data.lanes:
            h = {"picture": PIC_H, "audio": AUDIO_H, "foley": FOLEY_H}[lane.kind]
            out.append((lane, QRectF(GUTTER, y, self.lanes_width(), h)))
            y += h + 2
        return out

    def sizeHint(self):  # noqa: N802 - Qt API
        from PySide6.QtCore import QSize

        h = RULER + MARKER_ROW + SCROLL_H + sum(
            {"picture": PIC_H, "audio": AUDIO_H, "foley": FOLEY_H}[lane.kind] + 2 for lane in self.data.lanes)
        return QSize(800, max(self.minimumHeight(), h + 4))

    def set_view(self, t0: float, px_per_s: float) -> None:
        self.px_per_s = float(np.clip(px_per_s, 1e-3, 4000.0))
        self.t0 = float(max(0.0, t0))
        self._sync_scroll()
        self._dirty()

    def fit(self) -> None:
        dur = max(self.data.duration, 1.0)
        self.set_view(0.0, self.lanes_width() / (dur * 1.02))

    def zoom(self, factor: float, around: float | None = None) -> None:
        t = self.t_of(around) if around is not None else (self.t0 + self.t1()) / 2
        ppx = float(np.clip(self.px_per_s * factor, 1e-3, 4000.0))
        frac = (t - self.t0) / max(1e-9, self.t1() - self.t0)
        self.set_view(t - frac * self.lanes_width() / ppx, ppx)

    def zoom_to_selection(self) -> None:
        spans = [(a, b) for lane in self.data.lanes if lane.kind == "picture"
                 for a, b, c in zip(lane.starts, lane.ends, lane.ids) if c in self.selected]
        if spans:
            a, b = min(s for s, _ in spans), max(e for _, e in spans)
            pad = 0.05 * (b - a)
            self.set_view(a - pad, self.lanes_width() / max(1e-3, b - a + 2 * pad))

    def _sync_scroll(self) -> None:
        self.scroll.blockSignals(True)
        span = max(1, int(self.lanes_width()))
        total = int(max(self.data.duration, self.t1()) * self.px_per_s)
        self.scroll.setRange(0, max(0, total - span))
        self.scroll.setPageStep(span)
        self.scroll.setValue(int(self.t0 * self.px_per_s))
        self.scroll.blockSignals(False)

    def _scrolled(self, value: int) -> None:
        self.t0 = value / self.px_per_s
        self._dirty()

    def resizeEvent(self, ev):  # noqa: N802 - Qt API
        self.scroll.setGeometry(GUTTER, self.height() - SCROLL_H, self.lanes_width(), SCROLL_H)
        self._sync_scroll()
        super().resizeEvent(ev)

    # ------------------------------------------------------------------ hit testing
    def clip_at(self, pos: QPointF) -> str | None:
        t = self.t_of(pos.x())
        for lane, r in self.lane_rects():
            if lane.kind != "audio" and r.top() <= pos.y() <= r.bottom():
                for i in lane.visible(t, t):
                    if lane.starts[i] <= t < lane.ends[i]:
                        return lane.ids[i]
        return None

    def in_marker_row(self, pos: QPointF) -> bool:
        return RULER <= pos.y() <= RULER + MARKER_ROW and pos.x() >= GUTTER

    def marker_at(self, pos: QPointF) -> int | None:
        """The index of the marker under ``pos`` (the last drawn wins), or None."""
        if not self.in_marker_row(pos):
            return None
        t, slack = self.t_of(pos.x()), 4 / self.px_per_s
        for a, b, _text, i in reversed(self.data.markers):
            if a - slack <= t <= max(b, a + slack):
                return i
        return None

    def marker_span(self, index: int) -> tuple[float, float]:
        """Where marker ``index`` is drawn (while dragged: where the drag has it)."""
        if self._marker_live is not None and self._marker_live[0] == index:
            return self._marker_live[1], self._marker_live[2]
        a, b, _t, _i = self.data.markers[index]
        return a, b

    def _snap(self, t: float) -> float:
        return max(0.0, round(t * self.data.rate) / self.data.rate)

    def clips_in(self, rect: QRectF) -> list[str]:
        a, b = sorted((self.t_of(rect.left()), self.t_of(rect.right())))
        out = []
        for lane, r in self.lane_rects():
            if lane.kind == "audio" or not r.intersects(rect):
                continue
            out += [lane.ids[i] for i in lane.visible(a, b) if lane.ends[i] > a and lane.starts[i] < b]
        return list(dict.fromkeys(out))

    # ------------------------------------------------------------------ mouse and keys
    def mousePressEvent(self, ev):  # noqa: N802 - Qt API
        pos = ev.position()
        self.setFocus()
        if pos.y() < RULER:
            self._scrubbing = True
            self.seek_requested.emit(max(0.0, self.t_of(pos.x())))
            return
        if self.marker_at(pos) is not None:
            self._press_marker(pos)
            return
        if self.selected_marker is not None:
            self.selected_marker = None
            self._dirty()
        cid = self.clip_at(pos)
        mods = ev.modifiers()
        if cid is not None:
            if mods & Qt.KeyboardModifier.ControlModifier:
                ids = [c for c in self.selected if c != cid] if cid in self.selected else self.selected + [cid]
            elif mods & Qt.KeyboardModifier.ShiftModifier and self.selected:
                ids = list(dict.fromkeys(self.selected + [cid]))
            else:
                ids = [cid]
            self._select(ids)
            return
        self._press, self._band = pos, QRectF(pos, pos)

    def mouseMoveEvent(self, ev):  # noqa: N802 - Qt API
        pos = ev.position()
        if self._scrubbing:
            self.seek_requested.emit(max(0.0, self.t_of(pos.x())))
        elif self._marker_drag is not None:
            self._drag_marker(pos)
        elif self._press is not None:
            self._band = QRectF(self._press, pos).normalized()
            self.update()

    def mouseReleaseEvent(self, ev):  # noqa: N802 - Qt API
        if self._marker_drag is not None:
            live, (i, _mode, _t) = self._marker_live, self._marker_drag
            self._marker_drag = self._marker_live = None
            a, b, _text, _i = self.data.markers[i]
            if live is not None and (abs(live[1] - a) > 1e-9 or abs(live[2] - b) > 1e-9):
                self.marker_moved.emit(i, live[1], live[2])
            self._dirty()
        if self._band is not None and self._band.width() > 3:
            self._select(self.clips_in(self._band))
        self._press = self._band = None
        self._scrubbing = False
        self.update()

    def mouseDoubleClickEvent(self, ev):  # noqa: N802 - Qt API
        self._marker_drag = self._marker_live = None
        hit = self.marker_at(ev.position())
        if hit is not None:
            self.marker_edit_requested.emit(hit)
        elif self.in_marker_row(ev.position()):
            self.marker_add_requested.emit(self._snap(self.t_of(ev.position().x())))

    # ------------------------------------------------------------------ markers
    def _press_marker(self, pos: QPointF) -> None:
        i = self.marker_at(pos)
        self.selected_marker = i
        if i is not None:
            a, b = self.marker_span(i)
            xa, xb = self.x_of(a), self.x_of(b)
            edge = 5 if xb - xa > 16 else 0
            mode = "start" if pos.x() <= xa + edge and edge else "end" if pos.x() >= xb - edge and edge else "move"
            self._marker_drag = (i, mode, self.t_of(pos.x()))
            self._marker_live = (i, a, b)
        self._dirty()

    def _drag_marker(self, pos: QPointF) -> None:
        i, mode, grab = self._marker_drag
        a, b, _t, _i = self.data.markers[i]
        frame = 1.0 / self.data.rate
        d = self.t_of(pos.x()) - grab
        if mode == "move":
            na = self._snap(max(0.0, a + d))
            live = (i, na, na + (b - a))
        elif mode == "start":
            live = (i, min(self._snap(a + d), b - frame), b)
        else:
            live = (i, a, max(self._snap(b + d), a + frame))
        if live != self._marker_live:
            self._marker_live = live
            self._dirty()

    def contextMenuEvent(self, ev):  # noqa: N802 - Qt API
        from PySide6.QtWidgets import QMenu

        pos = QPointF(ev.pos())
        if not self.in_marker_row(pos):
            return super().contextMenuEvent(ev)
        i = self.marker_at(pos)
        menu = QMenu(self)
        t = self._snap(self.t_of(pos.x()))
        menu.addAction("Add foley: marker here", lambda: self.marker_add_requested.emit(t))
        if i is not None:
            self.selected_marker = i
            self._dirty()
            menu.addAction("Edit marker text\u2026", lambda: self.marker_edit_requested.emit(i))
            menu.addAction("Delete marker", lambda: self.marker_delete_requested.emit(i))
        menu.popup(ev.globalPos())
        self._menu = menu  # kept for tests and so it is not collected while open

    def wheelEvent(self, ev):  # noqa: N802 - Qt API
        steps = ev.angleDelta().y() / 120.0
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.set_view(self.t0 - steps * 0.1 * self.lanes_width() / self.px_per_s, self.px_per_s)
        else:
            self.zoom(1.25 ** steps, ev.position().x())

    def keyPressEvent(self, ev):  # noqa: N802 - Qt API
        key = ev.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.5)
        elif key == Qt.Key.Key_Minus:
            self.zoom(1 / 1.5)
        elif key == Qt.Key.Key_F:
            self.fit()
        elif key == Qt.Key.Key_Z:
            self.zoom_to_selection()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected_marker is not None:
            self.marker_delete_requested.emit(self.selected_marker)
        else:
            super().keyPressEvent(ev)

    def _select(self, ids: list[str]) -> None:
        self.set_selected(ids)
        self.selection_changed.emit(list(ids))

    # ------------------------------------------------------------------ painting
    def paintEvent(self, _ev):  # noqa: N802 - Qt API
        layer = self._layer.get(self, (self._version, self.t0, self.px_per_s), self.paint_layer)
        p = QPainter(self)
        try:
            p.drawPixmap(0, 0, layer)
            if self.playhead is not None and self.t0 <= self.playhead <= self.t1():
                x = self.x_of(self.playhead)
                p.setPen(QPen(QColor(theme.PLAYHEAD), 2))
                p.drawLine(QPointF(x, 0), QPointF(x, self.height() - SCROLL_H))
            if self._band is not None:
                p.setPen(QPen(QColor(theme.ACCENT), 1, Qt.PenStyle.DashLine))
                p.setBrush(QColor(240, 160, 48, 30))
                p.drawRect(self._band)
        finally:
            p.end()

    def paint_layer(self, p: QPainter) -> None:
        """Everything but the playhead and the rubber band (what a zoom or an edit repaints)."""
        p.fillRect(self.rect(), QColor(theme.BASE))
        t0, t1 = self.t0, self.t1()
        self._paint_ruler(p, t0, t1)
        for lane, r in self.lane_rects():
            p.fillRect(QRectF(0, r.top(), GUTTER - 2, r.height()), QColor(theme.PANEL))
            p.setPen(QColor(theme.TEXT_DIM))
            p.drawText(QRectF(4, r.top(), GUTTER - 8, r.height()),
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), lane.name[:10])
            p.fillRect(r, QColor(theme.BG))
            idx = lane.visible(t0, t1)
            if lane.kind == "picture":
                self._paint_picture(p, lane, idx, r)
            elif lane.kind == "audio" and self._overview(lane, idx):
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(QColor(theme.MOTION))
                self._runs(p, *self._columns(lane, idx), r.top() + 1, r.height() - 2)
            elif lane.kind == "audio":
                self._paint_boxes(p, lane, idx, r, QColor(theme.MOTION), names=True)
            else:
                self._paint_foley(p, lane, idx, r)
        self._paint_markers(p, t0, t1)

    def _paint_ruler(self, p: QPainter, t0: float, t1: float) -> None:
        p.fillRect(QRectF(0, 0, self.width(), RULER), QColor(theme.PANEL))
        span = t1 - t0
        step = next((s for s in (0.04, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
                     if span / s <= max(2.0, self.lanes_width() / 90)), 7200)
        p.setPen(QColor(theme.TEXT_DIM))
        t = np.floor(t0 / step) * step
        lines = []
        while t <= t1:
            x = self.x_of(t)
            if x >= GUTTER:
                lines.append(QLineF(x, RULER - 6, x, RULER))
                p.drawText(QRectF(x + 2, 0, 80, RULER - 4), int(Qt.AlignmentFlag.AlignLeft), _clock(t))
            t += step
        p.drawLines(lines)

    def _boxes(self, lane: Lane, idx: range, r: QRectF) -> list[tuple[QRectF, str]]:
        out = []
        for i in idx:
            x0, x1 = max(GUTTER, self.x_of(lane.starts[i])), min(self.width(), self.x_of(lane.ends[i]))
            if x1 > x0:
                out.append((QRectF(x0, r.top() + 1, max(1.0, x1 - x0 - 1), r.height() - 2), lane.ids[i]))
        return out

    def _paint_boxes(self, p: QPainter, lane: Lane, idx: range, r: QRectF, colour: QColor, *, names: bool) -> None:
        boxes = self._boxes(lane, idx, r)
        c = QColor(colour)
        c.setAlpha(110)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(c)
        p.drawRects([b for b, _ in boxes])
        if names:
            p.setPen(QColor(theme.TEXT))
            for b, name in boxes:
                if b.width() > 40:
                    p.drawText(b.adjusted(3, 0, -2, 0), int(Qt.AlignmentFlag.AlignVCenter), name)

    def _columns(self, lane: Lane, idx: range) -> tuple[np.ndarray, np.ndarray]:
        """Pixel columns (first, last) of the visible items, for the per-column overview."""
        a = np.clip(((lane.a[idx.start:idx.stop] - self.t0) * self.px_per_s + GUTTER).astype(np.int64), GUTTER,
                    self.width() - 1)
        b = np.clip(((lane.b[idx.start:idx.stop] - self.t0) * self.px_per_s + GUTTER).astype(np.int64), GUTTER,
                    self.width() - 1)
        return a, np.maximum(a, b - 1)

    def _runs(self, p: QPainter, lo: np.ndarray, hi: np.ndarray, top: float, h: float) -> None:
        """Fill the column runs covered by [lo, hi] spans (a gap stays a gap at any zoom)."""
        cover = np.zeros(self.width() + 2, np.int64)
        np.add.at(cover, lo, 1)
        np.add.at(cover, hi + 1, -1)
        on = np.concatenate([[0], (np.cumsum(cover)[:-1] > 0).astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(on))
        p.drawRects([QRectF(float(x0), top, float(max(1, x1 - x0)), h) for x0, x1 in zip(edges[::2], edges[1::2])])

    def _overview(self, lane: Lane, idx: range) -> bool:
        return len(idx) > 0 and len(idx) * OVERVIEW_PX > self.lanes_width()

    def _paint_picture_overview(self, p: QPainter, lane: Lane, idx: range, r: QRectF) -> None:
        lo, hi = self._columns(lane, idx)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.RAISED))
        self._runs(p, lo, hi, r.top() + 1, r.height() - 2)
        status = np.array([self.data.status.get(c, "") for c in lane.ids[idx.start:idx.stop]])
        for name in set(status.tolist()):
            p.setBrush(QColor(theme.STATUS_COLOURS.get(name, theme.TEXT_DIM)))
            m = status == name
            self._runs(p, lo[m], hi[m], r.bottom() - 4, 3)
        sel = np.array([c in self.selected for c in lane.ids[idx.start:idx.stop]])
        if sel.any():
            p.setBrush(QColor(theme.ACCENT))
            self._runs(p, lo[sel], hi[sel], r.top() + 1, 3)

    def _paint_foley_overview(self, p: QPainter, lane: Lane, idx: range, r: QRectF) -> None:
        lo, hi = self._columns(lane, idx)
        peak = np.array([self.data.peaks.get(c, 0.0) for c in lane.ids[idx.start:idx.stop]])
        col = np.zeros(self.width(), np.float64)
        np.maximum.at(col, lo, peak)
        np.maximum.at(col, hi, peak)
        xs = np.flatnonzero(col > 0)
        mid, half = r.center().y(), r.height() / 2 - 2
        p.setPen(QPen(QColor(theme.WAVE), 1))
        p.drawLines([QLineF(x, mid - v * half, x, mid + max(0.5, v * half))
                     for x, v in zip(xs.tolist(), col[xs].tolist())])

    def _paint_picture(self, p: QPainter, lane: Lane, idx: range, r: QRectF) -> None:
        if self._overview(lane, idx):
            return self._paint_picture_overview(p, lane, idx, r)
        boxes = self._boxes(lane, idx, r)
        by_colour: dict[str, list] = {}
        for b, cid in boxes:
            by_colour.setdefault(theme.STATUS_COLOURS.get(self.data.status.get(cid, ""), theme.TEXT_DIM), []).append(b)
        p.setPen(QPen(QColor(theme.BORDER), 1))
        p.setBrush(QColor(theme.RAISED))
        p.drawRects([b for b, _ in boxes])
        p.setPen(Qt.PenStyle.NoPen)
        for colour, rects in by_colour.items():  # a status strip along the bottom of each clip
            p.setBrush(QColor(colour))
            p.drawRects([QRectF(b.left(), b.bottom() - 3, b.width(), 3) for b in rects])
        sel = [b for b, cid in boxes if cid in self.selected]
        if sel:
            p.setPen(QPen(QColor(theme.ACCENT), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRects(sel)
        if len(boxes) > 400:
            return  # zoomed far out: boxes only
        for b, cid in boxes:
            thumb = self.thumbs.get(cid)
            x = b.left() + 2
            if thumb is not None and b.width() > 30:
                h = b.height() - 6
                w = min(b.width() - 4, h * thumb.width() / max(1, thumb.height()))
                p.drawPixmap(QRectF(x, b.top() + 1, w, h), thumb, QRectF(thumb.rect()))
                x += w + 3
            if b.right() - x > 30:
                p.setPen(QColor(theme.TEXT))
                p.drawText(QRectF(x, b.top() + 2, b.right() - x - 2, b.height() - 6),
                           int(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft), self.data.names.get(cid, cid))

    def _paint_foley(self, p: QPainter, lane: Lane, idx: range, r: QRectF) -> None:
        mid, half = r.center().y(), r.height() / 2 - 2
        p.setPen(QPen(QColor(theme.BORDER), 1, Qt.PenStyle.DotLine))
        p.drawLine(QPointF(GUTTER, mid), QPointF(self.width(), mid))
        if self._overview(lane, idx):
            return self._paint_foley_overview(p, lane, idx, r)
        lines = []
        flat = []
        for i in idx:
            env = self.data.envelopes.get(lane.ids[i])
            if env is None:
                continue
            lo, hi = env
            x0, x1 = self.x_of(lane.starts[i]), self.x_of(lane.ends[i])
            a, b = max(GUTTER, x0), min(self.width(), x1)
            if b - a < 2:
                flat.append(QRectF(a, mid - max(1.0, float(hi.max()) * half), max(1.0, b - a),
                                   max(2.0, float(hi.max() - lo.min()) * half)))
                continue
            cols = np.arange(int(a), int(b), dtype=np.float64)
            k = np.clip(((cols - x0) / max(1e-9, x1 - x0) * lo.shape[0]).astype(np.int64), 0, lo.shape[0] - 1)
            top = mid - np.clip(hi[k], -1, 1) * half   # true level: full scale fills the half lane
            bot = mid - np.clip(lo[k], -1, 1) * half
            lines += [QLineF(x, y0, x, max(y0 + 1, y1)) for x, y0, y1 in zip(cols.tolist(), top.tolist(), bot.tolist())]
        p.setPen(QPen(QColor(theme.WAVE), 1))
        p.drawLines(lines)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.WAVE))
        p.drawRects(flat)

    def _paint_markers(self, p: QPainter, t0: float, t1: float) -> None:
        y = RULER
        p.fillRect(QRectF(GUTTER, y, self.lanes_width(), MARKER_ROW), QColor(theme.PANEL))
        spans = sorted((self.marker_span(i) + (text, i) for _a, _b, text, i in self.data.markers))
        fill, label_at = QColor(theme.ACCENT_DIM), -1e9
        for k, (a, b, text, i) in enumerate(spans):
            if b < t0 or a > t1:
                continue
            x0, x1 = self.x_of(a), max(self.x_of(b), self.x_of(a) + 6)
            box = QRectF(x0, y + 2, x1 - x0, MARKER_ROW - 4)
            p.fillRect(box, fill)
            if i == self.selected_marker:
                p.setPen(QPen(QColor(theme.ACCENT), 1))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(box.adjusted(0, -1, 0, 1))
            room = (self.x_of(spans[k + 1][0]) if k + 1 < len(spans) else self.width()) - x0
            if x0 >= label_at and (room >= 40 or i == self.selected_marker):  # zoomed out: no pile of labels
                p.setPen(QColor(theme.ACCENT))
                p.drawText(QRectF(x0 + 2, y, max(60.0, x1 - x0), MARKER_ROW), int(Qt.AlignmentFlag.AlignVCenter),
                           f"foley: {text}")
                label_at = x0 + min(room, p.fontMetrics().horizontalAdvance(f"foley: {text}") + 6)


def _clock(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:05.2f}" if h else f"{m}:{s:05.2f}"
