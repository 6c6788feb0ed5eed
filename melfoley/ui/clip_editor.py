"""Per-clip controls: sound event, takes, seed, engine (and its weights folder), levels and
placement, and the energy-curve editor with its tools.

``ClipEditor.load(title, settings, ...)`` shows one clip; every change the artist makes
is reported as ``settings_changed(dict)`` with only the changed keys (``prompt``, ``takes``,
``seed``, ``engine``, ``energy``, ``gain_db``, ``fade_in``, ``fade_out``, ``nudge``), which the
panel applies to every selected clip (the curve to the clip shown). Loading never emits.
``weights_requested`` asks the panel for the engine's weights folder chooser. The rows are
flow layouts: docked narrow, they wrap.
"""

from __future__ import annotations

import random

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDoubleSpinBox, QLabel, QPushButton, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from . import curve_ops
from .curve_editor import CurveEditor
from .flow import FlowLayout, fixed_lines, keep_place, pair
from .levels_box import LevelsBox
from .prompt import PromptEdit


class ClipEditor(QWidget):
    settings_changed = Signal(dict)
    weights_requested = Signal()

    def __init__(self, engines: list[str], default_engine: str, parent=None):
        super().__init__(parent)
        self._loading = False
        self._default_engine = default_engine
        self.title = QLabel("No clip selected")
        self.title.setStyleSheet("font-size: 12pt; font-weight: bold;")
        self.subtitle = QLabel("")
        self.subtitle.setObjectName("hint")
        fixed_lines(self.subtitle)
        self.prompt = PromptEdit()
        self.prompt.editingFinished.connect(lambda: self._emit(prompt=self.prompt.text().strip()))
        self.takes = QSpinBox()
        self.takes.setRange(1, 16)
        self.takes.setToolTip("How many variants to render (seeds seed, seed+1, ...)")
        self.takes.valueChanged.connect(lambda v: self._emit(takes=int(v)))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.valueChanged.connect(lambda v: self._emit(seed=int(v)))
        dice = QToolButton()
        dice.setText("New seed")
        dice.clicked.connect(lambda: self.seed.setValue(random.randrange(0, 2**31 - 1)))
        self.engine = QComboBox()
        self.engine.addItems(engines)
        self.engine.setToolTip("Every registered engine (melfoley.core.engine.available_engines())")
        self.engine.currentTextChanged.connect(lambda name: self._emit(engine=name))
        self.weights_button = QToolButton()
        self.weights_button.setText("Weights folder\u2026")
        self.weights_button.setToolTip("Choose the folder with this engine's weights (the paper engine needs one)")
        self.weights_button.clicked.connect(self.weights_requested)
        self.prompt.setMinimumWidth(200)
        self.prompt.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        form = FlowLayout(spacing=6)
        for w in (pair("Sound event", self.prompt), pair("Takes", self.takes), pair("Seed", self.seed), dice,
                  pair("Engine", self.engine), self.weights_button):
            form.addWidget(w)
        self.multi = QLabel("")
        self.multi.setObjectName("warning")
        keep_place(self.multi).hide()
        self.levels = LevelsBox()
        self.levels.changed.connect(lambda ch: self._emit(**ch))

        self.curve = CurveEditor()
        self.curve.edited.connect(lambda e: self._emit(energy=self._energy_setting(e)))
        tools = FlowLayout(spacing=4)
        self.tool_group = QButtonGroup(self)
        for name, tip in (("draw", "Pen: drag to draw the energy curve"),
                          ("drag", "Drag: grab the curve and move it; neighbours follow"),
                          ("select", "Select a time range (right-drag selects with any tool)")):
            b = QToolButton()
            b.setText(name.capitalize())
            b.setCheckable(True)
            b.setToolTip(tip)
            b.setChecked(name == "draw")
            b.clicked.connect(lambda _=False, n=name: self.curve.set_tool(n))
            self.tool_group.addButton(b)
            tools.addWidget(b)
        self.smooth_button = QPushButton("Smooth")
        self.smooth_button.setToolTip("Smooth the selection (or the whole curve)")
        self.smooth_button.clicked.connect(lambda: self.curve.smooth())
        self.scale_factor = QDoubleSpinBox()
        self.scale_factor.setRange(0.1, 4.0)
        self.scale_factor.setSingleStep(0.05)
        self.scale_factor.setValue(1.25)
        self.scale_factor.setPrefix("\u00d7")
        self.scale_button = QPushButton("Scale")
        self.scale_button.setToolTip("Multiply the selection (or the whole curve) by the factor; the wheel does 5 %")
        self.scale_button.clicked.connect(lambda: self.curve.scale_selection(self.scale_factor.value()))
        self.reset_button = QPushButton("Reset to predicted")
        self.reset_button.clicked.connect(self.curve.reset)
        for w in (self.smooth_button, self.scale_factor, self.scale_button, self.reset_button):
            tools.addWidget(w)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addLayout(form)
        lay.addWidget(self.multi)
        lay.addWidget(self.levels)
        lay.addLayout(tools)
        lay.addWidget(self.curve, 1)
        self.setEnabled(False)

    # ------------------------------------------------------------------ loading
    def load(self, title: str, subtitle: str, settings, *, default_prompt: str = "", rate: float = 25.0,
             selected: int = 1) -> None:
        """Show a clip's settings; a clip without its own event shows the edit's default greyed."""
        self._loading = True
        try:
            self.title.setText(title)
            self.subtitle.setText(subtitle)
            self.prompt.setText(settings.prompt)
            self.prompt.setPlaceholderText(f"default: {default_prompt}" if default_prompt
                                           else "sound event, e.g. footsteps on gravel")
            self.takes.setValue(int(settings.takes))
            self.seed.setValue(int(settings.seed))
            self.engine.setCurrentText(settings.engine or self._default_engine)
            self.levels.load(settings, rate)
            self.multi.setText(f"{selected} clips selected: what you change here applies to all of them "
                               "(the curve to this clip only)")
            self.multi.setVisible(selected > 1)
            self.setEnabled(True)
        finally:
            self._loading = False

    def show_curve(self, predicted, settings_energy, duration: float, motion=None) -> None:
        """The predicted curve (control grid) and the stored edit, resampled onto that grid."""
        predicted = np.asarray(predicted, dtype=np.float32)
        energy = predicted if settings_energy is None else curve_ops.resample(settings_energy, predicted.shape[0])
        self.curve.set_curve(energy, predicted, duration=duration)
        self.curve.set_motion(motion)

    def clear(self, message: str) -> None:
        self._loading = True
        self.title.setText("No clip selected" if not message else self.title.text())
        self.curve.clear(message)
        self._loading = False

    def _energy_setting(self, energy: np.ndarray):
        return None if not self.curve.is_edited() else energy

    def _emit(self, **changes) -> None:
        if not self._loading:
            self.settings_changed.emit(changes)
