"""Undo and redo for every edit of the panel (prompt, settings, curve, keep, gain, fades, nudge,
notes, the edit's default sound event): one ``QUndoStack`` of commands that swap whole
``ClipSettings`` values, so undoing any edit restores exactly what was there before.

``SettingsEdit(apply, before, after, text)``: ``before`` / ``after`` map clip ids to
settings; ``apply(dict)`` is the panel's one way to put settings on clips (session, list,
timeline and editor follow). Pushing the command applies ``after``.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand


class SettingsEdit(QUndoCommand):
    def __init__(self, apply, before: dict, after: dict, text: str):
        super().__init__(text)
        self._apply, self.before, self.after = apply, dict(before), dict(after)

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


class ValueEdit(QUndoCommand):
    """An edit-wide value (the default sound event): ``setter(value)``."""

    def __init__(self, setter, before, after, text: str):
        super().__init__(text)
        self._set, self.before, self.after = setter, before, after

    def redo(self) -> None:
        self._set(self.after)

    def undo(self) -> None:
        self._set(self.before)
