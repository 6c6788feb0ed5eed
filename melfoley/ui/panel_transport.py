"""The panel's transport: J/K/L shuttle, frame steps, Home/End, the I/O loop range with pre-
and post-roll, scrubbing, and playback of one take or across the edit.

A mixin of :class:`melfoley.ui.panel.FoleyPanel`. Two modes: *clip* (the selected take plays;
positions are clip seconds) and *edit* (``Play edit``: the Foley lanes of the edit are mixed
over the range by :class:`melfoley.ui.edit_mix.EditMixer`, with each take's gain, fades and
nudge, and positions are seconds from the edit's start). Either way the playhead runs on the
timeline, on the curve and in the viewer, and the viewer shows frames decoded at the size it
shows them, paused or playing: the engine process decodes runs of frames ahead of the
playhead (``frames`` requests, one in flight, the latest wish wins; backwards when the
shuttle runs backwards), they are cached at that size (``FRAME_CACHE_MB``), and a resize
of the viewer decodes again at the new size. The preview frame shows only where a decode
has not landed yet (``Viewer.sharp`` says which).
"""

from __future__ import annotations

from bisect import bisect_left

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
FRAME_CHUNK = 12       # frames decoded per request while playing (half a second at 24/25 fps)
FRAME_AHEAD = 10       # frames ahead of the playhead kept decoded while playing (times the speed)
FRAME_CACHE_MB = 320   # decoded frames kept (at the size shown)
FRAME_SIZE_SLACK = 1.25  # a frame decoded up to this much larger is shown scaled down, not decoded again
SLOW = 0.5  # Shift+L / Shift+J: half speed forward / backward (again: a quarter)


