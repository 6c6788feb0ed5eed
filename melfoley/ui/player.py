"""Audition: PyAudio playback with play / stop / loop, a playhead clock and a following frame.

``Player`` owns the stream. When PortAudio has no output device (a render node, a
container, a laptop with its audio server down) it says so once, in words, through
``device_message``, and plays *silently*: the playhead and the frame thumbnail still run
on a wall clock, so timing can be judged by eye and nothing else in the panel stops.
``Transport`` is the strip of controls (play/stop, loop, time, frame, device line).

Positions are seconds on the player's own time line: a loaded buffer may start at an
``offset`` (the edit mix of a range starts where the range does), so the panel seeks and
reads edit seconds directly. ``shuttle(rate)`` is J/K/L: every rate plays with sound, as
a tape shuttle does in Pro Tools or Resolve: reverse reads the audio backwards, 2x / 4x / 8x
and 0.5x resample it (pitch follows speed; above 1x a box filter of the step keeps it from
aliasing). ``scrub(seconds)`` plays one short grain at the playhead (backwards when the drag
goes back), for dragging on a ruler. ``render(n)`` is what the audio callback plays, and
what ``last_block`` keeps for the meter. ``set_range(a, b)`` limits playback to [a, b) (the
I/O loop range with its pre- and post-roll); ``step(frames, fps)`` moves by whole frames.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from . import theme

NO_DEVICE = ("No audio output device (check the sound card, the audio server or ALSA's default device): "
             "playing silently, the playhead and picture still run.")
FALLBACK_RATE = 48000
GRAIN_S, GRAIN_EDGE_S = 0.08, 0.006  # a scrub grain and its fades
SCRUB_IDLE_MS = 400  # the output closes this long after the last scrub


def output_device_status() -> tuple[bool, str]:
    """(True, device name) when PortAudio has a default output, else (False, the reason in words)."""
    try:
        import pyaudio
    except ImportError:
        return False, "PyAudio is not installed (pip install 'melfoley[ui]'); playback is silent."
    pa = pyaudio.PyAudio()
    try:
        info = pa.get_default_output_device_info()
        return True, str(info.get("name", "default"))
    except (IOError, OSError):
        return False, NO_DEVICE
    finally:
        pa.terminate()


class Player(QObject):
    position_changed = Signal(float)   # seconds into the loaded audio
    state_changed = Signal(bool)       # playing?
    device_message = Signal(str)       # shown once when audio cannot be heard

    def __init__(self, parent=None, *, tick_ms: int = 30):
        super().__init__(parent)
        self._audio = np.zeros(0, np.float32)
        self._cums: np.ndarray | None = None  # cumulative sum of the audio (the box filter above 1x)
        self._rate = 22050
        self._pos = 0.0                   # samples (fractional off 1x), advanced by the callback or the clock
        self._lock = threading.Lock()
        self._loop = False
        self._playing = False
        self._pa = None
        self._stream = None
        self._silent_t0: float | None = None
        self._silent_pos0 = 0.0
        self.device_ok: bool | None = None
        self.device_text = ""
        self._offset = 0.0
        self._rate_x = 1.0            # shuttle speed: negative is reverse
        self._range: tuple[int, int] | None = None
        self._grain: np.ndarray | None = None   # a scrub grain still to play
        self._scrub_at: float | None = None
        self.last_block = np.zeros(0, np.float32)  # what the output played last (the meter reads it)
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)
        self._scrub_idle = QTimer(self)
        self._scrub_idle.setSingleShot(True)
        self._scrub_idle.setInterval(SCRUB_IDLE_MS)
        self._scrub_idle.timeout.connect(self._end_scrub)

    # ------------------------------------------------------------------ state
    def load(self, audio, sample_rate: int, *, offset: float = 0.0, keep_position: bool = False) -> None:
        """Load a buffer starting at ``offset`` seconds; ``keep_position`` stays at the same time
        and keeps playing if it was (the A/B switch between takes)."""
        was, at, rate_x = self._playing, self.position(), self._rate_x
        self.stop()
        self._end_scrub()
        # clipped to full scale: a hot take must not wrap or distort the monitor path
        audio = np.ascontiguousarray(np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0))
        with self._lock:
            self._audio, self._cums = audio, None
            self._rate = int(sample_rate)
            self._offset = float(offset)
            self._range = None
            self._pos = 0.0
        if keep_position:
            self.seek(at)
            if was:
                self.shuttle(rate_x)
        else:
            self.position_changed.emit(self.position())

    def duration(self) -> float:
        return self._audio.shape[0] / float(self._rate) if self._rate else 0.0

    def start(self) -> float:
        return self._offset

    def position(self) -> float:
        return self._offset + self._pos / float(self._rate)

    def level(self, window_s: float = 0.05) -> float:
        """Peak of the audio just played (for the meter): the output's last block when a stream
        plays (any speed), else the buffer just behind the playhead."""
        if self._stream is not None and self.last_block.size:
            return float(np.abs(self.last_block).max())
        n = int(window_s * self._rate * max(1.0, abs(self._rate_x)))
        p = int(self._pos)
        a, b = (max(0, p - n), p) if self._rate_x > 0 else (p, p + n)
        seg = self._audio[a:b]
        return float(np.abs(seg).max()) if seg.size else 0.0

    def set_range(self, a: float | None, b: float | None = None) -> None:
        """Play only [a, b) seconds (None: the whole buffer)."""
        if a is None:
            self._range = None
            return
        n = self._audio.shape[0]
        lo = int(np.clip((a - self._offset) * self._rate, 0, max(0, n - 1)))
        hi = int(np.clip((b - self._offset) * self._rate, lo + 1, n)) if b is not None else n
        self._range = (lo, hi)

    def _bounds(self) -> tuple[int, int]:
        return self._range or (0, self._audio.shape[0])

    def shuttle(self, rate: float) -> None:
        """J/K/L: ``rate`` 0 stops; any other plays at that speed (negative: backwards), with sound."""
        self.stop()
        if rate == 0:
            return
        self._rate_x = float(rate)
        self.play()

    def shuttle_rate(self) -> float:
        return self._rate_x if self._playing else 0.0

    def step(self, frames: int, fps: float) -> None:
        self.stop()
        self.seek(self.position() + frames / float(fps))

    def is_playing(self) -> bool:
        return self._playing

    def set_loop(self, loop: bool) -> None:
        self._loop = bool(loop)

    def seek(self, seconds: float) -> None:
        with self._lock:
            self._pos = float(int(np.clip((seconds - self._offset) * self._rate, 0, max(0, self._audio.shape[0] - 1))))
            if self._silent_t0 is not None:  # playing on the clock: it restarts here
                self._silent_t0, self._silent_pos0 = time.monotonic(), self._pos
        self.position_changed.emit(self.position())

    # ------------------------------------------------------------------ scrubbing
    def scrub(self, seconds: float) -> None:
        """Move the playhead to ``seconds`` and, when not playing, play a short grain there (what a
        drag on the ruler sounds like): forward, or backwards when the drag moved back."""
        back = self._scrub_at is not None and seconds < self._scrub_at
        self._scrub_at = float(seconds)
        self.seek(seconds)
        if self._playing or not self._audio.size:
            return
        g = grain(self._audio, int(self._pos), self._rate, backwards=back)
        with self._lock:
            self._grain = g
        self._scrub_idle.start()
        if self._stream is None:
            self._open_stream()

    def _end_scrub(self) -> None:
        self._scrub_at = None
        with self._lock:
            self._grain = None
        if not self._playing:
            self._close_stream()

    # ------------------------------------------------------------------ transport
    def play(self) -> None:
        if self._playing or not self._audio.size:
            return
        self._scrub_idle.stop()
        with self._lock:
            self._grain = None
            self._scrub_at = None
            lo, hi = self._bounds()
            if self._rate_x > 0 and not lo <= self._pos < hi - 1:
                self._pos = float(lo)
            if self._rate_x < 0 and self._pos <= lo:
                self._pos = float(hi - 1)
        self._playing = True
        self._silent_t0 = None  # the audio callback moves the playhead, unless there is no output
        if self._stream is None and not self._open_stream():
            self._silent_t0, self._silent_pos0 = time.monotonic(), self._pos
        self._timer.start()
        self.state_changed.emit(True)

    def stop(self) -> None:
        if not self._playing:
            return
        self._playing = False
        self._timer.stop()
        self._close_stream()
        self._silent_t0 = None
        self._rate_x = 1.0
        self.state_changed.emit(False)
        self.position_changed.emit(self.position())

    def close(self) -> None:
        self.stop()
        self._end_scrub()
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None

    # ------------------------------------------------------------------ PortAudio
    def _open_stream(self) -> bool:
        if self.device_ok is None:
            self.device_ok, self.device_text = output_device_status()
            if not self.device_ok:
                self.device_message.emit(self.device_text)
        if not self.device_ok:
            return False
        import pyaudio

        if self._pa is None:
            self._pa = pyaudio.PyAudio()
        for rate in (self._rate, FALLBACK_RATE):
            try:
                if rate != self._rate:
                    from melfoley.core.audio import resample

                    with self._lock:
                        k = rate / self._rate
                        self._pos *= k
                        self._range = None if self._range is None else (int(self._range[0] * k),
                                                                        int(self._range[1] * k))
                        self._audio, self._rate, self._cums = resample(self._audio, self._rate, rate), rate, None
                self._stream = self._pa.open(format=pyaudio.paFloat32, channels=1, rate=rate, output=True,
                                             frames_per_buffer=512, stream_callback=self._callback)
                self._stream.start_stream()
                return True
            except (IOError, OSError, ValueError) as exc:
                self.device_text = f"Audio output failed at {rate} Hz ({exc}); playing silently."
        self.device_ok = False
        self.device_message.emit(self.device_text)
        return False

    def _close_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop_stream()
                self._stream.close()
            except (IOError, OSError):
                pass
            self._stream = None

    def _callback(self, _in, frame_count, _info, _status):
        import pyaudio

        out, done = self.render(frame_count)
        return out.tobytes(), (pyaudio.paComplete if done else pyaudio.paContinue)

    def render(self, frame_count: int) -> tuple[np.ndarray, bool]:
        """The next ``frame_count`` output samples at the shuttle speed (or the scrub grain), and
        whether playback reached its end; advances the playhead. The audio callback plays this."""
        with self._lock:
            if not self._playing:
                out = np.zeros(frame_count, np.float32)
                if self._grain is not None:
                    k = min(frame_count, self._grain.shape[0])
                    out[:k] = self._grain[:k]
                    self._grain = self._grain[k:] if self._grain.shape[0] > k else None
                self.last_block = out
                return out, False
            lo, n = self._bounds()
            if self._rate_x == 1.0:
                out, self._pos, done = _copy_forward(self._audio, int(self._pos), lo, n, frame_count, self._loop)
            else:
                if abs(self._rate_x) > 1.0 and self._cums is None:
                    self._cums = np.concatenate([[0.0], np.cumsum(self._audio, dtype=np.float64)])
                out, self._pos, done = _read_at_speed(self._audio, self._cums, self._pos, self._rate_x, lo, n,
                                                      frame_count, self._loop)
            self.last_block = out
        return out, done

    # ------------------------------------------------------------------ clock
    def _tick(self) -> None:
        lo, n = self._bounds()
        if self._silent_t0 is not None:
            with self._lock:
                pos = self._silent_pos0 + (time.monotonic() - self._silent_t0) * self._rate * self._rate_x
                if self._loop and n > lo and (pos >= n or pos < lo):
                    start = lo if self._rate_x > 0 else n - 1
                    self._silent_t0, self._silent_pos0, pos = time.monotonic(), float(start), float(start)
                self._pos = float(np.clip(pos, lo, n))
        self.position_changed.emit(self.position())
        if not self._loop and ((self._rate_x > 0 and self._pos >= n) or (self._rate_x < 0 and self._pos <= lo)):
            self.stop()


def grain(audio: np.ndarray, at: int, rate: int, *, backwards: bool = False, seconds: float = GRAIN_S) -> np.ndarray:
    """A scrub grain: ``seconds`` of ``audio`` from sample ``at`` (or ending there, reversed, when
    the drag goes back), with raised-cosine edges so grains never click."""
    n = max(2, int(seconds * rate))
    seg = audio[max(0, at - n):at][::-1] if backwards else audio[at:at + n]
    seg = np.array(seg, np.float32)
    if seg.size < 2:
        return np.zeros(0, np.float32)
    e = min(seg.size // 2, max(1, int(GRAIN_EDGE_S * rate)))
    ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(e) / e)).astype(np.float32)
    seg[:e] *= ramp
    seg[-e:] *= ramp[::-1]
    return seg


def _copy_forward(audio, pos: int, lo: int, n: int, count: int, loop: bool):
    """1x: straight copies (looping inside [lo, n) when asked)."""
    out = np.zeros(count, np.float32)
    got = 0
    while got < count and n > lo:
        take = min(count - got, n - pos)
        out[got:got + take] = audio[pos:pos + take]
        got, pos = got + take, pos + take
        if pos >= n:
            if not loop:
                break
            pos = lo
    pos = min(pos, n)
    return out, float(pos), pos >= n and not loop


def _read_at_speed(audio, cums, pos: float, speed: float, lo: int, n: int, count: int, loop: bool):
    """Off 1x: the audio read at ``speed`` samples per output sample (negative: backwards).
    Linear interpolation up to 1x; above it each output sample is the mean of the ``|speed|``
    samples it stands for (a box filter from the cumulative sum), so 4x aliases far less."""
    if n <= lo:
        return np.zeros(count, np.float32), float(lo), True
    idx = pos + speed * np.arange(count, dtype=np.float64)
    nxt = pos + speed * count
    span = float(n - lo)
    if loop:
        idx = lo + np.mod(idx - lo, span)
        nxt = lo + np.mod(nxt - lo, span)
        valid = np.ones(count, bool)
        done = False
    else:
        valid = (idx >= lo) & (idx <= n - 1)
        done = bool(nxt >= n - 1) if speed > 0 else bool(nxt <= lo)
        nxt = float(n) if done and speed > 0 else float(lo) if done else float(nxt)
    w = abs(speed)
    if w > 1.0:
        vals = (_lerp(cums, idx + 0.5 + w / 2.0) - _lerp(cums, idx + 0.5 - w / 2.0)) / w
    else:
        vals = _lerp(audio, idx)
    out = np.where(valid, vals, 0.0).astype(np.float32)
    return out, float(nxt), done


def _lerp(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a`` linearly interpolated at fractional indices ``x`` (clamped to its ends)."""
    x = np.clip(x, 0.0, a.shape[0] - 1.0)
    i = np.minimum(x.astype(np.int64), a.shape[0] - 2) if a.shape[0] > 1 else np.zeros(x.shape, np.int64)
    f = x - i
    return a[i] * (1.0 - f) + a[np.minimum(i + 1, a.shape[0] - 1)] * f


