"""The panel's transport: J/K/L shuttle, frame steps, Home/End, the I/O loop range with pre-
and post-roll, scrubbing, and playback of one take or across the edit.

A mixin of :class:`melfoley.ui.panel.FoleyPanel`. Two modes: *clip* (the selected take plays;
positions are clip seconds) and *edit* (``Play edit``: the Foley lanes of the edit are mixed
over the range by :class:`melfoley.ui.edit_mix.EditMixer`, with each take's gain, fades and
nudge, and positions are seconds from the edit's start). Either way the playhead runs on the
timeline, on the curve and in the viewer; when the playhead stops, the viewer's frame is
decoded at the size shown (``frame`` requests to the engine process, latest one wins).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut

from .edit_mix import EditMixer, LaneItem
from .engine_host import shared_host
from .export import placement_of
from .timecode import frame_of
from .timeline_view import playback_take
from .workers import host_job

EDIT_CHUNK_S = 120.0  # seconds of the edit mixed per load when playing across clips
SHUTTLE = (1.0, 2.0, 4.0, 8.0)


class PanelTransport:
    def _init_transport(self) -> None:
        self.mixer = EditMixer()
        self.loop_in: float | None = None
        self.loop_out: float | None = None
        self._frames: dict[tuple, object] = {}
        self._frame_busy = False
        self._frame_want: tuple | None = None
        self._shown_frame: tuple | None = None
        t = self.transport
        t.requested.connect(self.transport_key)
        t.edit_box.toggled.connect(self._mode_changed)
        t.loop_box.toggled.connect(lambda _on: self._apply_range())
        t.preroll.valueChanged.connect(lambda _v: self._apply_range())
        t.postroll.valueChanged.connect(lambda _v: self._apply_range())
        self.player.position_changed.connect(self._on_position)
        self.player.state_changed.connect(self._play_state)
        self.editor.curve.seek_requested.connect(self._curve_seek)
        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        keys = {Qt.Key.Key_Space: self.toggle_play, Qt.Key.Key_J: lambda: self.transport_key("j"),
                Qt.Key.Key_K: lambda: self.transport_key("k"), Qt.Key.Key_L: lambda: self.transport_key("l"),
                Qt.Key.Key_Left: lambda: self.transport_key("back"), Qt.Key.Key_Right: lambda: self.transport_key("fwd"),
                Qt.Key.Key_Home: lambda: self.transport_key("home"), Qt.Key.Key_End: lambda: self.transport_key("end"),
                Qt.Key.Key_I: lambda: self.transport_key("in"), Qt.Key.Key_O: lambda: self.transport_key("out"),
                Qt.Key.Key_B: self.takes.toggle_ab}
        for key, slot in keys.items():
            QShortcut(QKeySequence(key), self, slot, context=ctx)

    def _play_state(self, playing: bool) -> None:
        if not playing:  # stopped: the meter falls, the frame at the playhead is decoded sharp
            self.editor.levels.meter.reset()
            self._on_position(self.player.position())

    # ------------------------------------------------------------------ modes and time
    def edit_mode(self) -> bool:
        return self.transport.edit_box.isChecked()

    def _clip_start(self, cid: str | None) -> float:
        return float(self.session.state(cid).clip.record_offset) if self.session and cid else 0.0

    def _fps(self) -> float:
        return float(self.session.source.rate) if self.session else 25.0

    def _mode_changed(self, edit: bool) -> None:
        at = self.player.position()
        self.player.stop()
        self.loop_in = self.loop_out = None
        self.transport.range_label.setText("")
        if edit:
            self._load_edit(self._clip_start(self.current) + at)
        else:
            self._on_take(self.takes.current())

    def _load_edit(self, start: float) -> None:
        """Mix the Foley lanes from ``start`` (or the loop range with its rolls) into the player."""
        if not self.session:
            return
        a, b = start, start + EDIT_CHUNK_S
        if self.loop_in is not None and self.loop_out is not None:
            a = max(0.0, self.loop_in - self.transport.preroll.value())
            b = self.loop_out + self.transport.postroll.value()
        end = max(self.timeline.data.duration, 1e-3)
        a, b = max(0.0, min(a, end)), min(b, end)
        items = []
        for cid, st in self.session.states.items():
            take = self.takes.current_take() if cid == self.current else playback_take(self.session, cid)
            if take is None:
                continue
            items.append(LaneItem(cid, float(st.clip.record_offset), float(st.clip.duration), take,
                                  placement_of(st.settings)))
        self.player.load(self.mixer.mix(items, a, max(b, a + 1e-3)), self.mixer.rate, offset=a)
        self.player.seek(start)

    def _in_buffer(self, t: float) -> bool:
        return self.player.start() <= t <= self.player.start() + self.player.duration()

    def seek_edit(self, t: float) -> None:
        """Seek to ``t`` seconds of the edit (a click or drag on the timeline ruler scrubs)."""
        if not self.session:
            return
        if self.edit_mode():
            if not self._in_buffer(t):
                self._load_edit(t)
            self.player.seek(t)
            self._on_position(self.player.position())
        else:
            cid = self.clip_at(t)
            if cid and cid != self.current:
                self.clips.select_ids([cid])
            self.player.seek(t - self._clip_start(self.current))
            self._on_position(self.player.position())

    def _curve_seek(self, seconds: float) -> None:
        self.seek_edit(self._clip_start(self.current) + seconds) if self.edit_mode() else self.player.seek(seconds)

    def clip_at(self, t: float) -> str | None:
        """The picture clip under edit time ``t`` (the top picture track wins)."""
        for lane in self.timeline.data.lanes:
            if lane.kind == "picture":
                for i in lane.visible(t, t):
                    if lane.starts[i] <= t < lane.ends[i]:
                        return lane.ids[i]
        return None

    # ------------------------------------------------------------------ keys
    def toggle_play(self) -> None:
        if self.player.is_playing():
            self.player.stop()
        else:
            self.transport_key("l")

    def transport_key(self, key: str) -> None:
        p = self.player
        if not self.session:
            return
        if key == "k":
            p.stop()
        elif key == "l":
            if self.edit_mode() and not p.duration():
                self._load_edit(0.0)
            rate = p.shuttle_rate()
            nxt = next((r for r in SHUTTLE if r > rate), SHUTTLE[-1]) if rate > 0 else 1.0
            p.shuttle(nxt)
        elif key == "j":
            rate = p.shuttle_rate()
            nxt = -next((r for r in SHUTTLE if r > -rate), SHUTTLE[-1]) if rate < 0 else -1.0
            p.shuttle(nxt)
        elif key in ("back", "fwd"):
            p.step(-1 if key == "back" else 1, self._fps())
        elif key == "home":
            p.stop()
            self.seek_edit(0.0) if self.edit_mode() else p.seek(0.0)
        elif key == "end":
            p.stop()
            if self.edit_mode():
                self.seek_edit(max(0.0, self.timeline.data.duration - 1.0 / self._fps()))
            else:
                p.seek(p.start() + p.duration())
        elif key in ("in", "out"):
            t = p.position() + (0.0 if self.edit_mode() else self._clip_start(self.current))
            if key == "in":
                self.loop_in = t
            else:
                self.loop_out = t
            if self.loop_in is not None and self.loop_out is not None and self.loop_out < self.loop_in:
                self.loop_in, self.loop_out = self.loop_out, self.loop_in
            self._apply_range()

    def _apply_range(self) -> None:
        """The I/O range (edit seconds) with its pre- and post-roll, on the loaded buffer."""
        if self.loop_in is None or self.loop_out is None:
            self.transport.range_label.setText("" if self.loop_in is None else "loop in set; O sets the out point")
            self.player.set_range(None)
            return
        from .timecode import smpte

        gs = float(self.session.source.global_start.to_seconds()) if self.session else 0.0
        pre, post = self.transport.preroll.value(), self.transport.postroll.value()
        self.transport.range_label.setText(f"loop {smpte(gs + self.loop_in, self._fps())} \u2013 "
                                           f"{smpte(gs + self.loop_out, self._fps())}"
                                           + (f" (pre {pre:g} s, post {post:g} s)" if pre or post else ""))
        if self.edit_mode():
            self._load_edit(self.loop_in - pre)
            self.player.set_range(self.loop_in - pre, self.loop_out + post)
        else:
            off = self._clip_start(self.current)
            self.player.set_range(self.loop_in - pre - off, self.loop_out + post - off)

    # ------------------------------------------------------------------ following the playhead
    def _on_position(self, t: float) -> None:
        if not self.session:
            return
        if self.edit_mode():
            edit_t = t
            cid = self.clip_at(t) or self.current
        else:
            cid = self.current
            edit_t = self._clip_start(cid) + t
        self.timeline.set_playhead(edit_t)
        if self.player.is_playing():
            self.editor.levels.meter.set_level(self.player.level())
        if cid is None:
            return
        clip_t = edit_t - self._clip_start(cid)
        self.editor.curve.set_playhead(clip_t if cid == self.current else None)
        if cid != getattr(self, "_viewer_cid", None):  # the viewer reads the clip under the playhead
            c = self.session.state(cid).clip
            self.viewer.set_clip(float(c.record_in), float(c.duration), c.rate)
            if cid != self.current:
                self.viewer.show_frame(None, clip_t)
        self.show_clip_position(clip_t, cid)

    def show_clip_position(self, clip_t: float, cid: str | None = None) -> None:
        """The viewer at ``clip_t``: a decoded frame at the size shown when there is one, else the
        preview frame; and a request for the sharp frame (at once when paused)."""
        cid = cid or self.current
        if not self.session or cid is None or self.session.state(cid).problem:
            return
        self._viewer_cid = cid
        size = self.viewer.wanted_size()
        key = (cid, frame_of(clip_t, self.session.state(cid).clip.rate), size)
        sharp = self._frames.get(key)
        if cid == self.current:
            self.transport.show_position(clip_t, sharp_frame=sharp)
        elif sharp is not None:
            self.transport.show_position(clip_t, sharp_frame=sharp)
        else:
            self.viewer.set_time(clip_t)
        if sharp is None and not self.player.is_playing():  # sharp when paused; preview frames while playing
            self._frame_want = (key, clip_t)
            if not self._frame_busy:
                self._next_frame()

    def _next_frame(self) -> None:
        if self._frame_want is None or not self.session or self._closed:
            self._frame_busy = False
            return
        (cid, fno, size), clip_t = self._frame_want
        self._frame_want = None
        self._frame_busy = True
        job = host_job(shared_host("preview"), "frame",
                       {"doc": self._doc(), "clip_id": cid, "seconds": clip_t, "size": size}, "frame")
        key = (cid, fno, size)
        job.signals.result.connect(lambda frame, k=key, t=clip_t: self._frame_ready(k, t, frame))
        job.signals.finished.connect(lambda: QTimer.singleShot(0, self._next_frame))
        self.runner.start(job)

    def _frame_ready(self, key, clip_t: float, frame) -> None:
        if self._closed:
            return
        self._frames[key] = frame
        while len(self._frames) > 96:
            self._frames.pop(next(iter(self._frames)))
        cid = key[0]
        shown = self.viewer.seconds
        if (self.session and getattr(self, "_viewer_cid", None) == cid
                and frame_of(shown, self.session.state(cid).clip.rate) == key[1]):
            self.transport.show_position(clip_t, sharp_frame=frame)
