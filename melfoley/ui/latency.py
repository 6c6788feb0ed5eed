"""Event-loop latency probe: how late a repeating QTimer fires on the UI thread.

A tick due every ``interval_ms`` that arrives late by x ms means the UI thread could not
answer for about x ms. Used by the latency test and ``bench/ui_latency.py``.
"""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QTimer


class LatencyProbe:
    def __init__(self, interval_ms: int = 20):
        self.interval_ms = interval_ms
        self.lateness: list[int] = []  # ms late, one entry per tick after the first
        self._clock = QElapsedTimer()
        self._last: int | None = None
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self._clock.elapsed()
        if self._last is not None:
            self.lateness.append(now - self._last - self.interval_ms)
        self._last = now

    def start(self) -> None:
        """Start (or restart) measuring from an empty record."""
        self.lateness.clear()
        self._last = None
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