class Transport(QWidget):
    """The transport strip and the viewer: Home, frame back, J K L, frame forward, End, I/O loop
    range with pre- and post-roll, Loop, play across the edit, the SMPTE time, the device line.

    The buttons only ask (``requested(str)``: "home", "back", "j", "k", "l", "fwd", "end",
    "in", "out"); the panel decides what a frame and the edit's ends are. With ``follow``
    on (one clip auditioned) the viewer follows the player's position through the clip's
    preview frames; in edit playback the panel drives the viewer itself."""

    requested = Signal(str)

    def __init__(self, player: Player, parent=None):
        super().__init__(parent)
        from .flow import FlowLayout, fixed_lines
        from .viewer import Viewer

        self.player = player
        self.follow = True
        self._frames: np.ndarray | None = None
        self._times: np.ndarray | None = None
        self.viewer = Viewer()
        self.buttons: dict[str, QPushButton] = {}
        bar = FlowLayout(spacing=3)
        for key, text, tip in (("home", "|\u25c0\u25c0", "Start of the edit / clip (Home)"),
                               ("back", "\u25c0|", "One frame back (Left)"),
                               ("j", "J \u25c0\u25c0", "Play backwards; again for 2x, 4x, 8x; Shift+J half speed (J)"),
                               ("k", "K \u25a0", "Stop (K)"),
                               ("l", "L \u25b6", "Play; again for 2x, 4x, 8x; Shift+L half speed (L)"),
                               ("fwd", "|\u25b6", "One frame forward (Right)"),
                               ("end", "\u25b6\u25b6|", "End of the edit / clip (End)"),
                               ("in", "In", "Loop in at the playhead (I)"),
                               ("out", "Out", "Loop out at the playhead (O)")):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, k=key: self.requested.emit(k))
            self.buttons[key] = b
            bar.addWidget(b)
        fm = self.buttons["l"].fontMetrics()
        for key, longest in (("l", "L \u25b6 0.25x"), ("j", "J \u25c0\u25c0 0.25x")):
            # the speed shows on the button: its width must not change with it (no reflow, no jump)
            self.buttons[key].setMinimumWidth(fm.horizontalAdvance(longest) + 24)
        self.loop_box = QCheckBox("Loop")
        self.loop_box.toggled.connect(player.set_loop)
        self.edit_box = QCheckBox("Play edit")
        self.edit_box.setToolTip("Play across the clips of the edit (picture and Foley lanes together), "
                                 "not just the selected take")
        self.preroll = QDoubleSpinBox()
        self.postroll = QDoubleSpinBox()
        for w, name in ((self.preroll, "Pre"), (self.postroll, "Post")):
            w.setRange(0.0, 10.0)
            w.setSingleStep(0.5)
            w.setPrefix(f"{name} ")
            w.setSuffix(" s")
            w.setToolTip(f"{name}-roll around the I/O loop range")
        for w in (self.loop_box, self.edit_box, self.preroll, self.postroll):
            bar.addWidget(w)
        self.time_label = QLabel("0.000 s")
        self.time_label.setObjectName("timecode")
        self.time_label.hide()  # the viewer's bar shows the timecode; this one is for hosts that hide the viewer
        self.range_label = QLabel("")
        self.range_label.setObjectName("hint")
        self.device_label = QLabel("")
        self.device_label.setObjectName("warning")
        fixed_lines(self.device_label, 3)  # its place is kept: the first Play's message moves nothing
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.viewer, 1)
        lay.addLayout(bar)
        info = QHBoxLayout()
        info.addWidget(self.time_label)
        info.addWidget(self.range_label, 1)
        lay.addLayout(info)
        lay.addWidget(self.device_label)
        player.position_changed.connect(lambda t: self.follow and self.show_position(t))
        player.state_changed.connect(self._state)
        player.device_message.connect(self.device_label.setText)
        player.device_message.connect(self.device_label.setToolTip)

    def _state(self, playing: bool) -> None:
        r = self.player.shuttle_rate()
        self.buttons["l"].setText(f"L \u25b6 {r:g}x" if playing and r > 0 else "L \u25b6")
        self.buttons["j"].setText(f"J \u25c0\u25c0 {-r:g}x" if playing and r < 0 else "J \u25c0\u25c0")

    def set_frames(self, frames, times) -> None:
        """Preview frames [N, H, W, 3] uint8 and their times in clip seconds (or None to clear)."""
        self._frames = None if frames is None else np.ascontiguousarray(frames)
        self._times = None if times is None else np.asarray(times, dtype=np.float64)
        self.show_position(self.player.position() if self.follow else self.viewer.seconds)

    def frame_index(self, seconds: float) -> int | None:
        if self._frames is None or self._times is None or not len(self._times):
            return None
        return int(np.clip(np.searchsorted(self._times, seconds, side="right") - 1, 0, len(self._times) - 1))

    def show_position(self, seconds: float, *, sharp_frame=None) -> None:
        """Show the clip ``seconds`` in: the preview frame, or ``sharp_frame`` (decoded at the size shown)."""
        self.viewer.message = "no picture"
        self.time_label.setText(f"{self.viewer.timecode_at(seconds)}")
        if sharp_frame is not None:
            self.viewer.show_frame(sharp_frame, seconds, sharp=True)
            return
        i = self.frame_index(seconds)
        self.viewer.show_frame(None if i is None else self._frames[i], seconds)


def frame_pixmap(frame: np.ndarray, size: QSize) -> QPixmap:
    frame = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
    h, w = frame.shape[:2]
    img = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
