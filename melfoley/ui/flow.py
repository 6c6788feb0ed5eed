"""A layout that lays its widgets out in rows and wraps them when the panel is narrow (docked
at 480 px the button bars and tool rows reflow instead of forcing the dock wider)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QSizePolicy


class FlowLayout(QLayout):
    def __init__(self, parent=None, spacing: int = 6):
        super().__init__(parent)
        self._items = []
        self._height = 0  # the height of the last layout: what the parent must leave for the wrapped rows
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item):  # noqa: N802 - Qt API
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, i):  # noqa: N802 - Qt API
        return self._items[i] if 0 <= i < len(self._items) else None

    def takeAt(self, i):  # noqa: N802 - Qt API
        return self._items.pop(i) if 0 <= i < len(self._items) else None

    def expandingDirections(self):  # noqa: N802 - Qt API
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect):  # noqa: N802 - Qt API
        super().setGeometry(rect)
        h = self._place(rect, move=True)
        if h != self._height:  # rows wrapped or unwrapped: ask the parent layout for the room
            self._height = h
            self.invalidate()

    def sizeHint(self):  # noqa: N802 - Qt API
        return self.minimumSize()

    def minimumSize(self):  # noqa: N802 - Qt API
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        size = size + QSize(m.left() + m.right(), m.top() + m.bottom())
        return QSize(size.width(), max(size.height(), self._height))

    def _place(self, rect: QRect, *, move: bool) -> int:
        """Lay out rows (widgets vertically centred in their row); returns the height used."""
        m = self.contentsMargins()
        r = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        sp = self.spacing()
        rows, row, x = [], [], r.x()
        for item in (i for i in self._items if not (i.widget() and i.widget().isHidden())):
            w = min(item.sizeHint().width(), r.width())
            if row and x + w > r.right() + 1:
                rows.append(row)
                row, x = [], r.x()
            row.append((item, x, w))
            x += w + sp
        if row:
            rows.append(row)
        y = r.y()
        for row in rows:
            line = max(item.sizeHint().height() for item, _, _ in row)
            if move:
                spare = r.right() + 1 - (row[-1][1] + row[-1][2])
                grow = [i for i, (item, _, _) in enumerate(row) if item.widget() and
                        item.widget().sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Expanding]
                shift = 0
                for i, (item, x0, w) in enumerate(row):
                    extra = spare // len(grow) if grow and i in grow and spare > 0 else 0
                    h = item.sizeHint().height()
                    item.setGeometry(QRect(QPoint(x0 + shift, y + (line - h) // 2), QSize(w + extra, h)))
                    shift += extra
            y += line + sp
        return max(0, y - sp - rect.y()) + m.bottom()


def fixed_lines(label, lines: int = 2):
    """A word-wrapped label that always takes ``lines`` lines: changing its text never moves the
    layout (the full text stays in its tooltip)."""
    label.setWordWrap(True)
    label.setFixedHeight(lines * label.fontMetrics().lineSpacing() + 4)
    return label


def keep_place(widget):
    """Hidden, the widget still holds its place (no jump when it shows or hides)."""
    sp = widget.sizePolicy()
    sp.setRetainSizeWhenHidden(True)
    widget.setSizePolicy(sp)
    return widget


def pair(label: str, widget, parent=None):
    """A label and its field kept together on one line when a flow row wraps."""
    from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

    box = QWidget(parent)
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(4)
    lay.addWidget(QLabel(label))
    lay.addWidget(widget, 1)
    box.setSizePolicy(widget.sizePolicy().horizontalPolicy(), widget.sizePolicy().verticalPolicy())
    return box