class PanelTransport:
    def _init_transport(self) -> None:
        self.mixer = EditMixer()
        self.loop_in: float | None = None
        self.loop_out: float | None = None
        self._frames: dict[tuple, object] = {}  # (clip id, frame, size) -> frame, oldest first
        self._frame_bytes = 0
        self._frame_bad: set = set()  # frames the engine process could not decode
        self._frame_sizes: set = set()  # sizes frames were decoded at
        self._frame_busy = False
        self._frame_want: tuple | None = None     # (clip id, first, count, size)
        self._frame_flight: tuple | None = None   # the request the engine process is decoding
        self._resize_timer = QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(80)
        self._resize_timer.timeout.connect(self._viewer_resized)
        self.viewer.resized.connect(self._resize_timer.start)
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
        for seq, name in (("Shift+L", "slow_l"), ("Shift+J", "slow_j")):  # K+L / K+J of Pro Tools
            QShortcut(QKeySequence(seq), self, lambda k=name: self.transport_key(k), context=ctx)

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

    def seek_edit(self, t: float, *, scrub: bool = False) -> None:
        """Seek to ``t`` seconds of the edit; ``scrub`` (a click or drag on the timeline ruler)
        also plays a short grain of the Foley there when the transport is stopped."""
        if not self.session:
            return
        move = self.player.scrub if scrub else self.player.seek
        if self.edit_mode():
            if not self._in_buffer(t):
                self._load_edit(t)
            move(t)
        else:
            cid = self.clip_at(t)
            if cid and cid != self.current:
                self.clips.select_ids([cid])
            move(t - self._clip_start(self.current))
        self._on_position(self.player.position())

    def _curve_seek(self, seconds: float) -> None:
        """A click or drag on the curve's time ruler scrubs the clip."""
        if self.edit_mode():
            self.seek_edit(self._clip_start(self.current) + seconds, scrub=True)
        else:
            self.player.scrub(seconds)

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
            if self.edit_mode() and not p.duration():
                self._load_edit(0.0)
            rate = p.shuttle_rate()
            nxt = -next((r for r in SHUTTLE if r > -rate), SHUTTLE[-1]) if rate < 0 else -1.0
            p.shuttle(nxt)
        elif key in ("slow_l", "slow_j"):
            sign = 1.0 if key == "slow_l" else -1.0
            rate = p.shuttle_rate() * sign
            p.shuttle(sign * (SLOW / 2 if rate == SLOW else SLOW))
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
        """The viewer at ``clip_t``: the frame decoded at the size shown when there is one, else the
        preview frame; and the decode of what is missing (at once when paused, ahead when playing)."""
        cid = cid or self.current
        if not self.session or cid is None or self.session.state(cid).problem:
            return
        self._viewer_cid = cid
        size = self.viewer.wanted_size()
        fno = frame_of(clip_t, self.session.state(cid).clip.rate)
        sharp = self._cached(cid, fno, size)
        if cid == self.current or sharp is not None:
            self.transport.show_position(clip_t, sharp_frame=sharp)
        else:
            self.viewer.set_time(clip_t)
        self._want_frames(cid, fno, size)

    def _cached(self, cid: str, fno: int, size: int):
        """A decoded frame for ``size``: decoded at it, or a little larger (shown scaled down, never up)."""
        f = self._frames.get((cid, fno, size))
        if f is None:
            for s in sorted(self._frame_sizes):
                if size < s <= size * FRAME_SIZE_SLACK:
                    f = self._frames.get((cid, fno, s))
                    if f is not None:
                        break
        return f

    def _viewer_resized(self) -> None:
        """The viewer changed size: its frame is decoded again at the new size."""
        cid = getattr(self, "_viewer_cid", None)
        if self.session and cid in self.session.states:
            self.show_clip_position(self.viewer.seconds, cid)

    def _want_frames(self, cid: str, fno: int, size: int) -> None:
        """Ask for the frames the viewer will show next: the one at the playhead when paused (then
        runs after and before it, so L and J start sharp); while playing, a run ahead in the play
        direction (longer at higher speeds), and across the edit the next clip's first frames
        before the cut."""
        clip = self.session.state(cid).clip
        last = max(0, int(float(clip.duration) * float(clip.rate) + 1e-6) - 1)
        rate = self.player.shuttle_rate()
        back = rate < 0
        if (cid, fno, size) in self._frame_bad:
            return
        if not self.player.is_playing() and self._cached(cid, fno, size) is None:
            want = (cid, fno, 1, size)
        else:
            reach = FRAME_AHEAD * max(1, int(round(abs(rate) or 1)))
            runs = [back] if self.player.is_playing() else [False, True]  # paused: after it, then before it
            want = None
            for backwards in runs:
                look = (range(fno, max(-1, fno - reach), -1) if backwards
                        else range(fno, min(last + 1, fno + reach + 1)))
                missing = next((f for f in look if self._cached(cid, f, size) is None
                                and (cid, f, size) not in self._frame_bad), None)
                if missing is not None:
                    if backwards:
                        first = max(0, missing - FRAME_CHUNK + 1)
                        want = (cid, first, missing - first + 1, size)
                    else:
                        want = (cid, missing, min(FRAME_CHUNK, last - missing + 1), size)
                    break
            if want is None and self.player.is_playing() and self.edit_mode() and not back \
                    and fno + reach > last:
                want = self._next_clip_frames(cid, size)  # across the cut: the next clip's first frames
            if want is None:
                return
        fl = self._frame_flight
        if fl is not None and fl[0] == cid and fl[3] == size and fl[1] <= want[1] < fl[1] + fl[2]:
            return  # already being decoded
        self._frame_want = want
        if not self._frame_busy:
            self._next_frame()

    def _next_clip_frames(self, cid: str, size: int) -> tuple | None:
        """The first frames of the clip after ``cid`` on the edit (over a gap too), if not decoded."""
        end = float(self.session.state(cid).clip.record_offset + self.session.state(cid).clip.duration)
        for lane in self.timeline.data.lanes:
            if lane.kind == "picture" and cid in lane.ids:
                i = bisect_left(lane.starts, end - 1e-6)
                nxt = [c for c in lane.ids[i:i + 2] if c != cid]
                if not nxt or self.session.state(nxt[0]).problem:
                    return None
                c = self.session.state(nxt[0]).clip
                count = min(FRAME_CHUNK, max(1, int(float(c.duration) * float(c.rate) + 1e-6)))
                if all(self._cached(nxt[0], f, size) is not None or (nxt[0], f, size) in self._frame_bad
                       for f in range(count)):
                    return None
                return (nxt[0], 0, count, size)
        return None

    def _next_frame(self) -> None:
        if self._frame_want is None or not self.session or self._closed:
            self._frame_busy = False
            self._frame_flight = None
            return
        cid, first, count, size = want = self._frame_want
        self._frame_want = None
        self._frame_busy = True
        self._frame_flight = want
        job = host_job(shared_host("preview"), "frames",
                       {"doc": self._doc(), "clip_id": cid, "first": first, "count": count, "size": size}, "frame")
        job.signals.result.connect(lambda frames, w=want: self._frames_ready(w, frames))
        job.signals.failed.connect(lambda _msg, w=want: self._frames_failed(w))
        job.signals.finished.connect(lambda: QTimer.singleShot(0, self._frame_done))
        self.runner.start(job)

    def _frame_done(self) -> None:
        """A decode finished: the next wish, or what the playhead needs now (paused: the run after it)."""
        self._frame_flight = None
        cid = getattr(self, "_viewer_cid", None)
        if not self._closed and self._frame_want is None and self.session and cid in self.session.states \
                and not self.session.state(cid).problem:
            self._want_frames(cid, frame_of(self.viewer.seconds, self.session.state(cid).clip.rate),
                              self.viewer.wanted_size())
        self._next_frame()

    def _frames_failed(self, want) -> None:
        cid, first, count, size = want
        self._frame_bad.update((cid, first + k, size) for k in range(count))  # not asked for again

    def _frames_ready(self, want, frames) -> None:
        if self._closed:
            return
        cid, first, _count, size = want
        for k, frame in enumerate(frames):
            key = (cid, first + k, size)
            if key not in self._frames:
                self._frames[key] = frame
                self._frame_bytes += frame.nbytes
                self._frame_sizes.add(size)
        while self._frame_bytes > FRAME_CACHE_MB * 1e6 and len(self._frames) > len(frames):
            self._frame_bytes -= self._frames.pop(next(iter(self._frames))).nbytes
        if self.session and getattr(self, "_viewer_cid", None) == cid:
            shown = frame_of(self.viewer.seconds, self.session.state(cid).clip.rate)
            frame = self._cached(cid, shown, self.viewer.wanted_size())
            if frame is not None and first <= shown < first + len(frames):
                self.transport.show_position(self.viewer.seconds, sharp_frame=frame)
