"""Audition: PyAudio playback with play / stop / loop, a playhead clock and a following frame.

``Player`` owns the stream. When PortAudio has no output device (a render node, a
container, a laptop with its audio server down) it says so once, in words, through
``device_message``, and plays *silently*: the playhead and the frame thumbnail still run
on a wall clock, so timing can be judged by eye and nothing else in the panel stops.
``Transport`` is the strip of controls (play/stop, loop, time, frame, device line).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from . import theme

NO_DEVICE = ("No audio output device: PortAudio found none (check the sound card, the audio server, "
             "or ALSA's default device). Playing silently: the playhead and picture still run.")
FALLBACK_RATE = 48000


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
        self._rate = 22050
        self._pos = 0                     # samples, advanced by the audio callback or the clock
        self._lock = threading.Lock()
        self._loop = False
        self._playing = False
        self._pa = None
        self._stream = None
        self._silent_t0: float | None = None
        self._silent_pos0 = 0
        self.device_ok: bool | None = None
        self.device_text = ""
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------------ state
    def load(self, audio, sample_rate: int) -> None:
        self.stop()
        # clipped to full scale: a hot take must not wrap or distort the monitor path
        self._audio = np.ascontiguousarray(np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0))
        self._rate = int(sample_rate)
        self._pos = 0
        self.position_changed.emit(0.0)

    def duration(self) -> float:
        return self._audio.shape[0] / float(self._rate) if self._rate else 0.0

    def position(self) -> float:
        return self._pos / float(self._rate)

    def is_playing(self) -> bool:
        return self._playing

    def set_loop(self, loop: bool) -> None:
        self._loop = bool(loop)

    def seek(self, seconds: float) -> None:
        with self._lock:
            self._pos = int(np.clip(seconds * self._rate, 0, max(0, self._audio.shape[0] - 1)))
            self._silent_t0, self._silent_pos0 = time.monotonic(), self._pos
        self.position_changed.emit(self.position())

    def toggle(self) -> None:
        self.stop() if self._playing else self.play()

    # ------------------------------------------------------------------ transport
    def play(self) -> None:
        if self._playing or not self._audio.size:
            return
        if self._pos >= self._audio.shape[0] - 1:
            self._pos = 0
        self._playing = True
        if not self._open_stream():
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
        self.state_changed.emit(False)
        self.position_changed.emit(self.position())

    def close(self) -> None:
        self.stop()
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
                        self._pos = int(self._pos * rate / self._rate)
                        self._audio, self._rate = resample(self._audio, self._rate, rate), rate
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

        with self._lock:
            n = self._audio.shape[0]
            out = np.zeros(frame_count, np.float32)
            got, pos = 0, self._pos
            while got < frame_count and n:
                take = min(frame_count - got, n - pos)
                out[got:got + take] = self._audio[pos:pos + take]
                got, pos = got + take, pos + take
                if pos >= n:
                    if not self._loop:
                        break
                    pos = 0
            self._pos = min(pos, n)
            done = self._pos >= n and not self._loop
        return out.tobytes(), (pyaudio.paComplete if done else pyaudio.paContinue)

    # ------------------------------------------------------------------ clock
    def _tick(self) -> None:
        n = self._audio.shape[0]
        if self._silent_t0 is not None:
            with self._lock:
                pos = self._silent_pos0 + int((time.monotonic() - self._silent_t0) * self._rate)
                if pos >= n and self._loop and n:
                    self._silent_t0, self._silent_pos0, pos = time.monotonic(), 0, 0
                self._pos = min(pos, n)
        self.position_changed.emit(self.position())
        if self._pos >= n and not self._loop:
            self._pos = n
            self.stop()


class Transport(QWidget):
    """Play/stop, loop, the time, a frame thumbnail at the playhead and the device line."""

    def __init__(self, player: Player, parent=None):
        super().__init__(parent)
        self.player = player
        self._frames: np.ndarray | None = None
        self._times: np.ndarray | None = None
        self.play_button = QPushButton("\u25b6  Play")
        self.play_button.setToolTip("Play / stop the selected take (space bar)")
        self.play_button.clicked.connect(player.toggle)
        self.loop_box = QCheckBox("Loop")
        self.loop_box.toggled.connect(player.set_loop)
        self.time_label = QLabel("0.000 s")
        self.time_label.setObjectName("timecode")
        self.time_label.setMinimumWidth(110)
        self.frame_label = QLabel()
        self.frame_label.setFixedSize(QSize(160, 90))
        self.frame_label.setStyleSheet(f"background: {theme.BASE}; border: 1px solid {theme.BORDER};")
        self.frame_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.device_label = QLabel("")
        self.device_label.setObjectName("warning")
        self.device_label.setWordWrap(True)
        controls = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.loop_box)
        row.addWidget(self.time_label)
        row.addStretch(1)
        controls.addLayout(row)
        controls.addWidget(self.device_label)
        controls.addStretch(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.frame_label)
        lay.addLayout(controls, 1)
        player.position_changed.connect(self.show_position)
        player.state_changed.connect(
            lambda playing: self.play_button.setText("\u25a0  Stop" if playing else "\u25b6  Play"))
        player.device_message.connect(self.device_label.setText)

    def set_frames(self, frames, times) -> None:
        """Thumbnails [N, H, W, 3] uint8 and their times in clip seconds (or None to clear)."""
        self._frames = None if frames is None else np.ascontiguousarray(frames)
        self._times = None if times is None else np.asarray(times, dtype=np.float64)
        self.show_position(self.player.position())

    def frame_index(self, seconds: float) -> int | None:
        if self._frames is None or self._times is None or not len(self._times):
            return None
        return int(np.clip(np.searchsorted(self._times, seconds, side="right") - 1, 0, len(self._times) - 1))

    def show_position(self, seconds: float) -> None:
        self.time_label.setText(f"{seconds:7.3f} s")
        i = self.frame_index(seconds)
        if i is None:
            self.frame_label.clear()
            self.frame_label.setText("no picture")
            return
        self.frame_label.setPixmap(frame_pixmap(self._frames[i], self.frame_label.size()))


def frame_pixmap(frame: np.ndarray, size: QSize) -> QPixmap:
    frame = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
    h, w = frame.shape[:2]
    img = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
