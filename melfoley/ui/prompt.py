"""The sound-event prompt: free text, with completion from the event vocabulary.

The vocabulary ships as ``melfoley/resources/vocabulary.json``. Several shapes are read
(a list of strings; a list of objects with ``phrase``/``name``/``label`` and ``also`` phrasings; an object with
``events``/``labels``/``vocabulary`` holding either; an object keyed by label), so the file
can grow without breaking the panel. A missing or unreadable file leaves free text only.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QLineEdit

_KEYS = ("phrase", "name", "prompt", "event", "text", "label")  # the human phrase first


def _names(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, list):
        out: list[str] = []
        for item in obj:
            out.extend(_names(item))
        return out
    if isinstance(obj, dict):
        names = [obj[k] for k in _KEYS if isinstance(obj.get(k), str)]
        if names:
            for alias_key in ("also", "prompts", "aliases", "synonyms", "examples"):
                if isinstance(obj.get(alias_key), list):
                    names += [a for a in obj[alias_key] if isinstance(a, str)]
            return names
        for key in ("events", "labels", "vocabulary", "classes", "items"):
            if key in obj:
                return _names(obj[key])
        if obj and all(isinstance(k, str) for k in obj):
            return [k for k in obj if not k.startswith("_") and k not in ("format", "version", "licence", "license")]
    return []


def load_vocabulary(path: Path | None = None) -> list[str]:
    """Event names for completion: unique, in file order; [] when there is no vocabulary file."""
    try:
        if path is None:
            text = resources.files("melfoley.resources").joinpath("vocabulary.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        data = json.loads(text)
    except (OSError, ValueError, ModuleNotFoundError):
        return []
    seen: dict[str, None] = {}
    for name in _names(data):
        name = " ".join(name.replace("_", " ").split())
        if name:
            seen.setdefault(name, None)
    return list(seen)


class PromptEdit(QLineEdit):
    """A line edit that completes event names (substring, case-insensitive) and accepts any text."""

    def __init__(self, vocabulary: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.setPlaceholderText("sound event, e.g. footsteps on gravel")
        self.setClearButtonEnabled(True)
        self._model = QStringListModel(self)
        completer = QCompleter(self._model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        completer.setMaxVisibleItems(12)
        self.setCompleter(completer)
        self.set_vocabulary(load_vocabulary() if vocabulary is None else vocabulary)

    def set_vocabulary(self, names: list[str]) -> None:
        self._model.setStringList(list(names))
        self.setToolTip(f"{len(names)} known sound events; free text works too" if names
                        else "Free text (no event vocabulary installed)")

    def vocabulary(self) -> list[str]:
        return self._model.stringList()

    def completions(self, prefix: str) -> list[str]:
        """What the completer offers for ``prefix`` (for tests and scripting)."""
        c = self.completer()
        c.setCompletionPrefix(prefix)
        return [c.completionModel().index(i, 0).data() for i in range(c.completionCount())]
