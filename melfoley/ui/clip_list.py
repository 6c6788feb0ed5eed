"""The timeline view: the edit's picture clips in order, with thumbnail, record timecode,
duration and status; one or many can be selected.

``ClipRow`` is the view's plain record; ``ClipListModel`` is the Qt table model (the
panel updates status and thumbnails by clip id); ``ClipListView`` is the table with
multi-selection that emits ``selection_changed(list[str])`` with the selected clip ids.
Clips that cannot be done (missing media, unsupported reference) show the reason in the
status column and in a tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from . import theme

STATUSES = ("not generated", "generating", "done", "failed", "stale", "missing media")
COLUMNS = ("", "#", "Clip", "Record in", "Duration", "Status")
THUMB = QSize(80, 45)


@dataclass
class ClipRow:
    clip_id: str
    number: int
    name: str
    track: str
    timecode: str
    duration: float
    status: str = "not generated"
    detail: str = ""              # why it failed / cannot be done, or notes (flags)
    problem: str | None = None    # set when the clip cannot be generated at all
    thumbnail: QPixmap | None = field(default=None, repr=False)

    @property
    def doable(self) -> bool:
        return self.problem is None


def format_duration(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 60 else f"{int(seconds // 60)}:{seconds % 60:05.2f}"


class ClipListModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[ClipRow] = []
        self._index: dict[str, int] = {}

    # ------------------------------------------------------------------ data
    def set_rows(self, rows: list[ClipRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self._index = {r.clip_id: i for i, r in enumerate(self.rows)}
        self.endResetModel()

    def row_of(self, clip_id: str) -> int:
        return self._index.get(clip_id, -1)

    def get(self, clip_id: str) -> ClipRow | None:
        i = self.row_of(clip_id)
        return self.rows[i] if i >= 0 else None

    def set_status(self, clip_id: str, status: str, detail: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown clip status {status!r}; one of {', '.join(STATUSES)}")
        i = self.row_of(clip_id)
        if i < 0:
            return
        row = self.rows[i]
        if row.problem and status != "missing media":
            return  # a clip that cannot be done keeps saying why
        row.status = status
        if detail is not None:
            row.detail = detail
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def set_thumbnail(self, clip_id: str, pixmap: QPixmap) -> None:
        i = self.row_of(clip_id)
        if i >= 0:
            self.rows[i].thumbnail = pixmap.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation)
            self.dataChanged.emit(self.index(i, 0), self.index(i, 0))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt API
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return ("", str(row.number), f"{row.name or '(unnamed)'}\n{row.track}  {row.clip_id}",
                    row.timecode, format_duration(row.duration), self._status_text(row))[col]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return row.thumbnail if row.thumbnail is not None else _placeholder(bool(row.problem))
        if role == Qt.ItemDataRole.ForegroundRole and col == 5:
            return QColor(theme.STATUS_COLOURS.get(row.status, theme.TEXT))
        if role == Qt.ItemDataRole.FontRole and col == 3:
            return theme.mono_font(10)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == Qt.ItemDataRole.UserRole:
            return row.clip_id
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (1, 3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _status_text(row: ClipRow) -> str:
        if row.problem:
            short = row.problem.split(";")[0]
            return f"cannot do: {short[:60]}{'...' if len(short) > 60 else ''}"
        if row.status == "failed" and row.detail:
            return f"failed: {row.detail.splitlines()[0][:60]}"
        return row.status

    @staticmethod
    def _tooltip(row: ClipRow) -> str:
        lines = [f"{row.name or '(unnamed)'} [{row.clip_id}]", f"record in {row.timecode}, "
                 f"{format_duration(row.duration)}", f"status: {row.status}"]
        if row.problem:
            lines.append(f"cannot be done: {row.problem}")
        elif row.detail:
            lines.append(row.detail)
        return "\n".join(lines)


_PLACEHOLDERS: dict[bool, QPixmap] = {}


def _placeholder(missing: bool) -> QPixmap:
    """A dark frame saying "no media" (or nothing yet, while thumbnails decode)."""
    if missing not in _PLACEHOLDERS:
        from PySide6.QtGui import QPainter

        pm = QPixmap(THUMB)
        pm.fill(QColor(theme.BASE))
        p = QPainter(pm)
        p.setPen(QColor(theme.STATUS_COLOURS["failed"] if missing else theme.BORDER))
        p.drawRect(0, 0, THUMB.width() - 1, THUMB.height() - 1)
        if missing:
            p.drawText(pm.rect(), int(Qt.AlignmentFlag.AlignCenter), "no media")
        p.end()
        _PLACEHOLDERS[missing] = pm
    return _PLACEHOLDERS[missing]


class ClipListView(QTableView):
    selection_changed = Signal(list)  # clip ids, in timeline order

    def __init__(self, parent=None):
        super().__init__(parent)
        self.clip_model = ClipListModel(self)
        self.setModel(self.clip_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setIconSize(THUMB)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(THUMB.height() + 8)
        head = self.horizontalHeader()
        head.setStretchLastSection(True)
        head.setStretchLastSection(False)
        for col, width in enumerate((THUMB.width() + 10, 30, 150, 100, 76, 150)):
            self.setColumnWidth(col, width)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        head.setMinimumSectionSize(30)
        self.selectionModel().selectionChanged.connect(lambda *_: self.selection_changed.emit(self.selected_ids()))

    def set_rows(self, rows: list[ClipRow]) -> None:
        self.clip_model.set_rows(rows)

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self.clip_model.rows[r].clip_id for r in rows]

    def select_ids(self, clip_ids: list[str]) -> None:
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        sel = QItemSelection()
        for cid in clip_ids:
            r = self.clip_model.row_of(cid)
            if r >= 0:
                sel.select(self.clip_model.index(r, 0), self.clip_model.index(r, len(COLUMNS) - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.selectionModel().select(sel, flags)
        if clip_ids and self.clip_model.row_of(clip_ids[0]) >= 0:
            self.setCurrentIndex(self.clip_model.index(self.clip_model.row_of(clip_ids[0]), 0))
            self.selectionModel().select(sel, flags)
