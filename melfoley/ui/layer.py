"""A widget's painting cached in a pixmap: redrawn only when its key changes, so a moving
playhead (drawn over it) costs one line per tick, not a repaint of curves or lanes."""

from __future__ import annotations

from PySide6.QtGui import QPainter, QPixmap


class CachedLayer:
    def __init__(self):
        self.pixmap: QPixmap | None = None
        self.key = None

    def get(self, widget, key, paint) -> QPixmap:
        """The layer for ``key`` (size and device ratio are added); ``paint(painter)`` draws it."""
        dpr = widget.devicePixelRatioF()
        key = (widget.width(), widget.height(), dpr, key)
        if self.key != key:
            self.pixmap = QPixmap(int(widget.width() * dpr), int(widget.height() * dpr))
            self.pixmap.setDevicePixelRatio(dpr)
            p = QPainter(self.pixmap)
            try:
                paint(p)
            finally:
                p.end()
            self.key = key
        return self.pixmap
