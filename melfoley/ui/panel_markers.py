"""The panel's ``foley:`` markers: added, moved, retexted and deleted on the timeline, undoable.

A mixin of :class:`melfoley.ui.panel.FoleyPanel`. ``M`` adds a marker at the playhead (over
the I/O range when one is set), as does a double-click or the right-click menu on the marker
row; dragging moves a marker (its edges change its range), a double-click retexts it, Delete
removes it. Every change is one command on the panel's ``QUndoStack`` and lands in
:meth:`melfoley.ui.session.Session.set_markers`: the markers go on the edit's timeline, where
the plugin layer reads them, so the saved / exported edit gives ``melfoley batch`` the same
prompt ranges, and clips rendered under other markers go stale.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut

from .markers import DEFAULT_LEN_S, made
from .undo import ValueEdit


class PanelMarkers:
    def _init_markers(self) -> None:
        tv = self.timeline
        tv.marker_edit_requested.connect(lambda i: self.edit_marker(i))
        tv.marker_add_requested.connect(lambda t: self.add_marker(t))
        tv.marker_moved.connect(self.move_marker)
        tv.marker_delete_requested.connect(self.delete_marker)
        QShortcut(QKeySequence(Qt.Key.Key_M), self, self.add_marker_at_playhead,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def markers(self) -> tuple:
        return self.session.markers if self.session else ()

    def _ask_text(self, title: str, now: str = "") -> str | None:
        from PySide6.QtWidgets import QInputDialog

        text, ok = QInputDialog.getText(self, title, "Sound event of this range (foley: ...)", text=now)
        return text.strip() if ok and text.strip() else None

    def _push_markers(self, after, what: str) -> None:
        after = tuple(sorted(after))
        if self.session and after != self.session.markers:
            self.undo_stack.push(ValueEdit(self._put_markers, self.session.markers, after, what))

    def _put_markers(self, markers) -> None:
        """The undo stack's one way to change the markers: session, timeline and statuses follow."""
        self.session.set_markers(markers)
        self.timeline.set_markers(self.session.markers)
        for cid, st in self.session.states.items():
            self.clips.clip_model.set_status(cid, st.status, st.detail)
            self.timeline.set_status(cid, st.status)
        self._autosave.start()
        self._sync_buttons()

    def add_marker(self, start: float, end: float | None = None, text: str | None = None) -> None:
        """A new ``foley:`` marker over [start, end) (edit seconds; a second long without ``end``)."""
        if not self.session:
            return
        text = text if text is not None else self._ask_text("New foley: marker")
        if not text or not text.strip():
            return
        m = made(start, start + DEFAULT_LEN_S if end is None else end, text, self.session.source.rate)
        self._push_markers(self.session.markers + (m,), f"add marker '{m.text}'")
        self.timeline.selected_marker = self.session.markers.index(m) if m in self.session.markers else None

    def add_marker_at_playhead(self) -> None:
        if not self.session:
            return
        if self.loop_in is not None and self.loop_out is not None:
            self.add_marker(self.loop_in, self.loop_out)
        else:
            self.add_marker(self.timeline.playhead or 0.0)

    def move_marker(self, index: int, start: float, end: float) -> None:
        if self.session and 0 <= index < len(self.session.markers):
            ms = list(self.session.markers)
            ms[index] = made(start, end, ms[index].text, self.session.source.rate)
            self._push_markers(ms, "move marker")

    def edit_marker(self, index: int, text: str | None = None) -> None:
        """A marker's sound event (a dialog when ``text`` is None); empty text leaves it as it is."""
        if not self.session or not 0 <= index < len(self.session.markers):
            return
        ms = list(self.session.markers)
        text = text if text is not None else self._ask_text("foley: marker", ms[index].text)
        if text and text.strip():
            ms[index] = made(ms[index].start, ms[index].end, text, self.session.source.rate)
            self._push_markers(ms, "marker text")

    def delete_marker(self, index: int) -> None:
        if self.session and 0 <= index < len(self.session.markers):
            ms = list(self.session.markers)
            gone = ms.pop(index)
            self._push_markers(ms, f"delete marker '{gone.text}'")
            self.timeline.selected_marker = None
